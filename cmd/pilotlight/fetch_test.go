package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// fetch prints what a proxy of the demo mesh gets: the reviews sidecar
// sees the demo's services, in a table or in full.
func TestFetch(t *testing.T) {
	xdsAddr, _ := startServe(t, "../../deploy/examples/bookstore")
	opts := fetchOptions{
		node:    "sidecar~10.244.1.30~reviews-v1-84c9d7f6b-jw5nx.bookstore~bookstore.svc.cluster.local",
		xds:     xdsAddr,
		delta:   true,
		timeout: 20 * time.Second,
		output:  outputTable,
	}
	var out bytes.Buffer
	// The server refuses streams until the directory is loaded.
	eventually(t, "a complete config", func() error {
		out.Reset()
		return runFetch(context.Background(), &out, opts)
	})
	if !strings.Contains(out.String(), "CDS    12") || !strings.Contains(out.String(), "bytes in all") {
		t.Errorf("table:\n%s", out.String())
	}

	out.Reset()
	opts.output, opts.delta = outputYAML, false
	if err := runFetch(context.Background(), &out, opts); err != nil {
		t.Fatal(err)
	}
	var dump struct {
		Node      string                      `json:"node"`
		Resources map[string][]map[string]any `json:"resources"`
	}
	if err := yaml.Unmarshal(out.Bytes(), &dump); err != nil {
		t.Fatal(err)
	}
	clusters := dump.Resources["type.googleapis.com/envoy.config.cluster.v3.Cluster"]
	if dump.Node != opts.node || len(clusters) != 12 || clusters[0]["@type"] == nil {
		t.Errorf("dump of %q has %d clusters", dump.Node, len(clusters))
	}

	opts.node = "sidecar~10.0.0.1~liar.bookstore~default.svc.cluster.local"
	if err := runFetch(context.Background(), &out, opts); err == nil || !strings.Contains(err.Error(), "--node") {
		t.Errorf("a contradictory node id: %v, want a --node error", err)
	}
}
