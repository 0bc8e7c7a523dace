package model_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/translate/model"
)

// virtualService decodes a VirtualService spec written as YAML.
func virtualService(t *testing.T, spec string) *networkingv1alpha3.VirtualService {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	vs := &networkingv1alpha3.VirtualService{}
	if err := protojson.Unmarshal(j, vs); err != nil {
		t.Fatalf("%v in %s", err, j)
	}
	return vs
}

func addVS(t *testing.T, b *model.Builder, ns, name, spec string) *model.Config {
	t.Helper()
	c := &model.Config{Kind: model.KindVirtualService, Namespace: ns, Name: name, Spec: virtualService(t, spec)}
	b.AddConfig(c)
	return c
}

func delegateBuilder() *model.Builder {
	b := model.NewBuilder()
	for _, ns := range []string{"shop", "team"} {
		b.AddService(&model.Service{Hostname: "reviews." + ns + ".svc.cluster.local", Name: "reviews", Namespace: ns,
			Ports: []model.Port{{Name: "http", Number: 9080, Protocol: model.HTTP}}})
	}
	return b
}

func TestMergeDelegates(t *testing.T) {
	b := delegateBuilder()
	root := addVS(t, b, "shop", "root", `
hosts: [reviews]
gateways: [mesh, edge]
http:
- name: first
  match: [{uri: {exact: /health}}]
  directResponse: {status: 200}
- name: api
  match:
  - {name: m, uri: {prefix: /api}, headers: {x-team: {exact: a}}, gateways: [edge]}
  timeout: 5s
  retries: {attempts: 1}
  delegate: {name: api, namespace: team}
- route: [{destination: {host: reviews}}]
`)
	addVS(t, b, "team", "api", `
http:
- name: v2
  match: [{name: jason, uri: {prefix: /api/v2}, headers: {x-user: {exact: jason}}}]
  timeout: 1s
  route: [{destination: {host: reviews, subset: v2}}]
- name: other
  match: [{uri: {prefix: /other}}]
  route: [{destination: {host: reviews}}]
- route: [{destination: {host: reviews.team}}]
  mirror: {host: reviews}
`)
	snap := b.Build()

	got, issues := snap.MergeDelegates(root)
	want := virtualService(t, `
hosts: [reviews]
gateways: [mesh, edge]
http:
- name: first
  match: [{uri: {exact: /health}}]
  directResponse: {status: 200}
- name: api-v2
  match:
  - {name: m-jason, uri: {prefix: /api/v2}, headers: {x-team: {exact: a}, x-user: {exact: jason}}, gateways: [shop/edge]}
  timeout: 1s
  retries: {attempts: 1}
  route: [{destination: {host: reviews.team.svc.cluster.local, subset: v2}}]
- name: api
  match:
  - {name: m, uri: {prefix: /api}, headers: {x-team: {exact: a}}, gateways: [shop/edge]}
  timeout: 5s
  retries: {attempts: 1}
  route: [{destination: {host: reviews.team}}]
  mirror: {host: reviews.team.svc.cluster.local}
- route: [{destination: {host: reviews}}]
`)
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("merged (-want +got):\n%s", diff)
	}
	wantIssues := []model.DelegateIssue{{Rule: 1, Delegate: model.ConfigKey{Kind: model.KindVirtualService, Namespace: "team", Name: "api"},
		DelegateRule: 1, Reason: model.DelegateConflict}}
	if diff := cmp.Diff(wantIssues, issues); diff != "" {
		t.Errorf("issues (-want +got):\n%s", diff)
	}
	if len(model.AsVirtualService(root).GetHttp()[1].GetRoute()) != 0 {
		t.Error("merging changed the root's own spec")
	}

	// Every lookup that routes hosts sees the merged rules; the delegate
	// itself routes nothing.
	for name, c := range map[string]*model.Config{
		"VirtualServiceFor": snap.VirtualServiceFor("reviews.shop.svc.cluster.local", "shop"),
		"VirtualServicesForGateway": func() *model.Config {
			vss := snap.VirtualServicesForGateway("shop/edge", "shop")
			if len(vss) != 1 {
				t.Fatalf("VirtualServicesForGateway = %v", names(vss))
			}
			return vss[0]
		}(),
	} {
		if c == nil || c.Name != "root" || c.Namespace != "shop" {
			t.Fatalf("%s = %v, want shop/root", name, c)
		}
		if diff := cmp.Diff(want, c.Spec, protocmp.Transform()); diff != "" {
			t.Errorf("%s: spec is not the merged one (-want +got):\n%s", name, diff)
		}
	}
}

func TestMergeDelegatesReportsWhatIsLeftOut(t *testing.T) {
	b := delegateBuilder()
	root := addVS(t, b, "shop", "root", `
hosts: [reviews]
http:
- delegate: {name: missing}
- delegate: {name: has-hosts}
- delegate: {name: private, namespace: team}
- delegate: {name: nested}
- delegate: {name: exported, namespace: team}
`)
	addVS(t, b, "shop", "has-hosts", `{hosts: [other], http: [{route: [{destination: {host: reviews}}]}]}`)
	addVS(t, b, "team", "private", `{exportTo: [.], http: [{route: [{destination: {host: reviews}}]}]}`)
	addVS(t, b, "team", "exported", `{exportTo: [shop], http: [{route: [{destination: {host: reviews}}]}]}`)
	addVS(t, b, "shop", "nested", `{http: [{delegate: {name: exported, namespace: team}}, {route: [{destination: {host: reviews}}]}]}`)
	snap := b.Build()

	got, issues := snap.MergeDelegates(root)
	want := virtualService(t, `
hosts: [reviews]
http:
- route: [{destination: {host: reviews.shop.svc.cluster.local}}]
- route: [{destination: {host: reviews.team.svc.cluster.local}}]
`)
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("merged (-want +got):\n%s", diff)
	}
	key := func(ns, name string) model.ConfigKey {
		return model.ConfigKey{Kind: model.KindVirtualService, Namespace: ns, Name: name}
	}
	wantIssues := []model.DelegateIssue{
		{Rule: 0, Delegate: key("shop", "missing"), DelegateRule: -1, Reason: model.DelegateNotFound},
		{Rule: 1, Delegate: key("shop", "has-hosts"), DelegateRule: -1, Reason: model.DelegateNotFound},
		{Rule: 2, Delegate: key("team", "private"), DelegateRule: -1, Reason: model.DelegateNotExported},
		{Rule: 3, Delegate: key("shop", "nested"), DelegateRule: 0, Reason: model.DelegateNested},
	}
	if diff := cmp.Diff(wantIssues, issues); diff != "" {
		t.Errorf("issues (-want +got):\n%s", diff)
	}
}

// TestDelegateMatchMerging: a delegate rule applies only within its root
// rule's match; each condition both set must narrow, not widen.
func TestDelegateMatchMerging(t *testing.T) {
	tests := []struct {
		name, root, leaf string
		// want is the merged match list; empty means the delegate rule is
		// left out.
		want string
	}{
		{"no root match", `[]`, `[{uri: {prefix: /a}}]`, `[{uri: {prefix: /a}}]`},
		{"no delegate match", `[{uri: {prefix: /a}}]`, `[]`, `[{uri: {prefix: /a}}]`},
		{"longer prefix", `[{uri: {prefix: /a}}]`, `[{uri: {prefix: /ab}}]`, `[{uri: {prefix: /ab}}]`},
		{"exact under prefix", `[{uri: {prefix: /a}}]`, `[{uri: {exact: /a/b}}]`, `[{uri: {exact: /a/b}}]`},
		{"shorter prefix", `[{uri: {prefix: /ab}}]`, `[{uri: {prefix: /a}}]`, ``},
		{"regex under prefix", `[{uri: {prefix: /a}}]`, `[{uri: {regex: /a.*}}]`, ``},
		{"same exact", `[{method: {exact: GET}}]`, `[{method: {exact: GET}}]`, `[{method: {exact: GET}}]`},
		{"other exact", `[{method: {exact: GET}}]`, `[{method: {exact: PUT}}]`, ``},
		{"prefix under exact", `[{uri: {exact: /a}}]`, `[{uri: {prefix: /a}}]`, ``},
		{"under a regex", `[{uri: {regex: /a.*}}]`, `[{uri: {exact: /a}}]`, ``},
		{"root only sets uri", `[{uri: {prefix: /a}}]`, `[{authority: {exact: x}}]`, `[{uri: {prefix: /a}, authority: {exact: x}}]`},
		{"header narrowed", `[{headers: {h: {prefix: a}}}]`, `[{headers: {h: {exact: ab}}}]`, `[{headers: {h: {exact: ab}}}]`},
		{"header widened", `[{headers: {h: {exact: a}}}]`, `[{headers: {h: {prefix: a}}}]`, ``},
		{"query param conflict", `[{queryParams: {q: {exact: a}}}]`, `[{queryParams: {q: {exact: b}}}]`, ``},
		{"without header conflict", `[{withoutHeaders: {h: {exact: a}}}]`, `[{withoutHeaders: {h: {exact: b}}}]`, ``},
		{"case sensitivity differs", `[{ignoreUriCase: true}]`, `[{uri: {prefix: /a}}]`, ``},
		{"other port", `[{port: 80}]`, `[{port: 81}]`, ``},
		{"port inherited", `[{port: 80}]`, `[{uri: {prefix: /a}}]`, `[{port: 80, uri: {prefix: /a}}]`},
		{"source namespace must repeat", `[{sourceNamespace: a}]`, `[{uri: {prefix: /a}}]`, ``},
		{"source namespace repeated", `[{sourceNamespace: a}]`, `[{sourceNamespace: a}]`, `[{sourceNamespace: a}]`},
		{"source labels", `[{sourceLabels: {app: a}}]`, `[{sourceLabels: {version: v1}}]`, `[{sourceLabels: {app: a, version: v1}}]`},
		{"source labels conflict", `[{sourceLabels: {app: a}}]`, `[{sourceLabels: {app: b}}]`, ``},
		{"gateway outside root's", `[{gateways: [g1]}]`, `[{gateways: [g2]}]`, ``},
		{"gateway within root's", `[{gateways: [g1, g2]}]`, `[{gateways: [shop/g2]}]`, `[{gateways: [shop/g2]}]`},
		{"one root match of two", `[{uri: {prefix: /a}}, {uri: {prefix: /b}}]`, `[{uri: {prefix: /b/c}}]`, `[{uri: {prefix: /b/c}}]`},
		{"both root matches", `[{uri: {prefix: /a}}, {method: {exact: GET}}]`, `[{uri: {prefix: /a/b}}]`,
			`[{uri: {prefix: /a/b}}, {uri: {prefix: /a/b}, method: {exact: GET}}]`},
		{"one delegate match fails", `[{uri: {prefix: /a}}]`, `[{uri: {prefix: /a/b}}, {uri: {prefix: /c}}]`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := delegateBuilder()
			root := addVS(t, b, "shop", "root", `{hosts: [reviews], http: [{match: `+tt.root+`, delegate: {name: d}}]}`)
			addVS(t, b, "shop", "d", `{http: [{match: `+tt.leaf+`, route: [{destination: {host: reviews}}]}]}`)
			got, issues := b.Build().MergeDelegates(root)
			if tt.want == "" {
				if len(got.GetHttp()) != 0 || len(issues) != 1 || issues[0].Reason != model.DelegateConflict {
					t.Errorf("merged %v with issues %v, want the rule left out as a conflict", got.GetHttp(), issues)
				}
				return
			}
			want := virtualService(t, `{http: [{match: `+tt.want+`, route: [{destination: {host: reviews.shop.svc.cluster.local}}]}]}`)
			if len(issues) != 0 || len(got.GetHttp()) != 1 {
				t.Fatalf("merged %v with issues %v", got.GetHttp(), issues)
			}
			if diff := cmp.Diff(want.GetHttp()[0].GetMatch(), got.GetHttp()[0].GetMatch(), protocmp.Transform()); diff != "" {
				t.Errorf("matches (-want +got):\n%s", diff)
			}
		})
	}
}
