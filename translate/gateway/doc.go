// Package gateway generates the config of an Envoy router proxy (node
// type router: an ingress or egress gateway) from the Istio Gateways
// that select it, the way istiod lays it out: one listener per server
// port (0.0.0.0_PORT), one filter chain per server (matched on SNI for
// TLS servers), route tables http.PORT and https.PORT.NAME.GATEWAY.NS
// holding the virtual hosts of the VirtualServices bound to the gateway,
// TLS termination with certificates from files, from the agent's SDS
// (ISTIO_MUTUAL) or from Kubernetes Secrets served over ADS as
// kubernetes://NAME, and TLS passthrough by SNI. Clusters and endpoints
// are the sidecar generator's, plus the SNI-DNAT clusters that
// AUTO_PASSTHROUGH servers route to.
//
// It is pure: it reads a Snapshot and an OutboundView (namespace and
// labels of the router) and nothing else, so a view's key is a complete
// cache key. Secrets are looked up in the router's own namespace only, so
// a router can never be handed another namespace's keys, whatever its
// Gateways name.
//
// What a Gateway asks for and this package cannot express is left out,
// never approximated; each omission is commented where it happens so
// translate.Analyze can report it.
package gateway
