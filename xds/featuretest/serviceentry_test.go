package featuretest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// A ServiceEntry with resolution STATIC is routable by a grpc-go xDS
// client that dials its host: both endpoints, real backends on loopback
// addresses, answer. Dropping one from the entry moves traffic off it.
func TestServiceEntryStaticEndpoints(t *testing.T) {
	dir := t.TempDir()
	b1 := startBackend(t, "b1", "127.0.0.31")
	b2 := startBackend(t, "b2", "127.0.0.32")
	p := startPilotlight(t, dir)
	p.write(t, "entry.yaml", staticServiceEntry("echo.example.com", b1, b2))

	client := xdsClient(t, p, "demo", "echo.example.com:7070")
	took := eventually(t, "traffic to both ServiceEntry endpoints", func() bool {
		seen := observe(t, client, 30)
		return seen["b1"] > 0 && seen["b2"] > 0 && seen["b1"]+seen["b2"] == 30
	})
	t.Logf("ServiceEntry host routable %v after the client started", took)

	p.write(t, "entry.yaml", staticServiceEntry("echo.example.com", b2))
	took = eventually(t, "b1 to leave the rotation", func() bool {
		seen := observe(t, client, 20)
		return seen["b2"] == 20
	})
	t.Logf("endpoint removed from the ServiceEntry reached the client in %v", took)
}

// A ServiceEntry that selects WorkloadEntries by label balances over
// them, and a WorkloadEntry written later joins the rotation through an
// endpoint-only push: no full push, as for a Pod that becomes ready.
func TestWorkloadEntryJoinsServiceEntry(t *testing.T) {
	dir := t.TempDir()
	b1 := startBackend(t, "b1", "127.0.0.41")
	b2 := startBackend(t, "b2", "127.0.0.42")
	b3 := startBackend(t, "b3", "127.0.0.43")
	p := startPilotlight(t, dir)
	p.write(t, "entry.yaml", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: inventory
  namespace: demo
spec:
  hosts: [inventory.demo.mesh]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {name: grpc, number: 7070, protocol: GRPC}
  workloadSelector:
    labels: {app: inventory}
`)
	p.write(t, "workloads.yaml", workloadEntries("inventory", b1, b2))

	client := xdsClient(t, p, "demo", "inventory.demo.mesh:7070")
	eventually(t, "traffic to both WorkloadEntries", func() bool {
		seen := observe(t, client, 30)
		return seen["b1"] > 0 && seen["b2"] > 0 && seen["b1"]+seen["b2"] == 30
	})

	fullBefore := counterValue(t, p.registry, "pilotlight_xds_full_pushes_total")
	p.write(t, "vm-3.yaml", workloadEntries("inventory", b3))
	took := eventually(t, "the new WorkloadEntry to join the rotation", func() bool {
		seen := observe(t, client, 30)
		return seen["b1"] > 0 && seen["b2"] > 0 && seen["b3"] > 0
	})
	t.Logf("a WorkloadEntry written to disk received traffic %v later", took)
	if full := counterValue(t, p.registry, "pilotlight_xds_full_pushes_total"); full != fullBefore {
		t.Errorf("adding a WorkloadEntry caused %v full pushes, want an endpoint-only push", full-fullBefore)
	}
}

// staticServiceEntry declares host:7070 (gRPC) in namespace demo with one
// endpoint per backend; each backend listens on its own port, which the
// endpoint maps the grpc port to.
func staticServiceEntry(host string, backends ...*backend) string {
	var eps strings.Builder
	for _, b := range backends {
		fmt.Fprintf(&eps, "  - {address: %s, ports: {grpc: %d}}\n", b.addr.IP, b.addr.Port)
	}
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: echo
  namespace: demo
spec:
  hosts: [%s]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {name: grpc, number: 7070, protocol: GRPC}
  endpoints:
%s`, host, eps.String())
}

// workloadEntries renders one WorkloadEntry per backend, labelled app,
// named after the backend, serving the grpc port on the backend's port.
func workloadEntries(app string, backends ...*backend) string {
	var docs []string
	for _, b := range backends {
		docs = append(docs, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: %s
  namespace: demo
spec:
  address: %s
  labels: {app: %s}
  ports: {grpc: %d}
`, b.name, b.addr.IP, app, b.addr.Port))
	}
	return strings.Join(docs, "---\n")
}

// counterValue reads an unlabelled counter from the server's registry.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("counter %s not found", name)
	return 0
}
