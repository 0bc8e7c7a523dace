package sidecar

import (
	"net"
	"slices"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/networking"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// outboundRoutes builds one RouteConfiguration per outbound HTTP port,
// named after the port, with a virtual host per service on that port, and
// a last catch-all virtual host that follows the outbound traffic policy.
func outboundRoutes(snap *model.Snapshot, v model.OutboundView) []resource.Resource {
	byPort := map[uint32]*routev3.RouteConfiguration{}
	used := map[uint32]map[string]bool{}
	var ports []uint32
	for _, svc := range snap.ServicesFor(v.Namespace, v.Labels) {
		for _, port := range svc.Ports {
			if !port.Protocol.IsHTTP() {
				continue
			}
			rc, ok := byPort[port.Number]
			if !ok {
				rc = &routev3.RouteConfiguration{
					Name:                           strconv.FormatUint(uint64(port.Number), 10),
					ValidateClusters:               wrapperspb.Bool(false),
					MaxDirectResponseBodySizeBytes: wrapperspb.UInt32(resource.MaxDirectResponseBodyBytes),
				}
				byPort[port.Number] = rc
				used[port.Number] = map[string]bool{}
				ports = append(ports, port.Number)
			}
			// Envoy rejects a domain listed twice in one table; the first
			// service (by hostname) keeps a contested alias such as a VIP.
			var domains []string
			for _, d := range virtualHostDomains(svc, port.Number, v.Namespace) {
				if !used[port.Number][d] {
					used[port.Number][d] = true
					domains = append(domains, d)
				}
			}
			if len(domains) == 0 {
				continue
			}
			rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{
				Name:                       model.JoinHostPort(svc.Hostname, port.Number),
				Domains:                    domains,
				Routes:                     networking.HTTPRoutes(networking.MeshRouteInput(snap, v, svc, port, networking.Envoy)),
				IncludeRequestAttemptCount: true,
			})
		}
	}
	slices.Sort(ports)
	out := make([]resource.Resource, 0, len(ports))
	for _, p := range ports {
		rc := byPort[p]
		rc.VirtualHosts = append(rc.VirtualHosts, catchAllVirtualHost(outboundFallbackCluster(snap, v)))
		out = append(out, resource.Resource{Name: rc.Name, Message: rc})
	}
	return out
}

// virtualHostDomains lists every Host header a caller in clientNS may send
// for the service: each alias (FQDN, NAME.NS.svc, NAME.NS, NAME) and each
// virtual IP, with and without :PORT.
func virtualHostDomains(svc *model.Service, port uint32, clientNS string) []string {
	names := append(model.HostAliases(svc, clientNS), svc.Addresses...)
	out := make([]string, 0, 2*len(names))
	for _, n := range names {
		host := n
		if strings.Contains(n, ":") { // An IPv6 VIP: Host headers bracket it.
			host = "[" + n + "]"
		}
		out = append(out, host, model.JoinHostPort(n, port))
		if n == svc.Hostname && net.ParseIP(n) == nil {
			// The absolute form of the FQDN (trailing dot) is the same host.
			out = append(out, n+".", model.JoinHostPort(n+".", port))
		}
	}
	return out
}

// catchAllVirtualHost sends unknown hosts on a known port to the fallback
// cluster (out of the mesh, or an egress proxy) or, when that is
// BlackHoleCluster (REGISTRY_ONLY), answers 502, as istiod's allow_any
// and block_all virtual hosts do.
func catchAllVirtualHost(fallback string) *routev3.VirtualHost {
	if fallback == resource.BlackHoleCluster {
		return &routev3.VirtualHost{
			Name:    "block_all",
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Name:   "block_all",
				Match:  prefixMatch("/"),
				Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 502}},
			}},
		}
	}
	return &routev3.VirtualHost{
		Name:                       "allow_any",
		Domains:                    []string{"*"},
		IncludeRequestAttemptCount: true,
		Routes: []*routev3.Route{{
			Name:   "allow_any",
			Match:  prefixMatch("/"),
			Action: &routev3.Route_Route{Route: networking.RouteTo(fallback)},
		}},
	}
}

func prefixMatch(p string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: p}}
}
