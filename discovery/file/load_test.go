package file

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
)

const webHost = "web.shop.svc.cluster.local"

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", `
---
# A leading separator and a comment-only document do not count.
---
`+serviceYAML("web", "shop", 80)+`
---
apiVersion: v1
kind: Service
metadata:
  name: no-namespace
spec:
  clusterIP: 10.96.0.2
  ports: [{name: http, port: 80}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - route:
    - destination: {host: web}
`)
	write(t, dir, "b.yml", `
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: shop, labels: {istio-injection: enabled}}
- apiVersion: v1
  kind: Node
  metadata: {name: node-1, namespace: ignored-for-nodes}
- apiVersion: security.istio.io/v1beta1
  kind: PeerAuthentication
  metadata: {name: default, namespace: shop}
  spec: {mtls: {mode: STRICT}}
`)
	write(t, dir, "c.yaml", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
`)
	// None of these is read: wrong extension, hidden, or in a subdirectory.
	write(t, dir, "README.md", "apiVersion: v1\nkind: Service\n")
	write(t, dir, ".#a.yaml", "not: [valid")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "sub"), "x.yaml", "not: [valid")

	snap, problems := mustLoad(t, New(dir, Options{}))

	var hosts []string
	for _, svc := range snap.Services() {
		hosts = append(hosts, svc.Hostname)
	}
	if want := []string{"no-namespace.default.svc.cluster.local", webHost}; !slices.Equal(hosts, want) {
		t.Errorf("services = %v, want %v", hosts, want)
	}
	if n := len(snap.Configs(model.KindVirtualService)); n != 1 {
		t.Errorf("%d VirtualServices, want 1", n)
	}
	if n := len(snap.Configs(model.KindPeerAuthentication)); n != 1 {
		t.Errorf("%d PeerAuthentications, want 1", n)
	}
	if ns := snap.Namespace("shop"); ns == nil || ns.Labels["istio-injection"] != "enabled" {
		t.Errorf("namespace shop = %+v", ns)
	}
	want := []problemLine{
		{File: "c.yaml", Index: 0, Kind: "Deployment", Namespace: "shop", Name: "web", Warning: true, Message: "not used by pilotlight"},
		{File: "c.yaml", Index: 1, Kind: "Widget", Name: "w", Warning: true, Message: "not used by pilotlight"},
	}
	if diff := cmp.Diff(want, lines(problems, want)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// Each case is one file; the object in it must be rejected with the given
// problem, and nothing else in the file may be lost.
func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []problemLine
	}{
		{
			name: "unknown field",
			yaml: `
apiVersion: v1
kind: Service
metadata: {name: bad, namespace: shop}
spec:
  clusterIP: 10.96.0.9
  prots: []
`,
			want: []problemLine{{Index: 0, Kind: "Service", Namespace: "shop", Name: "bad", Field: "spec.prots", Message: "unknown field"}},
		},
		{
			name: "duplicate key",
			yaml: `
apiVersion: v1
kind: Service
metadata: {name: bad, namespace: shop}
spec:
  clusterIP: 10.96.0.9
  clusterIP: 10.96.0.8
`,
			want: []problemLine{{Index: 0, Kind: "Service", Namespace: "shop", Name: "bad", Message: `line 6: key "clusterIP" already set`}},
		},
		{
			name: "unknown field in an Istio spec",
			yaml: `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: bad, namespace: shop}
spec:
  host: web
  subset: []
`,
			want: []problemLine{{Index: 0, Kind: "DestinationRule", Namespace: "shop", Name: "bad", Field: "spec", Message: `unknown field "subset"`}},
		},
		{
			name: "wrong type",
			yaml: `
apiVersion: v1
kind: Service
metadata: {name: bad, namespace: shop}
spec:
  ports: [{name: http, port: eighty}]
`,
			want: []problemLine{{Index: 0, Kind: "Service", Namespace: "shop", Name: "bad", Message: "cannot unmarshal"}},
		},
		{
			name: "validation",
			yaml: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad, namespace: shop}
spec:
  hosts: [web]
  http:
  - route:
    - destination: {host: web}
      weight: -5
`,
			want: []problemLine{{Index: 0, Kind: "VirtualService", Namespace: "shop", Name: "bad", Field: "spec.http[0].route[0].weight", Message: "negative"}},
		},
		{
			name: "version not served",
			yaml: `
apiVersion: networking.istio.io/v9
kind: VirtualService
metadata: {name: bad, namespace: shop}
spec: {hosts: [web]}
`,
			want: []problemLine{{Index: 0, Kind: "VirtualService", Namespace: "shop", Name: "bad", Field: "apiVersion", Message: "not served in version networking.istio.io/v9"}},
		},
		{
			name: "missing name",
			yaml: `
apiVersion: v1
kind: Service
metadata: {namespace: shop}
`,
			want: []problemLine{{Index: 0, Kind: "Service", Namespace: "shop", Field: "metadata.name", Message: "name is required"}},
		},
		{
			name: "missing kind",
			yaml: `
apiVersion: v1
metadata: {name: bad}
`,
			want: []problemLine{{Index: 0, Name: "bad", Message: "apiVersion and kind are required"}},
		},
		{
			name: "broken YAML",
			yaml: `
apiVersion: v1
kind: Service
metadata: {name: bad
`,
			want: []problemLine{{Index: 0, Message: "invalid YAML in the document starting at line 1"}},
		},
		{
			name: "not an object",
			yaml: `
- just
- a list
`,
			want: []problemLine{{Index: 0, Message: "not a Kubernetes object"}},
		},
		{
			name: "bad List item",
			yaml: `
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: bad, namespace: shop}
  spec: {clusterIP: 10.96.0.9, ports: [{name: http, port: 0}]}
`,
			want: []problemLine{{Index: 0, Kind: "Service", Namespace: "shop", Name: "bad", Field: "items[0].spec.ports[0].port", Message: "outside 1-65535"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// The good object comes after the bad one in the same file.
			write(t, dir, "a.yaml", tt.yaml+"---\n"+serviceYAML("web", "shop", 80))
			snap, problems := mustLoad(t, New(dir, Options{}))
			for i := range tt.want {
				tt.want[i].File = "a.yaml"
			}
			if diff := cmp.Diff(tt.want, lines(problems, tt.want)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if snap.Service("bad.shop.svc.cluster.local") != nil || len(snap.Configs(model.KindVirtualService))+len(snap.Configs(model.KindDestinationRule)) != 0 {
				t.Error("the rejected object is served")
			}
			if snap.Service(webHost) == nil {
				t.Error("the good object after the bad one is not served")
			}
		})
	}
}

// A sequence of edits to one directory, checking after each that bad
// input never removes what was served before.
func TestLoadKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	src := New(dir, Options{})
	vs := func(host string) string {
		return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [` + host + `]
`
	}
	vsHosts := func(snap *model.Snapshot) []string {
		c := snap.Config(model.ConfigKey{Kind: model.KindVirtualService, Namespace: "shop", Name: "web"})
		if c == nil {
			return nil
		}
		return c.Spec.(*networkingv1alpha3.VirtualService).GetHosts()
	}

	// 1. Both objects good.
	write(t, dir, "a.yaml", serviceYAML("web", "shop", 80)+"---"+vs("web"))
	snap, problems := mustLoad(t, src)
	if len(problems) != 0 || vsHosts(snap) == nil || snap.Service(webHost) == nil {
		t.Fatalf("step 1: problems %v, snapshot %v", problems, snap.Version)
	}

	// 2. The VirtualService turns invalid while the Service changes: the
	// Service change applies and the old VirtualService stays.
	write(t, dir, "a.yaml", serviceYAML("web", "shop", 81)+"---"+vs("web")+"  tcp: [{route: [{destination: {host: web}, weight: -1}]}]\n")
	snap, problems = mustLoad(t, src)
	if got := servicePorts(snap, webHost); !slices.Equal(got, []uint32{81}) {
		t.Errorf("step 2: service ports %v, want [81]", got)
	}
	if got := vsHosts(snap); !slices.Equal(got, []string{"web"}) {
		t.Errorf("step 2: VirtualService hosts %v, want the last good [web]", got)
	}
	want := []problemLine{{File: "a.yaml", Index: 1, Kind: "VirtualService", Namespace: "shop", Name: "web", Field: "spec.tcp[0].route[0].weight", Message: "the last good version stays served"}}
	if diff := cmp.Diff(want, lines(problems, want)); diff != "" {
		t.Errorf("step 2: problems (-want +got):\n%s", diff)
	}

	// 3. The whole file becomes unparseable: everything it defined stays.
	write(t, dir, "a.yaml", "apiVersion: v1\nkind: [Service\n")
	snap, problems = mustLoad(t, src)
	if got := servicePorts(snap, webHost); !slices.Equal(got, []uint32{81}) {
		t.Errorf("step 3: service ports %v, want [81]", got)
	}
	if got := vsHosts(snap); !slices.Equal(got, []string{"web"}) {
		t.Errorf("step 3: VirtualService hosts %v, want [web]", got)
	}
	want = []problemLine{
		{File: "a.yaml", Index: -1, Kind: "Service", Namespace: "shop", Name: "web", Warning: true, Message: "the last good version stays served"},
		{File: "a.yaml", Index: -1, Kind: "VirtualService", Namespace: "shop", Name: "web", Warning: true, Message: "the last good version stays served"},
		{File: "a.yaml", Index: 0, Message: "invalid YAML"},
	}
	if diff := cmp.Diff(want, lines(problems, want)); diff != "" {
		t.Errorf("step 3: problems (-want +got):\n%s", diff)
	}

	// 4. Fixed, without the VirtualService: now it really goes.
	write(t, dir, "a.yaml", serviceYAML("web", "shop", 82))
	snap, problems = mustLoad(t, src)
	if len(problems) != 0 || vsHosts(snap) != nil || !slices.Equal(servicePorts(snap, webHost), []uint32{82}) {
		t.Errorf("step 4: problems %v, VirtualService %v, ports %v", problems, vsHosts(snap), servicePorts(snap, webHost))
	}

	// 5. A new object that was never good is not served, and the problem
	// does not pretend an old version is.
	write(t, dir, "b.yaml", vs(`""`))
	snap, problems = mustLoad(t, src)
	if vsHosts(snap) != nil {
		t.Error("step 5: invalid new VirtualService is served")
	}
	if len(problems) != 1 || strings.Contains(problems[0].Message, "last good") {
		t.Errorf("step 5: problems %v", problems)
	}

	// 6. An empty file, as an editor leaves it between truncating and
	// writing, keeps its objects; only deleting a file removes them.
	write(t, dir, "a.yaml", "")
	snap, problems = mustLoad(t, src)
	if !slices.Equal(servicePorts(snap, webHost), []uint32{82}) {
		t.Errorf("step 6: ports %v, want the last good [82]", servicePorts(snap, webHost))
	}
	want = []problemLine{
		{File: "a.yaml", Index: -1, Kind: "Service", Namespace: "shop", Name: "web", Warning: true, Message: "the file is empty"},
		{File: "b.yaml", Index: 0, Kind: "VirtualService", Namespace: "shop", Name: "web", Field: "spec.hosts[0]", Message: "host must not be empty"},
	}
	if diff := cmp.Diff(want, lines(problems, want)); diff != "" {
		t.Errorf("step 6: problems (-want +got):\n%s", diff)
	}

	// 7. A deleted file takes its objects with it.
	remove(t, dir, "a.yaml")
	remove(t, dir, "b.yaml")
	snap, problems = mustLoad(t, src)
	if len(problems) != 0 || len(snap.Services()) != 0 {
		t.Errorf("step 7: problems %v, services %v", problems, snap.Services())
	}
}

func TestLoadDuplicates(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b.yaml", serviceYAML("web", "shop", 82))
	write(t, dir, "a.yaml", serviceYAML("web", "shop", 80)+"---"+serviceYAML("web", "shop", 81))
	snap, problems := mustLoad(t, New(dir, Options{}))
	if got := servicePorts(snap, webHost); !slices.Equal(got, []uint32{80}) {
		t.Errorf("ports %v, want the first definition's [80]", got)
	}
	want := []problemLine{
		{File: "a.yaml", Index: 1, Kind: "Service", Namespace: "shop", Name: "web", Message: "already defined in a.yaml document 0"},
		{File: "b.yaml", Index: 0, Kind: "Service", Namespace: "shop", Name: "web", Message: "already defined in a.yaml document 0"},
	}
	if diff := cmp.Diff(want, lines(problems, want)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestLoadMissingDirectory(t *testing.T) {
	if _, _, err := New(filepath.Join(t.TempDir(), "nope"), Options{}).Load(); err == nil {
		t.Error("Load of a missing directory should fail")
	}
}

func TestLoadOptions(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", serviceYAML("web", "shop", 80))
	mesh, err := model.ParseMeshConfig([]byte("trustDomain: example.org\n"))
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := mustLoad(t, New(dir, Options{Mesh: mesh, DomainSuffix: "corp.example"}))
	if snap.Mesh().GetTrustDomain() != "example.org" {
		t.Errorf("trust domain %q", snap.Mesh().GetTrustDomain())
	}
	if snap.Service("web.shop.svc.corp.example") == nil {
		t.Error("domain suffix not applied")
	}
}

func TestCleanProtoError(t *testing.T) {
	for _, in := range []string{
		`proto: (line 1:21): unknown field "htp"`,
		"proto:\u00a0(line 1:21): unknown field \"htp\"",
		`proto:  (line 1:21): unknown field "htp"`,
		`unknown field "htp"`,
	} {
		if got := cleanProtoError(in); got != `unknown field "htp"` {
			t.Errorf("cleanProtoError(%q) = %q", in, got)
		}
	}
}
