package authz_test

import (
	"maps"
	"slices"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetworkv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	securityv1beta1 "istio.io/api/security/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/translate/security/authz"
)

// policy decodes an AuthorizationPolicy spec written as YAML.
func policy(t *testing.T, ns, name, spec string) *model.Config {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	ap := &securityv1beta1.AuthorizationPolicy{}
	if err := protojson.Unmarshal(js, ap); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &model.Config{Kind: model.KindAuthorizationPolicy, Namespace: ns, Name: name, Spec: ap}
}

func snapshot(mesh *meshv1alpha1.MeshConfig, configs ...*model.Config) *model.Snapshot {
	b := model.NewBuilder()
	b.SetMesh(mesh)
	for _, c := range configs {
		b.AddConfig(c)
	}
	return b.Build()
}

var app = map[string]string{"app": "ledger"}

// typed unpacks filter configs of type T, checking each validates.
func typed[T proto.Message](t *testing.T, configs ...*anypb.Any) []T {
	t.Helper()
	var out []T
	for _, a := range configs {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		if err := resource.Validate(m); err != nil {
			t.Errorf("%s does not validate: %v", a.GetTypeUrl(), err)
		}
		if r, ok := m.(T); ok {
			out = append(out, r)
		}
	}
	return out
}

// httpRBAC returns the RBAC configs of HTTP filters.
func httpRBAC(t *testing.T, fs []*hcmv3.HttpFilter) []*rbachttpv3.RBAC {
	t.Helper()
	var configs []*anypb.Any
	for _, f := range fs {
		configs = append(configs, f.GetTypedConfig())
	}
	return typed[*rbachttpv3.RBAC](t, configs...)
}

// networkRBAC returns the RBAC configs of network filters.
func networkRBAC(t *testing.T, fs []*listenerv3.Filter) []*rbacnetworkv3.RBAC {
	t.Helper()
	var configs []*anypb.Any
	for _, f := range fs {
		configs = append(configs, f.GetTypedConfig())
	}
	return typed[*rbacnetworkv3.RBAC](t, configs...)
}

func TestSelection(t *testing.T) {
	snap := snapshot(nil,
		policy(t, "istio-system", "mesh-wide", `action: DENY`),
		policy(t, "istio-system", "root-selected", `{selector: {matchLabels: {app: ledger}}}`),
		policy(t, "bank", "ns-wide", `action: AUDIT`),
		policy(t, "bank", "selected", `{action: CUSTOM, provider: {name: x}, selector: {matchLabels: {app: ledger}}}`),
		policy(t, "bank", "other-app", `{selector: {matchLabels: {app: vault}}}`),
		policy(t, "bank", "gateway", `{targetRefs: [{kind: Gateway, name: gw}]}`),
		policy(t, "shop", "other-ns", `{}`),
	)
	got := authz.For(snap, "bank", map[string]string{"app": "ledger", "version": "v1"})
	names := func(cs []*model.Config) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Namespace+"/"+c.Name)
		}
		return out
	}
	want := map[string][]string{
		"allow":  {"istio-system/root-selected"},
		"deny":   {"istio-system/mesh-wide"},
		"audit":  {"bank/ns-wide"},
		"custom": {"bank/selected"},
	}
	for action, list := range map[string][]*model.Config{"allow": got.Allow, "deny": got.Deny, "audit": got.Audit, "custom": got.Custom} {
		if diff := cmp.Diff(want[action], names(list)); diff != "" {
			t.Errorf("%s policies (-want +got):\n%s", action, diff)
		}
	}
	if p := authz.For(snap, "shop", map[string]string{"app": "web"}); len(p.Allow) != 1 || len(p.Deny) != 1 || len(p.Audit)+len(p.Custom) != 0 {
		t.Errorf("shop/web gets %+v, want shop/other-ns and the mesh-wide DENY", p)
	}
}

// anyPrincipal and anyPermission are what a rule without from or to
// checks.
var (
	anyPrincipal  = &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}
	anyPermission = &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}}
)

func TestAllowWithoutRulesDeniesEverything(t *testing.T) {
	snap := snapshot(nil, policy(t, "bank", "nothing", `{}`))
	p := authz.For(snap, "bank", app)
	for name, rs := range map[string][]*rbacv3.RBAC{
		"http": {httpRBAC(t, authz.HTTPFilters(snap, p))[0].GetRules()},
		"tcp":  {networkRBAC(t, authz.NetworkFilters(snap, p))[0].GetRules()},
		"grpc": {httpRBAC(t, authz.GRPCFilters(snap, p))[0].GetRules()},
	} {
		r := rs[0]
		if r.GetAction() != rbacv3.RBAC_ALLOW || len(r.GetPolicies()) != 1 {
			t.Fatalf("%s: got %v, want one ALLOW policy", name, r)
		}
		pol := r.GetPolicies()["ns[bank]-policy[nothing]-rule[0]"]
		if pol.GetPermissions()[0].GetNotRule().GetAny() != true || pol.GetPrincipals()[0].GetNotId().GetAny() != true {
			t.Errorf("%s: policy %v can match something", name, pol)
		}
	}
}

func TestNoAllowPolicyNoAllowFilter(t *testing.T) {
	snap := snapshot(nil, policy(t, "bank", "deny-get", `{action: DENY, rules: [{to: [{operation: {methods: [GET]}}]}]}`))
	p := authz.For(snap, "bank", app)
	got := httpRBAC(t, authz.HTTPFilters(snap, p))
	if len(got) != 1 || got[0].GetRules().GetAction() != rbacv3.RBAC_DENY {
		t.Fatalf("got %v, want a single DENY filter", got)
	}
	if fs := authz.HTTPFilters(snap, authz.For(snap, "shop", app)); len(fs) != 0 {
		t.Errorf("a namespace without policies gets filters: %v", fs)
	}
}

func TestMatchers(t *testing.T) {
	mesh := model.DefaultMeshConfig()
	mesh.TrustDomain = "example.org"
	exact := func(s string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
	}
	regex := func(s string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: s}}}
	}
	prefix := func(s string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: s}}
	}
	suffix := func(s string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: s}}
	}
	authn := func(m *matcherv3.StringMatcher) *rbacv3.Principal {
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{Authenticated: &rbacv3.Principal_Authenticated{PrincipalName: m}}}
	}
	path := func(m *matcherv3.StringMatcher) *rbacv3.Permission {
		return &rbacv3.Permission{Rule: &rbacv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{Rule: &matcherv3.PathMatcher_Path{Path: m}}}}
	}
	for _, tc := range []struct {
		name, rule string
		principal  *rbacv3.Principal
		permission *rbacv3.Permission
	}{
		// cluster.local in a policy means the mesh's own trust domain.
		{name: "principal", rule: `{from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}]}`,
			principal: authn(exact("spiffe://example.org/ns/shop/sa/web"))},
		{name: "any principal", rule: `{from: [{source: {principals: ["*"]}}]}`, principal: authn(regex(".+"))},
		{name: "principal suffix", rule: `{from: [{source: {principals: ["*/sa/web"]}}]}`, principal: authn(regex(`spiffe://.*/sa/web`))},
		{name: "principal prefix", rule: `{from: [{source: {principals: ["other.org/*"]}}]}`, principal: authn(prefix("spiffe://other.org/"))},
		{name: "namespace glob", rule: `{from: [{source: {namespaces: ["team-*"]}}]}`, principal: authn(regex(`.*/ns/team-.*/.*`))},
		{name: "service account in the policy's namespace", rule: `{from: [{source: {serviceAccounts: [batch]}}]}`,
			principal: authn(regex(`spiffe://[^/]+/ns/bank/sa/batch`))},
		{name: "exact path", rule: `{to: [{operation: {paths: [/a/b]}}]}`, permission: path(exact("/a/b"))},
		{name: "path prefix", rule: `{to: [{operation: {paths: [/a/*]}}]}`, permission: path(prefix("/a/"))},
		{name: "path suffix", rule: `{to: [{operation: {paths: ["*.css"]}}]}`, permission: path(suffix(".css"))},
		{name: "any path", rule: `{to: [{operation: {paths: ["*"]}}]}`, permission: path(regex(".+"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := snapshot(mesh, policy(t, "bank", "p", `{rules: [`+tc.rule+`]}`))
			got := httpRBAC(t, authz.HTTPFilters(snap, authz.For(snap, "bank", app)))[0].GetRules().GetPolicies()["ns[bank]-policy[p]-rule[0]"]
			want := &rbacv3.Policy{Principals: []*rbacv3.Principal{anyPrincipal}, Permissions: []*rbacv3.Permission{anyPermission}}
			if tc.principal != nil {
				want.Principals = []*rbacv3.Principal{{Identifier: &rbacv3.Principal_AndIds{AndIds: &rbacv3.Principal_Set{Ids: []*rbacv3.Principal{tc.principal}}}}}
			}
			if tc.permission != nil {
				want.Permissions = []*rbacv3.Permission{{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{Rules: []*rbacv3.Permission{tc.permission}}}}}
			}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("policy (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnenforceableErrsTowardsDenying: a condition a target cannot check
// leaves an ALLOW rule out and widens a DENY rule, for HTTP-only fields on
// TCP, JWT claims on gRPC, and malformed values everywhere.
func TestUnenforceableErrsTowardsDenying(t *testing.T) {
	snap := snapshot(nil,
		policy(t, "bank", "allow", `{rules: [
			{to: [{operation: {methods: [GET]}}]},
			{from: [{source: {requestPrincipals: ["*"]}}]},
			{from: [{source: {ipBlocks: [not-an-ip]}}]},
			{to: [{operation: {ports: ["8080"]}}]}]}`),
		policy(t, "bank", "deny", `{action: DENY, rules: [
			{from: [{source: {namespaces: [evil]}}], to: [{operation: {paths: [/admin]}}]},
			{when: [{key: "request.headers[grpc-trace-bin]", values: ["*"]}, {key: source.ip, values: [10.0.0.1]}]}]}`),
	)
	p := authz.For(snap, "bank", app)
	policies := func(r *rbacv3.RBAC) []string { return slices.Sorted(maps.Keys(r.GetPolicies())) }

	httpF := httpRBAC(t, authz.HTTPFilters(snap, p))
	if diff := cmp.Diff([]string{"ns[bank]-policy[allow]-rule[0]", "ns[bank]-policy[allow]-rule[1]", "ns[bank]-policy[allow]-rule[3]"}, policies(httpF[1].GetRules())); diff != "" {
		t.Errorf("HTTP ALLOW rules (-want +got):\n%s", diff)
	}
	tcp := networkRBAC(t, authz.NetworkFilters(snap, p))
	if diff := cmp.Diff([]string{"ns[bank]-policy[allow]-rule[3]"}, policies(tcp[1].GetRules())); diff != "" {
		t.Errorf("TCP ALLOW rules (-want +got):\n%s", diff)
	}
	// On TCP the DENY rule's path is left out: everyone from evil is denied.
	denyTCP := tcp[0].GetRules().GetPolicies()["ns[bank]-policy[deny]-rule[0]"]
	if diff := cmp.Diff([]*rbacv3.Permission{anyPermission}, denyTCP.GetPermissions(), protocmp.Transform()); diff != "" {
		t.Errorf("TCP DENY permissions (-want +got):\n%s", diff)
	}
	grpcF := httpRBAC(t, authz.GRPCFilters(snap, p))
	if diff := cmp.Diff([]string{"ns[bank]-policy[allow]-rule[0]", "ns[bank]-policy[allow]-rule[3]"}, policies(grpcF[1].GetRules())); diff != "" {
		t.Errorf("gRPC ALLOW rules (-want +got):\n%s", diff)
	}
	// gRPC rejects grpc-* header matchers: the condition is left out and
	// the source.ip one stays.
	denyGRPC := grpcF[0].GetRules().GetPolicies()["ns[bank]-policy[deny]-rule[1]"]
	ids := denyGRPC.GetPrincipals()[0].GetAndIds().GetIds()
	if len(ids) != 1 || ids[0].GetDirectRemoteIp().GetAddressPrefix() != "10.0.0.1" {
		t.Errorf("gRPC DENY principals = %v, want the source.ip condition alone", ids)
	}

	var fields []string
	for _, target := range []authz.Target{authz.HTTP, authz.TCP, authz.GRPC} {
		for _, u := range authz.Unenforced(snap, snap.Config(model.ConfigKey{Kind: model.KindAuthorizationPolicy, Namespace: "bank", Name: "allow"}), target) {
			fields = append(fields, target.String()+" "+u.Field)
		}
	}
	want := []string{
		"HTTP ports spec.rules[2].from[0].source.ipBlocks",
		"TCP ports spec.rules[0].to[0].operation.methods",
		"TCP ports spec.rules[1].from[0].source.requestPrincipals",
		"TCP ports spec.rules[2].from[0].source.ipBlocks",
		"proxyless gRPC servers spec.rules[1].from[0].source.requestPrincipals",
		"proxyless gRPC servers spec.rules[2].from[0].source.ipBlocks",
	}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("unenforced (-want +got):\n%s", diff)
	}
}

func TestCustom(t *testing.T) {
	mesh := model.DefaultMeshConfig()
	mesh.ExtensionProviders = []*meshv1alpha1.MeshConfig_ExtensionProvider{{
		Name: "checker",
		Provider: &meshv1alpha1.MeshConfig_ExtensionProvider_EnvoyExtAuthzHttp{EnvoyExtAuthzHttp: &meshv1alpha1.MeshConfig_ExtensionProvider_EnvoyExternalAuthorizationHttpProvider{
			Service: "checker.authz.svc.cluster.local", Port: 8000,
		}},
	}}
	b := model.NewBuilder()
	b.SetMesh(mesh)
	b.AddService(&model.Service{Hostname: "checker.authz.svc.cluster.local", Name: "checker", Namespace: "authz", Ports: []model.Port{{Name: "http", Number: 8000, Protocol: model.HTTP}}})
	b.AddConfig(policy(t, "bank", "ext", `{action: CUSTOM, provider: {name: checker}, rules: [{to: [{operation: {paths: [/pay/*]}}]}]}`))
	snap := b.Build()
	p := authz.For(snap, "bank", app)

	fs := authz.CustomHTTPFilters(snap, p)
	if len(fs) != 2 || fs[0].GetName() != "envoy.filters.http.rbac" || fs[1].GetName() != "envoy.filters.http.ext_authz" {
		t.Fatalf("got filters %v, want RBAC then ext_authz", fs)
	}
	r := httpRBAC(t, fs)[0]
	if r.GetRules() != nil || r.GetShadowRules().GetPolicies()["istio-ext-authz-checker-ns[bank]-policy[ext]-rule[0]"] == nil {
		t.Errorf("RBAC must only mark requests for the provider: %v", r)
	}
	// An HTTP provider is not asked about TCP connections, as in Istio.
	if fs := authz.NetworkFilters(snap, p); len(fs) != 0 {
		t.Errorf("TCP filters for an HTTP provider: %v", fs)
	}
	// gRPC cannot ask: what the policy matches is denied.
	g := httpRBAC(t, authz.GRPCFilters(snap, p))
	if len(g) != 1 || g[0].GetRules().GetAction() != rbacv3.RBAC_DENY || len(g[0].GetRules().GetPolicies()) != 1 {
		t.Errorf("gRPC CUSTOM = %v, want one DENY policy", g)
	}

	// A provider that does not resolve denies what the policy matches.
	broken := snapshot(nil, policy(t, "bank", "ext", `{action: CUSTOM, provider: {name: missing}, rules: [{}]}`))
	bp := authz.For(broken, "bank", app)
	got := httpRBAC(t, authz.CustomHTTPFilters(broken, bp))
	if len(got) != 1 || got[0].GetRules().GetAction() != rbacv3.RBAC_DENY || len(got[0].GetRules().GetPolicies()) != 1 {
		t.Errorf("broken provider: got %v, want one enforced DENY policy", got)
	}
	if err := authz.CheckProvider(broken, "missing"); err == nil {
		t.Error("a missing provider checks out")
	}
	if err := authz.CheckProvider(snap, "checker"); err != nil {
		t.Errorf("a good provider fails: %v", err)
	}
}

func TestDryRun(t *testing.T) {
	c := policy(t, "bank", "observe", `{action: DENY, rules: [{}]}`)
	c.Annotations = map[string]string{authz.DryRunAnnotation: "true"}
	snap := snapshot(nil, c)
	p := authz.For(snap, "bank", app)
	r := httpRBAC(t, authz.HTTPFilters(snap, p))[0]
	if r.GetRules() != nil || len(r.GetShadowRules().GetPolicies()) != 1 || r.GetShadowRulesStatPrefix() != "istio_dry_run_deny_" {
		t.Errorf("dry run = %v, want shadow rules only", r)
	}
	if fs := authz.GRPCFilters(snap, p); len(fs) != 0 {
		t.Errorf("gRPC enforces a dry-run policy: %v", fs)
	}
}
