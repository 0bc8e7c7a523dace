package model

import (
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"slices"
)

// Flavor is the kind of config a proxy gets.
type Flavor string

const (
	// FlavorSidecar is an Envoy sidecar (node type sidecar).
	FlavorSidecar Flavor = "sidecar"
	// FlavorRouter is an Envoy gateway (node type router).
	FlavorRouter Flavor = "router"
	// FlavorGRPC is a proxyless gRPC client or server (GENERATOR=grpc).
	FlavorGRPC Flavor = "grpc"
)

// OutboundView is everything the outbound half of a proxy's config may
// depend on: what it can reach and how. Proxies with equal OutboundViews
// share outbound clusters, listeners, routes and endpoints.
//
// Every field must be exported and JSON-encodable: Key hashes the JSON
// form, and a field Key cannot see would let two different proxies share
// config (a test enforces this).
type OutboundView struct {
	Flavor    Flavor
	Namespace string
	// Labels are the proxy's labels: Gateways select the routers they
	// configure by label, and sourceLabels matches and the workload
	// selectors of DestinationRules and Sidecars select clients.
	// translate.OutboundScope narrows a sidecar's or proxyless client's
	// labels to the keys the snapshot's selectors read, so workloads of a
	// namespace keep sharing their outbound config in the common case.
	Labels map[string]string
	// Locality is where the proxy runs. Locality load balancing shapes
	// endpoints for it; translate.OutboundScope keeps it for endpoints,
	// and only when some rule in the snapshot may read it.
	Locality Locality
	// WorkloadSDS says Envoy fetches secrets over ADS, not from
	// istio-agent (Proxy.WorkloadSDS): clusters' upstream TLS and a
	// router's terminated ISTIO_MUTUAL name them so.
	// translate.OutboundScope drops it for the types that name no secret.
	WorkloadSDS bool
}

// InboundView is everything the inbound half of a proxy's config may depend
// on: the workload itself. It is per workload, so inbound resources are
// rarely shared.
type InboundView struct {
	Flavor         Flavor
	Namespace      string
	IPs            []string
	Labels         map[string]string
	ServiceAccount string
	// WorkloadSDS: as OutboundView's, for inbound mTLS chains.
	WorkloadSDS bool
}

// Key is a hash of the whole view.
func (v OutboundView) Key() string { return "out:" + hashView(v) }

// Key is a hash of the whole view.
func (v InboundView) Key() string { return "in:" + hashView(v) }

// ViewsOf derives a proxy's views.
func ViewsOf(p *Proxy) (OutboundView, InboundView) {
	f := FlavorOf(p)
	ips := slices.Clone(p.IPAddresses)
	// Proxyless gRPC reads its certificates from files (certificate
	// providers), never over SDS: the opt-in means nothing to it.
	sds := p.WorkloadSDS && f != FlavorGRPC
	ov := OutboundView{Flavor: f, Namespace: p.Namespace, Labels: p.Labels, Locality: p.Locality, WorkloadSDS: sds}
	return ov,
		InboundView{Flavor: f, Namespace: p.Namespace, IPs: ips, Labels: p.Labels, ServiceAccount: p.ServiceAccount, WorkloadSDS: sds}
}

// FlavorOf says which generator serves a proxy.
func FlavorOf(p *Proxy) Flavor {
	switch {
	case p.Proxyless():
		return FlavorGRPC
	case p.Type == Router:
		return FlavorRouter
	default:
		return FlavorSidecar
	}
}

func hashView(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("model: view not encodable: " + err.Error())
	}
	h := fnv.New128a()
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
