package networking

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/translate/model"
)

// chainSummary is an L4Chain reduced to what a test compares: its match
// and the cluster (or clusters) it forwards to.
type chainSummary struct {
	SNI, Subnets []string
	To           string
}

func summarize(chains []L4Chain) []chainSummary {
	var out []chainSummary
	for _, c := range chains {
		to := c.Proxy.GetCluster()
		for _, w := range c.Proxy.GetWeightedClusters().GetClusters() {
			to += w.GetName() + " "
		}
		out = append(out, chainSummary{SNI: c.ServerNames, Subnets: c.DestinationSubnets, To: to})
	}
	return out
}

func TestL4Chains(t *testing.T) {
	b := model.NewBuilder()
	svc := &model.Service{Hostname: "db.shop.svc.cluster.local", Name: "db", Namespace: "shop",
		Ports: []model.Port{{Name: "tls", Number: 443, Protocol: model.TLS}, {Name: "tcp", Number: 5432, Protocol: model.TCP}}}
	b.AddService(svc)
	snap := b.Build()
	const own443, own5432 = "outbound|443||db.shop.svc.cluster.local", "outbound|5432||db.shop.svc.cluster.local"
	for _, tt := range []struct {
		name string
		vs   string // spec YAML; empty: no VirtualService
		port model.Port
		want []chainSummary
	}{
		{"tls port, no rules", "", svc.Ports[0], []chainSummary{{To: own443}}},
		{"tcp port, no rules", "", svc.Ports[1], []chainSummary{{To: own5432}}},
		{"tls rules, repeats and other clients left out", `
tls:
- match: [{sniHosts: [a.example.com], sourceLabels: {app: other}}]
  route: [{destination: {host: db, subset: x}}]
- match: [{sniHosts: [a.example.com], destinationSubnets: [10.0.0.0/8]}, {sniHosts: [b.example.com], port: 80}]
  route: [{destination: {host: db, subset: a}}]
- match: [{sniHosts: [a.example.com], destinationSubnets: [10.0.0.0/8]}, {sniHosts: [c.example.com], gateways: [mesh]}]
  route: [{destination: {host: db, subset: c}}]
- match: [{sniHosts: [d.example.com], gateways: [edge]}]
  route: [{destination: {host: db, subset: d}}]
`, svc.Ports[0], []chainSummary{
			{SNI: []string{"a.example.com"}, Subnets: []string{"10.0.0.0/8"}, To: "outbound|443|a|db.shop.svc.cluster.local"},
			{SNI: []string{"c.example.com"}, To: "outbound|443|c|db.shop.svc.cluster.local"},
		}},
		{"tls rules that never apply", `
tls:
- match: [{sniHosts: [a.example.com], sourceNamespace: other}]
  route: [{destination: {host: db, subset: x}}]
`, svc.Ports[0], []chainSummary{{To: own443}}},
		{"tcp rules ignored on a tls port", `
tcp:
- route: [{destination: {host: db, subset: x}}]
`, svc.Ports[0], []chainSummary{{To: own443}}},
		{"tcp subnets, then a catch-all rule", `
tcp:
- match: [{destinationSubnets: [10.1.0.0/16]}, {destinationSubnets: [10.2.0.0/16], sourceLabels: {app: client}}]
  route: [{destination: {host: db, subset: near}}]
- match: [{destinationSubnets: [10.3.0.0/16], sourceLabels: {app: other}}]
  route: [{destination: {host: db, subset: never}}]
- route: [{destination: {host: db, subset: rest}}]
- route: [{destination: {host: db, subset: unreachable}}]
`, svc.Ports[1], []chainSummary{
			{Subnets: []string{"10.1.0.0/16", "10.2.0.0/16"}, To: "outbound|5432|near|db.shop.svc.cluster.local"},
			{To: "outbound|5432|rest|db.shop.svc.cluster.local"},
		}},
		{"tcp subnets only: the own cluster catches the rest", `
tcp:
- match: [{destinationSubnets: [10.1.0.0/16], port: 5432}]
  route: [{destination: {host: db, subset: near}, weight: 50}, {destination: {host: db, subset: far}, weight: 50}]
`, svc.Ports[1], []chainSummary{
			{Subnets: []string{"10.1.0.0/16"}, To: "outbound|5432|near|db.shop.svc.cluster.local outbound|5432|far|db.shop.svc.cluster.local "},
			{To: own5432},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := RouteInput{Snap: snap, Service: svc, Port: tt.port, ClientNamespace: "shop",
				ClientLabels: map[string]string{"app": "client"}, Target: Envoy}
			if tt.vs != "" {
				j, err := yaml.YAMLToJSON([]byte(tt.vs))
				if err != nil {
					t.Fatal(err)
				}
				spec := &networkingv1alpha3.VirtualService{}
				if err := protojson.Unmarshal(j, spec); err != nil {
					t.Fatal(err)
				}
				in.VirtualService = &model.Config{Kind: model.KindVirtualService, Namespace: "shop", Name: "db", Spec: spec}
			}
			if diff := cmp.Diff(tt.want, summarize(L4Chains(in))); diff != "" {
				t.Errorf("chains (-want +got):\n%s", diff)
			}
		})
	}
}
