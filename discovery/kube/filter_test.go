package kube

import (
	"fmt"
	"slices"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/pilotlight/pilotlight/translate/model"
)

// meshObjects are a service with an endpoint and a VirtualService in
// each of the namespaces.
func meshObjects(namespaces ...string) []runtime.Object {
	var out []runtime.Object
	for i, ns := range namespaces {
		out = append(out,
			service(ns, "web", fmt.Sprintf("10.96.0.%d", i+1)),
			slice(ns, "web", "web-a", discoveryv1.AddressTypeIPv4, fmt.Sprintf("10.1.%d.1", i)),
			virtualService(ns, "web", "web", time.Second),
		)
	}
	return out
}

// servedNamespaces lists the namespaces whose service, endpoints,
// VirtualService and Namespace object are in the Snapshot, and fails if
// a namespace is served only in part.
func servedNamespaces(s *model.Snapshot, namespaces ...string) ([]string, error) {
	var out []string
	for _, ns := range namespaces {
		host := "web." + ns + ".svc.cluster.local"
		parts := []bool{
			s.Service(host) != nil,
			len(s.Endpoints(host)) == 1,
			s.Config(model.ConfigKey{Kind: model.KindVirtualService, Namespace: ns, Name: "web"}) != nil,
			s.Namespace(ns) != nil,
		}
		switch {
		case !slices.Contains(parts, false):
			out = append(out, ns)
		case slices.Contains(parts, true):
			return nil, fmt.Errorf("namespace %s served in part (service, endpoints, config, namespace: %v)", ns, parts)
		}
	}
	return out, nil
}

func wantNamespaces(all []string, want ...string) func(published) error {
	return func(p published) error {
		got, err := servedNamespaces(p.snap, all...)
		if err == nil && !slices.Equal(got, want) {
			err = fmt.Errorf("served namespaces %v, want %v", got, want)
		}
		return err
	}
}

// TestWatchNamespaces: with --watch-namespaces only those namespaces are
// listed and served.
func TestWatchNamespaces(t *testing.T) {
	all := []string{"a", "b", "c"}
	objs := meshObjects(all...)
	for _, ns := range all {
		objs = append(objs, namespace(ns, nil))
	}
	e := newEnv(t, func(o *Options) { o.WatchNamespaces = []string{"a", "c"} }, objs...)
	e.start()
	if err := wantNamespaces(all, "a", "c")(e.next()); err != nil {
		t.Fatal(err)
	}
	for _, a := range e.kube.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "services" && a.GetNamespace() != "a" && a.GetNamespace() != "c" {
			t.Errorf("services listed in namespace %q; want only a and c", a.GetNamespace())
		}
	}
}

// TestDiscoverySelectors: the mesh's discoverySelectors pick namespaces by
// label; relabelling a namespace or changing the selectors takes effect
// without any relist.
func TestDiscoverySelectors(t *testing.T) {
	all := []string{"a", "b", "c"}
	objs := append(meshObjects(all...),
		namespace("a", map[string]string{"mesh": "on"}),
		namespace("b", nil),
		namespace("c", map[string]string{"team": "payments"}),
		meshConfigMap("istio-system", `
discoverySelectors:
- matchLabels: {mesh: "on"}
- matchExpressions:
  - {key: team, operator: In, values: [payments, search]}
`))
	e := newEnv(t, nil, objs...)
	e.start()
	if err := wantNamespaces(all, "a", "c")(e.next()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	nss := e.kube.CoreV1().Namespaces()

	if _, err := nss.Update(ctx, namespace("b", map[string]string{"mesh": "on"}), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.until("relabelled namespace b joins", wantNamespaces(all, "a", "b", "c"))

	if _, err := nss.Update(ctx, namespace("a", nil), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.until("unlabelled namespace a leaves", wantNamespaces(all, "b", "c"))

	cms := e.kube.CoreV1().ConfigMaps("istio-system")
	if _, err := cms.Update(ctx, meshConfigMap("istio-system", "trustDomain: cluster.local\n"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.until("without selectors every namespace is served", wantNamespaces(all, "a", "b", "c"))
}

func TestNamespaceFilterSelects(t *testing.T) {
	sel, err := CompileSelectors(nil)
	if err != nil || len(sel) != 0 {
		t.Fatalf("no selectors: %v, %v", sel, err)
	}
	for _, tc := range []struct {
		name   string
		filter namespaceFilter
		ns     string
		labels map[string]string
		known  bool
		want   bool
	}{
		{"no filter admits an unseen namespace", namespaceFilter{}, "x", nil, false, true},
		{"watch list admits its own", namespaceFilter{watch: map[string]bool{"x": true}}, "x", nil, false, true},
		{"watch list rejects others", namespaceFilter{watch: map[string]bool{"x": true}}, "y", nil, true, false},
		{"selectors need the namespace's labels", namespaceFilter{selectors: mustSelectors(t, `{}`)}, "x", nil, false, false},
		{"an empty selector matches everything", namespaceFilter{selectors: mustSelectors(t, `{}`)}, "x", nil, true, true},
		{"selector mismatch", namespaceFilter{selectors: mustSelectors(t, `{matchLabels: {a: b}}`)}, "x", map[string]string{"a": "c"}, true, false},
		{"watch list and selector both apply", namespaceFilter{watch: map[string]bool{"y": true}, selectors: mustSelectors(t, `{matchLabels: {a: b}}`)}, "x", map[string]string{"a": "b"}, true, false},
	} {
		if got := tc.filter.selects(tc.ns, tc.labels, tc.known); got != tc.want {
			t.Errorf("%s: selects = %v, want %v", tc.name, got, tc.want)
		}
	}
	mesh, err := model.ParseMeshConfig([]byte(`discoverySelectors: [{matchExpressions: [{key: a, operator: Sometimes}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CompileSelectors(mesh.GetDiscoverySelectors()); err == nil {
		t.Error("an unknown operator compiled")
	}
}

func mustSelectors(t *testing.T, selector string) []labels.Selector {
	t.Helper()
	mesh, err := model.ParseMeshConfig([]byte("discoverySelectors: [" + selector + "]"))
	if err != nil {
		t.Fatal(err)
	}
	sel, err := CompileSelectors(mesh.GetDiscoverySelectors())
	if err != nil {
		t.Fatal(err)
	}
	return sel
}
