package mtls

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/emptypb"
	securityv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/pilotlight/pilotlight/translate/model"
)

const (
	strict     = securityv1beta1.PeerAuthentication_MutualTLS_STRICT
	permissive = securityv1beta1.PeerAuthentication_MutualTLS_PERMISSIVE
	disable    = securityv1beta1.PeerAuthentication_MutualTLS_DISABLE
	unset      = securityv1beta1.PeerAuthentication_MutualTLS_UNSET
)

// pa builds a PeerAuthentication ns/name; selector nil means none.
func pa(ns, name string, mode securityv1beta1.PeerAuthentication_MutualTLS_Mode, selector map[string]string, ports map[uint32]securityv1beta1.PeerAuthentication_MutualTLS_Mode) *model.Config {
	spec := &securityv1beta1.PeerAuthentication{Mtls: &securityv1beta1.PeerAuthentication_MutualTLS{Mode: mode}}
	if selector != nil {
		spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: selector}
	}
	for port, m := range ports {
		if spec.PortLevelMtls == nil {
			spec.PortLevelMtls = map[uint32]*securityv1beta1.PeerAuthentication_MutualTLS{}
		}
		spec.PortLevelMtls[port] = &securityv1beta1.PeerAuthentication_MutualTLS{Mode: m}
	}
	return &model.Config{Kind: model.KindPeerAuthentication, Namespace: ns, Name: name, Spec: spec}
}

func policies(cs ...*model.Config) *Policies {
	b := model.NewBuilder()
	for _, c := range cs {
		b.AddConfig(c)
	}
	return New(b.Build())
}

var app = map[string]string{"app": "reviews", "version": "v1"}

func TestForWorkload(t *testing.T) {
	for _, tc := range []struct {
		name    string
		configs []*model.Config
		ns      string
		labels  map[string]string
		want    Workload
	}{
		{name: "no policy is permissive", ns: "shop", labels: app, want: Workload{Mode: Permissive}},
		{
			name:    "mesh policy applies everywhere",
			configs: []*model.Config{pa("istio-system", "default", strict, nil, nil)},
			ns:      "shop", labels: app, want: Workload{Mode: Strict},
		},
		{
			name:    "mesh UNSET is permissive",
			configs: []*model.Config{pa("istio-system", "default", unset, nil, nil)},
			ns:      "shop", labels: app, want: Workload{Mode: Permissive},
		},
		{
			name:    "namespace replaces mesh",
			configs: []*model.Config{pa("istio-system", "default", strict, nil, nil), pa("shop", "default", disable, nil, nil)},
			ns:      "shop", labels: app, want: Workload{Mode: Disable},
		},
		{
			name:    "namespace policy stays in its namespace",
			configs: []*model.Config{pa("istio-system", "default", strict, nil, nil), pa("other", "default", disable, nil, nil)},
			ns:      "shop", labels: app, want: Workload{Mode: Strict},
		},
		{
			name:    "namespace UNSET inherits mesh",
			configs: []*model.Config{pa("istio-system", "default", strict, nil, nil), pa("shop", "default", unset, nil, nil)},
			ns:      "shop", labels: app, want: Workload{Mode: Strict},
		},
		{
			name:    "workload replaces namespace",
			configs: []*model.Config{pa("shop", "default", disable, nil, nil), pa("shop", "reviews", strict, map[string]string{"app": "reviews"}, nil)},
			ns:      "shop", labels: app, want: Workload{Mode: Strict},
		},
		{
			name:    "workload policy that does not select keeps namespace",
			configs: []*model.Config{pa("shop", "default", disable, nil, nil), pa("shop", "ratings", strict, map[string]string{"app": "ratings"}, nil)},
			ns:      "shop", labels: app, want: Workload{Mode: Disable},
		},
		{
			name:    "workload policy in another namespace does not select",
			configs: []*model.Config{pa("other", "reviews", strict, map[string]string{"app": "reviews"}, nil)},
			ns:      "shop", labels: app, want: Workload{Mode: Permissive},
		},
		{
			name:    "workload UNSET inherits namespace",
			configs: []*model.Config{pa("shop", "default", disable, nil, nil), pa("shop", "reviews", unset, map[string]string{"app": "reviews"}, nil)},
			ns:      "shop", labels: app, want: Workload{Mode: Disable},
		},
		{
			name: "port level replaces workload, UNSET ports inherit it",
			configs: []*model.Config{
				pa("istio-system", "default", permissive, nil, nil),
				pa("shop", "reviews", strict, map[string]string{"app": "reviews"}, map[uint32]securityv1beta1.PeerAuthentication_MutualTLS_Mode{8080: disable, 9090: unset, 9091: permissive}),
			},
			ns: "shop", labels: app,
			want: Workload{Mode: Strict, Ports: map[uint32]Mode{8080: Disable, 9090: Strict, 9091: Permissive}},
		},
		{
			name:    "selector in the root namespace is ignored",
			configs: []*model.Config{pa("istio-system", "reviews", strict, map[string]string{"app": "reviews"}, nil)},
			ns:      "istio-system", labels: app, want: Workload{Mode: Permissive},
		},
		{
			name:    "empty selector is a namespace policy",
			configs: []*model.Config{pa("shop", "all", strict, map[string]string{}, nil)},
			ns:      "shop", labels: app, want: Workload{Mode: Strict},
		},
		{
			name:    "first namespace policy by name wins",
			configs: []*model.Config{pa("shop", "b", disable, nil, nil), pa("shop", "a", strict, nil, nil)},
			ns:      "shop", labels: app, want: Workload{Mode: Strict},
		},
		{
			name: "first workload policy by name wins",
			configs: []*model.Config{
				pa("shop", "b-version", disable, map[string]string{"version": "v1"}, nil),
				pa("shop", "a-app", strict, map[string]string{"app": "reviews"}, nil),
			},
			ns: "shop", labels: app, want: Workload{Mode: Strict},
		},
		{
			name:    "a config of the wrong type counts as an empty policy",
			configs: []*model.Config{{Kind: model.KindPeerAuthentication, Namespace: "shop", Name: "odd", Spec: &emptypb.Empty{}}},
			ns:      "shop", labels: app, want: Workload{Mode: Permissive},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := policies(tc.configs...).ForWorkload(tc.ns, tc.labels)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ForWorkload (-want +got):\n%s", diff)
			}
		})
	}
}

func TestForPort(t *testing.T) {
	w := Workload{Mode: Strict, Ports: map[uint32]Mode{8080: Disable, 9090: Permissive}}
	for port, want := range map[uint32]Mode{8080: Disable, 9090: Permissive, 7070: Strict} {
		if got := w.ForPort(port); got != want {
			t.Errorf("ForPort(%d) = %v, want %v", port, got, want)
		}
	}
	if diff := cmp.Diff([]uint32{8080, 9090}, w.PortLevel()); diff != "" {
		t.Errorf("PortLevel (-want +got):\n%s", diff)
	}
}

func TestNamespaceModeIgnoresWorkloadPolicies(t *testing.T) {
	p := policies(
		pa("istio-system", "default", strict, nil, nil),
		pa("shop", "reviews", disable, map[string]string{"app": "reviews"}, nil),
		pa("legacy", "default", disable, nil, nil),
	)
	for ns, want := range map[string]Mode{"shop": Strict, "legacy": Disable, "istio-system": Strict} {
		if got := p.NamespaceMode(ns); got != want {
			t.Errorf("NamespaceMode(%s) = %v, want %v", ns, got, want)
		}
	}
}

func TestConflicts(t *testing.T) {
	p := policies(
		pa("istio-system", "default", strict, nil, nil),
		pa("istio-system", "extra", disable, nil, nil),
		pa("shop", "a", strict, nil, nil),
		pa("shop", "b", disable, nil, nil),
		pa("shop", "c", disable, nil, nil),
		pa("shop", "by-app", strict, map[string]string{"app": "reviews"}, nil),
		pa("shop", "by-version", disable, map[string]string{"version": "v1"}, nil),
	)
	names := func(cs []*model.Config) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Namespace+"/"+c.Name)
		}
		return out
	}
	var got [][]string
	for _, c := range p.Conflicts() {
		got = append(got, append([]string{c.Winner.Namespace + "/" + c.Winner.Name}, names(c.Ignored)...))
	}
	want := [][]string{{"istio-system/default", "istio-system/extra"}, {"shop/a", "shop/b", "shop/c"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Conflicts (-want +got):\n%s", diff)
	}

	c, ok := p.SelectorConflict("shop", app)
	if !ok {
		t.Fatal("SelectorConflict: want a conflict for a workload both policies select")
	}
	if c.Winner.Name != "by-app" || len(c.Ignored) != 1 || c.Ignored[0].Name != "by-version" {
		t.Errorf("SelectorConflict = %s wins over %v, want by-app over [by-version]", c.Winner.Name, names(c.Ignored))
	}
	if _, ok := p.SelectorConflict("shop", map[string]string{"app": "reviews", "version": "v2"}); ok {
		t.Error("SelectorConflict: a workload only one policy selects has no conflict")
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Permissive: "PERMISSIVE", Strict: "STRICT", Disable: "DISABLE"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", m, got, want)
		}
	}
}

func TestForGRPCServer(t *testing.T) {
	labelled := map[string]string{TLSModeLabel: TLSModeIstio}
	for _, tc := range []struct {
		mode   Mode
		labels map[string]string
		want   Mode
	}{
		{Permissive, labelled, Strict},
		{Permissive, map[string]string{TLSModeLabel: "disabled"}, Disable},
		{Permissive, nil, Disable},
		{Strict, nil, Strict},
		{Disable, labelled, Disable},
	} {
		if got := ForGRPCServer(tc.mode, tc.labels); got != tc.want {
			t.Errorf("ForGRPCServer(%v, %v) = %v, want %v", tc.mode, tc.labels, got, tc.want)
		}
	}
}
