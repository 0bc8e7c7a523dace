package gateway

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
)

// server is one Gateway server as a router sees it.
type server struct {
	spec *networkingv1alpha3.Server
	// gateway names the Gateway: NAMESPACE/NAME.
	gateway string
	// hosts are the server's hosts, sanitized (see sanitizeHosts).
	hosts    []string
	protocol model.Protocol
	// routeName is the RDS route table of an HTTP server, or of an HTTPS
	// server that terminates TLS; empty for the others.
	routeName string
}

func (s *server) tls() *networkingv1alpha3.ServerTLSSettings { return s.spec.GetTls() }

func (s *server) port() uint32 { return s.spec.GetPort().GetNumber() }

// passthrough: the router forwards the TLS stream without terminating it.
func (s *server) passthrough() bool {
	switch s.tls().GetMode() {
	case networkingv1alpha3.ServerTLSSettings_PASSTHROUGH, networkingv1alpha3.ServerTLSSettings_AUTO_PASSTHROUGH:
		return s.tls() != nil
	}
	return false
}

// isTLS: a server that is not HTTP and has TLS settings (terminating or
// passthrough); it can share its port with other TLS servers, told apart
// by SNI.
func (s *server) isTLS() bool { return s.tls() != nil && !s.protocol.IsHTTP() }

// isHTTP: a server whose traffic an HTTP connection manager handles:
// plaintext HTTP, or HTTPS terminated here.
func (s *server) isHTTP() bool {
	return s.protocol.IsHTTP() || (s.protocol == model.HTTPS && s.tls() != nil && !s.passthrough())
}

// sniHosts are the names a TLS server matches in the client hello: its
// hosts without namespaces, sorted and distinct.
func (s *server) sniHosts() []string {
	if s.tls() == nil {
		return nil
	}
	out := make([]string, 0, len(s.hosts))
	for _, h := range s.hosts {
		out = append(out, bareHost(h))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// portKey is one listener: a port and the address it binds to.
type portKey struct {
	bind string
	port uint32
}

// listenerName is Istio's BIND_PORT.
func (k portKey) listenerName() string {
	return k.address() + "_" + strconv.FormatUint(uint64(k.port), 10)
}

func (k portKey) address() string {
	if k.bind == "" {
		return wildcardIP
	}
	return k.bind
}

const wildcardIP = "0.0.0.0"

// merged is every Gateway server that applies to one router, arranged as
// Istio merges them: by listener, with the HTTP servers of a port sharing
// one route table and TLS servers told apart by SNI.
type merged struct {
	// ports in the order they were first seen.
	ports []portKey
	// servers of each listener, in Gateway and server order.
	servers map[portKey][]*server
	// byRoute are the servers each route table serves.
	byRoute map[string][]*server
}

// mergeGateways merges the servers of the Gateways that select a router.
// A server that would make Envoy reject the listener is left out, as
// istiod leaves it out: a TLS server repeating a host already served on
// its port (duplicate SNI match), a plaintext server whose protocol
// cannot share the port with the one already there, a second non-HTTP
// plaintext server on a port, an HTTPS server whose route table name is
// taken, and a plaintext server on a port of TLS servers.
//
// Listeners bind the port listenPorts maps a server port to (the router's
// Service target port), or the server port when it maps none.
func mergeGateways(gateways []*model.Config, listenPorts map[uint32]uint32) *merged {
	m := &merged{servers: map[portKey][]*server{}, byRoute: map[string][]*server{}}
	plaintext := map[portKey]model.Protocol{}
	tlsHosts := map[portKey]map[string]bool{}
	for _, gw := range gateways {
		name := model.GatewayName(gw)
		for _, spec := range model.AsGateway(gw).GetServers() {
			if spec.GetPort() == nil {
				continue // Validation rejects servers without a port.
			}
			if b := spec.GetBind(); b != "" {
				if _, err := netip.ParseAddr(b); err != nil {
					continue // Only IP binds are supported, not unix:// sockets (Analyze: gateway-bind).
				}
			}
			s := &server{
				spec:     spec,
				gateway:  name,
				hosts:    sanitizeHosts(spec.GetHosts(), gw.Namespace),
				protocol: model.ParseProtocol(spec.GetPort().GetProtocol()),
			}
			if s.protocol == model.UDP {
				continue // Gateways do not proxy UDP (Analyze: gateway-udp).
			}
			s.routeName = routeName(s, gw)
			key := portKey{bind: spec.GetBind(), port: s.port()}
			if p, ok := listenPorts[s.port()]; ok {
				key.port = p
			}
			if s.tls() != nil {
				if tlsHosts[key] == nil {
					tlsHosts[key] = map[string]bool{}
				}
				if anyIn(s.hosts, tlsHosts[key]) {
					continue // Duplicate host on a TLS port (Analyze: gateway-duplicate-host).
				}
				for _, h := range s.hosts {
					tlsHosts[key][h] = true
				}
			}
			if _, used := m.servers[key]; !used {
				m.ports = append(m.ports, key)
				if !s.isTLS() {
					plaintext[key] = s.protocol
				}
				if s.isHTTP() {
					m.byRoute[s.routeName] = []*server{s}
				}
				m.servers[key] = []*server{s}
				continue
			}
			if existing, ok := plaintext[key]; ok {
				// Plaintext HTTP servers share a port (and its route
				// table); anything else conflicts (Analyze: gateway-port-conflict).
				if !existing.IsHTTP() || !s.protocol.IsHTTP() {
					continue
				}
				m.byRoute[s.routeName] = append(m.byRoute[s.routeName], s)
				m.servers[key] = append(m.servers[key], s)
				continue
			}
			// The port holds TLS servers: only another TLS server, or an
			// HTTPS server with a route table of its own, may join.
			if s.tls() == nil {
				continue // A plaintext server on a TLS port (Analyze: gateway-port-conflict).
			}
			if s.isHTTP() {
				if _, taken := m.byRoute[s.routeName]; taken || s.routeName == "" {
					continue // Analyze: gateway-port-conflict.
				}
				m.byRoute[s.routeName] = []*server{s}
			}
			m.servers[key] = append(m.servers[key], s)
		}
	}
	return m
}

// routeName is Istio's name for a server's route table: http.PORT for
// plaintext HTTP (shared by every HTTP server on the port), and
// https.PORT.PORTNAME.GATEWAY.NAMESPACE for an HTTPS server that
// terminates TLS; a bind address is appended to either.
func routeName(s *server, gw *model.Config) string {
	bind := ""
	if b := s.spec.GetBind(); b != "" {
		bind = "." + b
	}
	port := strconv.FormatUint(uint64(s.port()), 10)
	switch {
	case s.protocol.IsHTTP():
		return "http." + port + bind
	case s.protocol == model.HTTPS && s.tls() != nil && !s.passthrough():
		return "https." + port + "." + s.spec.GetPort().GetName() + "." + gw.Name + "." + gw.Namespace + bind
	}
	return ""
}

func anyIn(hosts []string, seen map[string]bool) bool {
	for _, h := range hosts {
		if seen[h] {
			return true
		}
	}
	return false
}

// sortedRouteNames lists the route tables, sorted.
func (m *merged) sortedRouteNames() []string {
	names := make([]string, 0, len(m.byRoute))
	for n := range m.byRoute {
		names = append(names, n)
	}
	slices.SortFunc(names, cmp.Compare)
	return names
}
