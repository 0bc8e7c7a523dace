package gateway

import (
	"slices"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/networking"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// routes builds every route table the merged servers name.
func routes(snap *model.Snapshot, v model.OutboundView, m *merged) []resource.Resource {
	out := make([]resource.Resource, 0, len(m.byRoute))
	for _, name := range m.sortedRouteNames() {
		rc := routeTable(snap, v, name, m.byRoute[name])
		out = append(out, resource.Resource{Name: name, Message: rc})
	}
	return out
}

// vhostBuild gathers what one host name of a route table gets: the
// routes of every (gateway, VirtualService) that serves it, in order, and
// whether plain HTTP must be redirected to HTTPS.
type vhostBuild struct {
	host       string
	port       uint32
	sources    []string // "gateway|namespace/name" of each contribution, to collapse and dedupe
	routes     []*routev3.Route
	requireTLS bool
}

// routeTable builds one route table: a virtual host per host name that a
// server of the table and a VirtualService bound to the server's gateway
// both serve (the narrower of the two names), with the VirtualService's
// HTTP routes. Several VirtualServices for one host add their routes in
// order; catch-all routes go last so they do not hide the others. A
// server with httpsRedirect marks its hosts' virtual hosts TLS-only, and
// a table with no virtual host at all answers 404 from blackhole:PORT,
// as istiod does.
func routeTable(snap *model.Snapshot, v model.OutboundView, name string, servers []*server) *routev3.RouteConfiguration {
	byHost := map[string]*vhostBuild{}
	var order []string
	vhost := func(host string, port uint32) *vhostBuild {
		vb, ok := byHost[host]
		if !ok {
			vb = &vhostBuild{host: host, port: port}
			byHost[host] = vb
			order = append(order, host)
		}
		return vb
	}
	cache := map[string][]*routev3.Route{}
	for _, s := range servers {
		redirect := s.tls().GetHttpsRedirect()
		port := model.Port{Name: s.spec.GetPort().GetName(), Number: s.port(), Protocol: s.protocol}
		for _, c := range snap.VirtualServicesForGateway(s.gateway, v.Namespace) {
			vs := model.AsVirtualService(c)
			vsHosts := make([]string, 0, len(vs.GetHosts()))
			for _, h := range vs.GetHosts() {
				vsHosts = append(vsHosts, snap.ResolveConfigHost(h, c.Namespace))
			}
			hosts := intersect(hostsForNamespace(s.hosts, c.Namespace), vsHosts)
			if len(hosts) == 0 {
				continue
			}
			source := s.gateway + "|" + c.Namespace + "/" + c.Name
			rs, ok := cache[source]
			if !ok {
				rs = networking.HTTPRoutes(networking.RouteInput{
					Snap:            snap,
					VirtualService:  c,
					Port:            port,
					ClientNamespace: v.Namespace,
					ClientLabels:    v.Labels,
					Target:          networking.Envoy,
					Gateway:         s.gateway,
				})
				cache[source] = rs
			}
			for _, h := range hosts {
				vb := vhost(strings.ToLower(h), s.port())
				if !slices.Contains(vb.sources, source) {
					vb.sources = append(vb.sources, source)
					vb.routes = append(vb.routes, rs...)
				}
				vb.requireTLS = vb.requireTLS || redirect
			}
		}
		if redirect {
			for _, h := range s.hosts {
				vhost(strings.ToLower(bareHost(h)), s.port()).requireTLS = true
			}
		}
	}
	rc := &routev3.RouteConfiguration{
		Name:                           name,
		ValidateClusters:               wrapperspb.Bool(false),
		MaxDirectResponseBodySizeBytes: wrapperspb.UInt32(resource.MaxDirectResponseBodyBytes),
		// A gateway is reached on many ports (and through port
		// translation); hosts match whatever port the client wrote.
		IgnorePortInHostMatching: true,
	}
	if len(order) == 0 {
		port := servers[0].port()
		rc.VirtualHosts = []*routev3.VirtualHost{{
			Name:    "blackhole:" + strconv.FormatUint(uint64(port), 10),
			Domains: []string{"*"},
			// No routes: Envoy answers 404 (NR) to everything.
		}}
		return rc
	}
	rc.VirtualHosts = collapse(byHost, order)
	return rc
}

// collapse turns the host builds into virtual hosts. Hosts that got the
// same routes from the same sources and the same TLS requirement share
// one virtual host with several domains, named after the first of them,
// as istiod collapses them: the routes are then sent once.
func collapse(byHost map[string]*vhostBuild, order []string) []*routev3.VirtualHost {
	slices.Sort(order)
	var out []*routev3.VirtualHost
	first := map[string]*routev3.VirtualHost{}
	for _, host := range order {
		vb := byHost[host]
		key := strings.Join(vb.sources, ",") + "|" + strconv.FormatBool(vb.requireTLS)
		if vh, ok := first[key]; ok {
			vh.Domains = append(vh.Domains, host)
			continue
		}
		vh := &routev3.VirtualHost{
			Name:                       host + ":" + strconv.FormatUint(uint64(vb.port), 10),
			Domains:                    []string{host},
			Routes:                     catchAllLast(vb.routes),
			IncludeRequestAttemptCount: true,
		}
		if vb.requireTLS {
			vh.RequireTls = routev3.VirtualHost_ALL
		}
		first[key] = vh
		out = append(out, vh)
	}
	return out
}

// catchAllLast moves routes that match every request to the end, keeping
// the order of the rest.
func catchAllLast(rs []*routev3.Route) []*routev3.Route {
	out := make([]*routev3.Route, 0, len(rs))
	var last []*routev3.Route
	for _, r := range rs {
		if catchAll(r.GetMatch()) {
			last = append(last, r)
		} else {
			out = append(out, r)
		}
	}
	return append(out, last...)
}

func catchAll(m *routev3.RouteMatch) bool {
	all := false
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		all = p.Prefix == "/"
	case *routev3.RouteMatch_PathSeparatedPrefix:
		all = p.PathSeparatedPrefix == "/"
	}
	return all && len(m.GetHeaders()) == 0 && len(m.GetQueryParameters()) == 0 && len(m.GetDynamicMetadata()) == 0
}
