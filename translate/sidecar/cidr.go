package sidecar

import (
	"net/netip"
	"slices"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/networking"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// rangeChains holds, per port, the filter chains of ServiceEntry address
// ranges (CIDRs). virtualOutbound hands a connection to the listener of
// its exact destination address or, failing that, to 0.0.0.0_PORT, so a
// range can only be matched there: by a chain whose prefix_ranges hold
// it. Without that chain, traffic to a registered range would fall
// through to the outbound traffic policy, and REGISTRY_ONLY would drop it.
//
// TLS services without an address (a ServiceEntry for an external HTTPS
// API) meet on 0.0.0.0_PORT the same way, told apart by the SNI the
// client sends: their chains match server_names, and the listener reads
// the SNI with the TLS inspector.
type rangeChains struct {
	byPort map[uint32][]*listenerv3.FilterChain
	seen   map[string]bool
}

func newRangeChains() *rangeChains {
	return &rangeChains{byPort: map[uint32][]*listenerv3.FilterChain{}, seen: map[string]bool{}}
}

// addSNI registers the chains of a TLS service port without an address:
// the ones its tls rules give match their SNI hosts, the service's own
// matches its hostname as SNI (a wildcard host as a wildcard server
// name).
func (rc *rangeChains) addSNI(svc *model.Service, port uint32, l4 []networking.L4Chain) {
	rc.put(port, l4FilterChains(l4, nil, []string{svc.Hostname}))
}

// add registers a service port's chains for each of the service's
// ranges; a chain on destination subnets of its own keeps those.
func (rc *rangeChains) add(svc *model.Service, port uint32, l4 []networking.L4Chain) {
	for _, cidr := range svc.CIDRs {
		rc.put(port, l4FilterChains(l4, []string{cidr}, nil))
	}
}

// put adds chains to a port. Envoy rejects two chains with one match, so
// a match claimed on a port by an earlier service (services come sorted
// by hostname) stays its.
func (rc *rangeChains) put(port uint32, chains []*listenerv3.FilterChain) {
	for _, c := range chains {
		key := strconv.FormatUint(uint64(port), 10) + "|" + matchKey(c.GetFilterChainMatch())
		if rc.seen[key] {
			continue
		}
		rc.seen[key] = true
		rc.byPort[port] = append(rc.byPort[port], c)
	}
}

// l4FilterChains turns a service port's chains into filter chains. A
// chain that names no destination subnets takes ranges (nil: any
// address), one that names no SNI hosts takes serverNames (nil: any). A
// chain whose subnets are all unusable is left out rather than widened
// to every address (validation rejects such subnets).
func l4FilterChains(l4 []networking.L4Chain, ranges, serverNames []string) []*listenerv3.FilterChain {
	out := make([]*listenerv3.FilterChain, 0, len(l4))
	for _, c := range l4 {
		subnets, names := c.DestinationSubnets, c.ServerNames
		if len(subnets) == 0 {
			subnets = ranges
		}
		if len(names) == 0 {
			names = serverNames
		}
		fc := tcpProxyChain(c.Proxy)
		if len(subnets) > 0 || len(names) > 0 {
			fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: names, PrefixRanges: cidrRanges(subnets)}
			if len(subnets) > 0 && len(fc.FilterChainMatch.PrefixRanges) == 0 {
				continue
			}
		}
		out = append(out, fc)
	}
	return out
}

// cidrRanges parses addresses (a bare IP is a single-address range) and
// CIDRs, skipping what is neither.
func cidrRanges(subnets []string) []*corev3.CidrRange {
	var out []*corev3.CidrRange
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))})
	}
	return out
}

// matchKey identifies a filter chain match, for telling repeats apart.
func matchKey(m *listenerv3.FilterChainMatch) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic("sidecar: filter chain match not encodable: " + err.Error())
	}
	return string(b)
}

// addChains appends chains to a listener, leaving out any whose match an
// earlier chain has (Envoy would reject the listener), and reads the SNI
// when a chain matches on it.
func addChains(l *listenerv3.Listener, chains []*listenerv3.FilterChain) {
	seen := map[string]bool{}
	for _, c := range l.FilterChains {
		seen[matchKey(c.GetFilterChainMatch())] = true
	}
	for _, c := range chains {
		key := matchKey(c.GetFilterChainMatch())
		if seen[key] {
			continue
		}
		seen[key] = true
		l.FilterChains = append(l.FilterChains, c)
		if len(c.GetFilterChainMatch().GetServerNames()) > 0 {
			readSNI(l)
		}
	}
}

// readSNI gives a listener the TLS inspector, once.
func readSNI(l *listenerv3.Listener) {
	for _, f := range l.ListenerFilters {
		if f.GetName() == wellknown.TlsInspector {
			return
		}
	}
	l.ListenerFilters = append(l.ListenerFilters, &listenerv3.ListenerFilter{
		Name:       wellknown.TlsInspector,
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: resource.Any(&tlsinspectorv3.TlsInspector{})},
	})
}

// attach adds the chains to each port's wildcard listener. A listener
// created here for them gets a default chain that follows the outbound
// traffic policy, so other destinations on the port fare as they would
// without it; an existing one (HTTP or a TCP service without addresses)
// keeps its own chain as the catch-all.
func (rc *rangeChains) attach(byName map[string]*listenerv3.Listener, snap *model.Snapshot, v model.OutboundView) {
	ports := make([]uint32, 0, len(rc.byPort))
	for p := range rc.byPort {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	for _, port := range ports {
		name := wildcardIP + "_" + strconv.FormatUint(uint64(port), 10)
		l, ok := byName[name]
		if !ok {
			fallback := outboundFallbackCluster(snap, v)
			l = &listenerv3.Listener{
				Name:               name,
				Address:            eds.SocketAddress(wildcardIP, port),
				BindToPort:         wrapperspb.Bool(false),
				TrafficDirection:   corev3.TrafficDirection_OUTBOUND,
				DefaultFilterChain: tcpChain(fallback, fallback),
			}
			byName[name] = l
		}
		addChains(l, rc.byPort[port])
	}
}

// outboundFallbackCluster is where a proxy's traffic to no registered
// destination goes: out of the mesh (ALLOW_ANY), to an egress proxy, or
// nowhere (REGISTRY_ONLY). The proxy's Sidecar decides when it sets an
// outboundTrafficPolicy, else the mesh does; only a Sidecar can name an
// egress proxy, and only with ALLOW_ANY, as in Istio. Its host is read
// in the Sidecar's namespace like every other host; one without a port
// cannot name a cluster and is left out (Analyze reports both).
func outboundFallbackCluster(snap *model.Snapshot, v model.OutboundView) string {
	sc := snap.SidecarFor(v.Namespace, v.Labels)
	var policy *networkingv1alpha3.OutboundTrafficPolicy
	if sc != nil {
		policy = model.AsSidecar(sc).GetOutboundTrafficPolicy()
	}
	switch {
	case policy == nil:
		if snap.Mesh().GetOutboundTrafficPolicy().GetMode() == meshv1alpha1.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY {
			return resource.BlackHoleCluster
		}
	case policy.GetMode() == networkingv1alpha3.OutboundTrafficPolicy_REGISTRY_ONLY:
		return resource.BlackHoleCluster
	case policy.GetEgressProxy().GetPort().GetNumber() != 0:
		ep := policy.GetEgressProxy()
		return resource.OutboundClusterName(ep.GetPort().GetNumber(), ep.GetSubset(), snap.ResolveConfigHost(ep.GetHost(), sc.Namespace))
	}
	return resource.PassthroughCluster
}
