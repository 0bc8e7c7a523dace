package model_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/pilotlight/pilotlight/translate/model"
)

func sidecar(b *model.Builder, ns, name string, selector map[string]string) {
	sc := &networkingv1alpha3.Sidecar{Egress: []*networkingv1alpha3.IstioEgressListener{{Hosts: []string{"./*"}}}}
	if selector != nil {
		sc.WorkloadSelector = &networkingv1alpha3.WorkloadSelector{Labels: selector}
	}
	b.AddConfig(&model.Config{Kind: model.KindSidecar, Namespace: ns, Name: name, Spec: sc})
}

func destinationRule(b *model.Builder, ns, name, host string, selector map[string]string, exportTo ...string) {
	dr := &networkingv1alpha3.DestinationRule{Host: host, ExportTo: exportTo}
	if selector != nil {
		dr.WorkloadSelector = &typev1beta1.WorkloadSelector{MatchLabels: selector}
	}
	b.AddConfig(&model.Config{Kind: model.KindDestinationRule, Namespace: ns, Name: name, Spec: dr})
}

func nameOf(c *model.Config) string {
	if c == nil {
		return "<none>"
	}
	return c.Namespace + "/" + c.Name
}

// A workload-selected Sidecar beats its namespace's default, which beats
// the root namespace's; selectors never reach across namespaces.
func TestSidecarForPrecedence(t *testing.T) {
	b := model.NewBuilder()
	sidecar(b, "istio-system", "default", nil)
	sidecar(b, "istio-system", "all-web", map[string]string{"app": "web"})
	sidecar(b, "shop", "default", nil)
	sidecar(b, "shop", "b-web", map[string]string{"app": "web"})
	sidecar(b, "shop", "a-web-v2", map[string]string{"app": "web", "version": "v2"})
	sidecar(b, "team", "db", map[string]string{"app": "db"})
	snap := b.Build()
	for _, tt := range []struct {
		ns     string
		labels map[string]string
		want   string
	}{
		{"shop", map[string]string{"app": "web"}, "shop/b-web"},
		{"shop", map[string]string{"app": "web", "version": "v2"}, "shop/a-web-v2"}, // both select it: the first by name
		{"shop", map[string]string{"app": "db"}, "shop/default"},
		{"shop", nil, "shop/default"},
		{"team", map[string]string{"app": "db"}, "team/db"},
		{"team", map[string]string{"app": "web"}, "istio-system/default"}, // the root's selector is the root namespace's own
		{"other", nil, "istio-system/default"},
	} {
		if got := nameOf(snap.SidecarFor(tt.ns, tt.labels)); got != tt.want {
			t.Errorf("SidecarFor(%s, %v) = %s, want %s", tt.ns, tt.labels, got, tt.want)
		}
	}
}

// A DestinationRule with a workload selector applies to the workloads of
// its namespace it selects, ahead of the namespace's other rule for the
// host; elsewhere it does not exist, whatever its exportTo says.
func TestDestinationRuleForWorkloadSelector(t *testing.T) {
	b := delegateBuilder() // reviews in shop and in team
	const reviews = "reviews.shop.svc.cluster.local"
	destinationRule(b, "shop", "a-canary", "reviews", map[string]string{"track": "canary"}, "*")
	destinationRule(b, "shop", "b-default", "reviews", nil)
	destinationRule(b, "team", "only-selected", "reviews.shop.svc.cluster.local", map[string]string{"app": "x"})
	destinationRule(b, "istio-system", "mesh", "*.svc.cluster.local", nil)
	snap := b.Build()
	for _, tt := range []struct {
		ns     string
		labels map[string]string
		want   string
	}{
		{"shop", map[string]string{"track": "canary"}, "shop/a-canary"},
		{"shop", map[string]string{"track": "stable"}, "shop/b-default"},
		{"other", map[string]string{"track": "canary"}, "shop/b-default"}, // selectors stay home
		{"team", map[string]string{"app": "x"}, "team/only-selected"},
		// As in Istio, a rule of the client's namespace for the host
		// hides the others even when its selector does not pick the client.
		{"team", map[string]string{"app": "y"}, "<none>"},
	} {
		if got := nameOf(snap.DestinationRuleFor(reviews, tt.ns, tt.labels)); got != tt.want {
			t.Errorf("DestinationRuleFor(%s, %v) = %s, want %s", tt.ns, tt.labels, got, tt.want)
		}
	}
}

func TestSelectedLabels(t *testing.T) {
	b := delegateBuilder()
	if got := b.Build().SelectedLabels(map[string]string{"app": "web"}); got != nil {
		t.Errorf("no selectors: SelectedLabels = %v, want nil", got)
	}
	sidecar(b, "shop", "web", map[string]string{"app": "web"})
	destinationRule(b, "shop", "canary", "reviews", map[string]string{"track": "canary"})
	addVS(t, b, "shop", "reviews", `{hosts: [reviews], http: [{match: [{sourceLabels: {version: v2}}], route: [{destination: {host: reviews}}]}],
  tcp: [{match: [{sourceLabels: {tier: a}}], route: [{destination: {host: reviews}}]}]}`)
	b.AddConfig(&model.Config{Kind: model.KindDestinationRule, Namespace: "shop", Name: "failover", Spec: &networkingv1alpha3.DestinationRule{
		Host: "reviews",
		Subsets: []*networkingv1alpha3.Subset{{Name: "v1", TrafficPolicy: &networkingv1alpha3.TrafficPolicy{
			LoadBalancer: &networkingv1alpha3.LoadBalancerSettings{LocalityLbSetting: &networkingv1alpha3.LocalityLoadBalancerSetting{
				FailoverPriority: []string{"region-tier", "shard=blue"}, // a KEY=VALUE entry reads nothing of the client
			}},
		}}},
	}})
	addVS(t, b, "shop", "delegate", `{http: [{match: [{sourceLabels: {from-delegate: "y"}}], route: [{destination: {host: reviews}}]}]}`)
	got := b.Build().SelectedLabels(map[string]string{
		"app": "web", "track": "stable", "version": "v1", "tier": "a", "from-delegate": "y", "pod-template-hash": "abc",
		"region-tier": "1", "shard": "red",
	})
	want := map[string]string{"app": "web", "track": "stable", "version": "v1", "tier": "a", "region-tier": "1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SelectedLabels (-want +got):\n%s", diff)
	}
}
