package pilotlight

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// Workload identifies the proxy a bootstrap is for.
type Workload struct {
	// IP, Pod and Namespace make Istio's node id
	// sidecar~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local.
	IP, Pod, Namespace string
	Region, Zone       string
	// CertDir, when set, holds the workload's certificate files as
	// istio-agent writes them, for mTLS; gRPC reads them again every
	// CertRefresh (the command's default when zero).
	CertDir     string
	CertRefresh time.Duration
}

// NodeID is the workload's Istio node id.
func (w Workload) NodeID() string {
	return fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", w.IP, w.Pod, w.Namespace, w.Namespace)
}

// GRPCBootstrap returns the gRPC xDS bootstrap that 'pilotlight bootstrap
// --grpc' writes for the workload, pointing at this instance: the real
// command, so the tests exercise what users run.
func (i *Instance) GRPCBootstrap(t testing.TB, w Workload) []byte {
	t.Helper()
	cmd := exec.Command(i.bin, "bootstrap", "--grpc",
		"--xds", i.GRPCAddr,
		"--node", w.NodeID(),
		"--region", w.Region,
		"--zone", w.Zone,
	)
	if w.CertDir != "" {
		cmd.Args = append(cmd.Args, "--cert-dir", w.CertDir)
	}
	if w.CertRefresh != 0 {
		cmd.Args = append(cmd.Args, "--cert-refresh", w.CertRefresh.String())
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pilotlight bootstrap: %v: %s", err, stderr.String())
	}
	return out
}

// Node is the xDS node of the workload's gRPC bootstrap, for pilotlight's
// own ADS client (xds/client), so that it presents itself exactly as the
// grpc-go client of the same workload does.
func (i *Instance) Node(t testing.TB, w Workload) *corev3.Node {
	t.Helper()
	var boot struct {
		Node json.RawMessage `json:"node"`
	}
	if err := json.Unmarshal(i.GRPCBootstrap(t, w), &boot); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	node := &corev3.Node{}
	if err := protojson.Unmarshal(boot.Node, node); err != nil {
		t.Fatalf("bootstrap node: %v", err)
	}
	return node
}
