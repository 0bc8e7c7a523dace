package translate

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/translate/gateway"
	"github.com/pilotlight/pilotlight/translate/grpcgen"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/translate/sidecar"
)

// Resource is one named Envoy resource.
type Resource = resource.Resource

// Generator builds the resources of one proxy flavour. Implementations are
// pure and safe for concurrent use.
type Generator interface {
	// Outbound returns every outbound resource of typeURL that a proxy with
	// this view may see, sorted by name.
	Outbound(snap *model.Snapshot, v model.OutboundView, typeURL string) []Resource
	// Inbound returns the workload's own resources of typeURL, sorted by name.
	Inbound(snap *model.Snapshot, v model.InboundView, typeURL string) []Resource
	// OutboundNamed builds a resource that is not in the Outbound set but
	// exists when asked for by name (a proxyless client's short host name).
	OutboundNamed(snap *model.Snapshot, v model.OutboundView, typeURL, name string) (Resource, bool)
	// InboundNamed does the same for the inbound half (a proxyless server's
	// listener, named after the address it listens on).
	InboundNamed(snap *model.Snapshot, v model.InboundView, typeURL, name string) (Resource, bool)
}

// For returns the generator for a flavour.
func For(f model.Flavor) (Generator, error) {
	switch f {
	case model.FlavorSidecar:
		return sidecar.Generator{}, nil
	case model.FlavorRouter:
		return gateway.Generator{}, nil
	case model.FlavorGRPC:
		return grpcgen.Generator{}, nil
	}
	return nil, fmt.Errorf("no generator for flavour %q", f)
}

// Validate runs protoc-gen-validate's ValidateAll on a generated resource.
// Generators are tested to never produce invalid resources; the xDS server
// calls this too so that a bug costs one resource, not the proxy.
func Validate(m proto.Message) error { return resource.Validate(m) }

// Generate returns what a proxy receives for one type when it subscribes to
// names (nil or empty: wildcard), uncached. The xDS server produces the
// same result from cached parts; this is the reference it is tested
// against, and what golden tests, benchmarks and analyze use.
func Generate(snap *model.Snapshot, p *model.Proxy, typeURL string, names []string) ([]Resource, error) {
	gen, err := For(model.FlavorOf(p))
	if err != nil {
		return nil, err
	}
	ov, iv := model.ViewsOf(p)
	all := append(gen.Outbound(snap, ov, typeURL), gen.Inbound(snap, iv, typeURL)...)
	if len(names) == 0 {
		slices.SortFunc(all, func(a, b Resource) int { return cmp.Compare(a.Name, b.Name) })
		return all, nil
	}
	byName := make(map[string]Resource, len(all))
	for _, r := range all {
		byName[r.Name] = r
	}
	var out []Resource
	for _, n := range slices.Compact(slices.Sorted(slices.Values(names))) {
		if r, ok := byName[n]; ok {
			out = append(out, r)
		} else if r, ok := gen.OutboundNamed(snap, ov, typeURL, n); ok {
			out = append(out, r)
		} else if r, ok := gen.InboundNamed(snap, iv, typeURL, n); ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// OutboundScope narrows an outbound view to what the generators read for
// one type, so that proxies whose views differ only in what that type
// ignores share it. A sidecar's or proxyless client's labels matter only
// where some selector, sourceLabels match or failover priority reads
// them, so they are narrowed to those keys (none, in the common case:
// every workload of a namespace shares). A router keeps its labels:
// Gateways and the Services that translate their ports select it by any
// key. The locality matters to endpoints alone, and only when some rule
// balances by locality. Endpoints depend on the flavour alone — every
// namespace sees the same load assignments — unless some DestinationRule
// defines subsets (a subset's endpoints depend on which rule the client
// sees), some service is not exported everywhere, or the locality
// matters. Where Envoy fetches secrets (WorkloadSDS) matters to the
// types that name secrets, clusters and listeners, alone. Because the
// generator is handed the narrowed view, the narrowed key stays complete
// by construction. narrowed says whether the result differs from v.
func OutboundScope(snap *model.Snapshot, v model.OutboundView, typeURL string) (scoped model.OutboundView, narrowed bool) {
	locality := typeURL == resource.EndpointType && snap.LocalityAware()
	if typeURL == resource.EndpointType && !snap.HasSubsets() && !snap.RestrictsVisibility() && !locality {
		return SharedEndpointsView(v), true
	}
	scoped = v
	if !locality {
		scoped.Locality = model.Locality{}
	}
	if v.Flavor != model.FlavorRouter {
		scoped.Labels = snap.SelectedLabels(v.Labels)
	}
	if typeURL != resource.ClusterType && typeURL != resource.ListenerType {
		scoped.WorkloadSDS = false
	}
	return scoped, scoped.Locality != v.Locality || !maps.Equal(scoped.Labels, v.Labels) || scoped.WorkloadSDS != v.WorkloadSDS
}

// SharedEndpointsView is the view endpoint assignments are generated for
// when every namespace shares them.
func SharedEndpointsView(v model.OutboundView) model.OutboundView {
	return model.OutboundView{Flavor: v.Flavor}
}
