package translate_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/discovery/file"
	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/translate/gateway"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/networking"
	"github.com/pilotlight/pilotlight/translate/resource"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/out")

// goldenCase is testdata/in/<case>/proxy.yaml: the proxy whose config is
// rendered, and where its mesh comes from.
type goldenCase struct {
	// Node is the xDS node, as protojson (id, metadata, locality).
	Node json.RawMessage `json:"node"`
	// Listeners a proxyless client or server subscribes to by name. Envoy
	// subscribes to listeners and clusters by wildcard.
	Listeners []string `json:"listeners,omitempty"`
	// ConfigDir, relative to the case directory; default "config".
	ConfigDir string `json:"configDir,omitempty"`
	// MeshConfig file, relative to the case directory; optional.
	MeshConfig string `json:"meshConfig,omitempty"`
}

// TestGolden renders, for each case, exactly what its proxy would receive
// by following references the way a client does (listeners name route
// tables, routes name clusters, EDS clusters name load assignments) and
// compares it with testdata/out/<case>.<type>.yaml. Run with -update (or
// make update-golden) to rewrite them; stale outputs are removed.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/in/*/proxy.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, path := range cases {
		dir := filepath.Dir(path)
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			got := renderCase(t, dir)
			for kind, body := range got {
				out := filepath.Join("testdata", "out", name+"."+kind+".yaml")
				if *update {
					if err := os.WriteFile(out, body, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				golden, err := os.ReadFile(out)
				if err != nil {
					t.Fatalf("%v (run make update-golden)", err)
				}
				if diff := cmp.Diff(string(golden), string(body)); diff != "" {
					t.Errorf("%s differs from what is generated (-golden +generated):\n%s", out, diff)
				}
			}
		})
	}
	if *update {
		// Prune outputs whose case no longer exists. Deciding by the
		// inputs, not by what ran, keeps -run filters safe.
		outs, _ := filepath.Glob("testdata/out/*.yaml")
		for _, f := range outs {
			name, _, _ := strings.Cut(filepath.Base(f), ".")
			if _, err := os.Stat(filepath.Join("testdata", "in", name, "proxy.yaml")); os.IsNotExist(err) {
				os.Remove(f)
			}
		}
	}
}

func renderCase(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "proxy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c goldenCase
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		t.Fatalf("proxy.yaml: %v", err)
	}
	node := &corev3.Node{}
	if err := protojson.Unmarshal(c.Node, node); err != nil {
		t.Fatalf("proxy.yaml node: %v", err)
	}
	proxy, err := model.ParseProxy(node)
	if err != nil {
		t.Fatal(err)
	}
	snap := loadMesh(t, dir, c)

	gen := func(typeURL string, names []string) []translate.Resource {
		rs, err := translate.Generate(snap, proxy, typeURL, names)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if err := translate.Validate(r.Message); err != nil {
				t.Errorf("%s %s fails validation: %v", typeURL, r.Name, err)
			}
		}
		return rs
	}
	listeners := gen(resource.ListenerType, c.Listeners)
	routes := gen(resource.RouteType, resource.RouteNames(messages(listeners)))
	var clusters []translate.Resource
	if proxy.Proxyless() {
		clusters = gen(resource.ClusterType, resource.ClusterNames(messages(routes)))
	} else {
		clusters = gen(resource.ClusterType, nil)
	}
	endpoints := gen(resource.EndpointType, resource.EDSNames(messages(clusters)))
	if proxy.Proxyless() {
		for _, n := range c.Listeners {
			if !slices.ContainsFunc(listeners, func(r translate.Resource) bool { return r.Name == n }) {
				t.Errorf("listener %q was asked for but not generated", n)
			}
		}
	}
	out := map[string][]byte{
		"listeners": toYAML(t, listeners),
		"routes":    toYAML(t, routes),
		"clusters":  toYAML(t, clusters),
		"endpoints": toYAML(t, endpoints),
	}
	// The secrets a router's listeners fetch over ADS; cases whose
	// listeners name none have no secrets file. The workload's own, which
	// a plain Envoy that opted in fetches over ADS too, the xDS server
	// mints; translate never serves them.
	names := slices.DeleteFunc(gateway.SecretNames(messages(listeners)), func(n string) bool {
		return n == networking.WorkloadCertSecret || n == networking.RootCASecret
	})
	if len(names) > 0 {
		out["secrets"] = toYAML(t, gen(resource.SecretType, names))
	}
	return out
}

func loadMesh(t *testing.T, dir string, c goldenCase) *model.Snapshot {
	t.Helper()
	mesh := model.DefaultMeshConfig()
	if c.MeshConfig != "" {
		data, err := os.ReadFile(filepath.Join(dir, c.MeshConfig))
		if err != nil {
			t.Fatal(err)
		}
		if mesh, err = model.ParseMeshConfig(data); err != nil {
			t.Fatal(err)
		}
	}
	configDir := c.ConfigDir
	if configDir == "" {
		configDir = "config"
	}
	src := file.New(filepath.Join(dir, configDir), file.Options{Logger: zap.NewNop(), Mesh: mesh, DomainSuffix: "cluster.local"})
	snap, problems, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if !p.Warning {
			t.Fatalf("golden input has a problem: %s", p)
		}
	}
	return snap
}

func messages(rs []translate.Resource) []proto.Message {
	out := make([]proto.Message, len(rs))
	for i, r := range rs {
		out[i] = r.Message
	}
	return out
}

// toYAML renders resources as a YAML list of protojson objects, so a
// reviewer reads golden diffs as Envoy config.
func toYAML(t *testing.T, rs []translate.Resource) []byte {
	t.Helper()
	items := make([]json.RawMessage, 0, len(rs))
	for _, r := range rs {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(resource.Any(r.Message))
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, b)
	}
	js, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.JSONToYAML(js)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.TrimSpace(string(y)) + "\n")
}
