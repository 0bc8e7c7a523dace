package featuretest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/bootstrap"
	"github.com/pilotlight/pilotlight/xds/client"
)

// manyServices renders n HTTP services spread over namespaces ns-0..ns-4,
// each with two endpoints.
func manyServices(n int) string {
	var docs []string
	for i := range 5 {
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-%d\n", i))
	}
	for i := range n {
		ns := fmt.Sprintf("ns-%d", i%5)
		docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: svc-%d
  namespace: %s
spec:
  clusterIP: 10.96.7.%d
  ports:
  - name: http
    port: 8080
`, i, ns, i+1), fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc-%d
  namespace: %s
  labels: {kubernetes.io/service-name: svc-%d}
addressType: IPv4
ports:
- name: http
  port: 8080
endpoints:
- addresses: [10.244.7.%d]
- addresses: [10.244.8.%d]
`, i, ns, i, i+1, i+1))
	}
	return strings.Join(docs, "---\n")
}

// fetchAsSidecar connects a new sidecar in ns-0 and returns its complete
// config, or the error that ended the stream (before the first snapshot
// the server refuses it).
func fetchAsSidecar(t *testing.T, p *pilotlight) (client.Config, error) {
	t.Helper()
	node, err := bootstrap.Node{ID: "sidecar~10.244.9.1~app-1.ns-0~ns-0.svc.cluster.local"}.Proto()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, p.addr, node, client.Options{Delta: true})
	if err != nil {
		return client.Config{}, err
	}
	defer c.Close()
	return c.FetchEnvoy(ctx)
}

// A Sidecar resource removes out-of-scope services from a proxy's config,
// and the config shrinks accordingly.
func TestSidecarScopeShrinksConfig(t *testing.T) {
	p := startPilotlight(t, t.TempDir())
	p.write(t, "services.yaml", manyServices(50))
	// The directory may be served empty before the file lands: wait for
	// all 50 services (plus the three fixed clusters).
	var before client.Config
	eventually(t, "the mesh to load", func() bool {
		var err error
		before, err = fetchAsSidecar(t, p)
		return err == nil && len(before.Resources[resource.ClusterType]) == 53
	})

	p.write(t, "sidecar.yaml", `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
  namespace: ns-0
spec:
  egress:
  - hosts: ["./*"]
`)
	var after client.Config
	eventually(t, "the Sidecar to apply", func() bool {
		var err error
		after, err = fetchAsSidecar(t, p)
		// Both sides of one snapshot: a fetch that straddles the change
		// can hold the new clusters and the old endpoints.
		return err == nil && len(after.Resources[resource.ClusterType]) == 13 && len(after.Resources[resource.EndpointType]) == 10
	})
	for name := range after.Resources[resource.ClusterType] {
		if strings.HasPrefix(name, "outbound|") && !strings.HasSuffix(name, ".ns-0.svc.cluster.local") {
			t.Errorf("cluster %s is outside the Sidecar's scope", name)
		}
	}
	count := func(c client.Config) string {
		return fmt.Sprintf("%d clusters, %d endpoints, %d listeners, %d routes, %d bytes",
			len(c.Resources[resource.ClusterType]), len(c.Resources[resource.EndpointType]),
			len(c.Resources[resource.ListenerType]), len(c.Resources[resource.RouteType]), c.Bytes)
	}
	t.Logf("50 services in 5 namespaces: without Sidecar %s; with Sidecar ./* %s", count(before), count(after))
	if got, want := len(after.Resources[resource.EndpointType]), 10; got != want {
		t.Errorf("endpoint assignments = %d, want %d (ns-0's services)", got, want)
	}
	if after.Bytes*3 > before.Bytes {
		t.Errorf("config shrank from %d to %d bytes, want at most a third", before.Bytes, after.Bytes)
	}
}
