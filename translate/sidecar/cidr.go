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
	sni    map[uint32]bool // ports whose chains match on SNI
}

func newRangeChains() *rangeChains {
	return &rangeChains{byPort: map[uint32][]*listenerv3.FilterChain{}, seen: map[string]bool{}, sni: map[uint32]bool{}}
}

// addSNI registers a TLS service port's chain, matched by the service's
// hostname as SNI (a wildcard host matches as a wildcard server name).
func (rc *rangeChains) addSNI(svc *model.Service, port uint32, chain *listenerv3.FilterChain) {
	key := "sni:" + svc.Hostname + "_" + strconv.FormatUint(uint64(port), 10)
	if rc.seen[key] {
		return
	}
	rc.seen[key] = true
	c := proto.Clone(chain).(*listenerv3.FilterChain)
	c.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: []string{svc.Hostname}}
	rc.byPort[port] = append(rc.byPort[port], c)
	rc.sni[port] = true
}

// add registers a service port's chain for each of the service's ranges.
// Envoy rejects two chains with one match, so a range claimed on a port
// by an earlier service (services come sorted by hostname) stays its.
func (rc *rangeChains) add(svc *model.Service, port uint32, chain *listenerv3.FilterChain) {
	for _, cidr := range svc.CIDRs {
		p, err := netip.ParsePrefix(cidr)
		key := cidr + "_" + strconv.FormatUint(uint64(port), 10)
		if err != nil || rc.seen[key] {
			continue
		}
		rc.seen[key] = true
		c := proto.Clone(chain).(*listenerv3.FilterChain)
		c.FilterChainMatch = &listenerv3.FilterChainMatch{PrefixRanges: []*corev3.CidrRange{{
			AddressPrefix: p.Addr().String(),
			PrefixLen:     wrapperspb.UInt32(uint32(p.Bits())),
		}}}
		rc.byPort[port] = append(rc.byPort[port], c)
	}
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
		l.FilterChains = append(l.FilterChains, rc.byPort[port]...)
		if rc.sni[port] {
			l.ListenerFilters = append(l.ListenerFilters, &listenerv3.ListenerFilter{
				Name:       wellknown.TlsInspector,
				ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: resource.Any(&tlsinspectorv3.TlsInspector{})},
			})
		}
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
