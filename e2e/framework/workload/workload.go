// Package workload runs the Pods of an end-to-end test: a network
// namespace with its own address (package netns), the e2e-backend gRPC
// server inside it, and the Pod object that a kubelet would report for it
// (package cluster). A test's xDS clients then reach the backend at the
// address the EndpointSlice controller publishes.
package workload

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	corev1 "k8s.io/api/core/v1"

	"github.com/pilotlight/pilotlight/e2e/framework/cluster"
	"github.com/pilotlight/pilotlight/e2e/framework/netns"
	"github.com/pilotlight/pilotlight/e2e/framework/proc"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
)

// Port is where every backend listens inside its namespace, and the
// container port its Pod declares (named PortName).
const (
	Port     = 8080
	PortName = "grpc"
)

// Spec describes a workload.
type Spec struct {
	Namespace, Name string
	// Node must exist (cluster.CreateNode).
	Node   string
	Labels map[string]string
	// ServiceAccount is the Pod's; empty means "default".
	ServiceAccount string
}

// Workload is a running backend and its Pod.
type Workload struct {
	Spec Spec
	// Addr is the Pod's IP, Endpoint its IP:Port.
	Addr     string
	Endpoint string
	NS       *netns.Namespace
	Backend  *proc.Process
}

// Run creates the namespace, starts the backend (answering with the
// workload's name), waits until the host can call it, then creates the
// Pod and reports it Ready. Everything is removed when t ends.
func Run(t testing.TB, c *cluster.Cluster, network *netns.Network, backendBin string, spec Spec) *Workload {
	t.Helper()
	ns := network.Add(t)
	w := &Workload{Spec: spec, Addr: ns.Addr.String(), Endpoint: net.JoinHostPort(ns.Addr.String(), strconv.Itoa(Port)), NS: ns}
	path, args := ns.Command(backendBin, "--addr", fmt.Sprintf(":%d", Port), "--name", spec.Name)
	w.Backend = proc.Start(t, c.Dir, proc.Spec{Name: "backend-" + spec.Namespace + "-" + spec.Name, Path: path, Args: args})
	wait.For(t, wait.Long, "backend "+spec.Name+" to answer at "+w.Endpoint, func() error {
		if err := w.Backend.ExitError(); err != nil {
			return fmt.Errorf("%w: %s", err, w.Backend.Tail(10))
		}
		name, err := Call(w.Endpoint)
		if err != nil {
			return err
		}
		if name != spec.Name {
			return fmt.Errorf("answered as %q", name)
		}
		return nil
	})
	c.CreatePod(t, cluster.Pod{
		Namespace:      spec.Namespace,
		Name:           spec.Name,
		Node:           spec.Node,
		Labels:         spec.Labels,
		IPs:            []string{w.Addr},
		Ports:          []corev1.ContainerPort{{Name: PortName, ContainerPort: Port, Protocol: corev1.ProtocolTCP}},
		ServiceAccount: spec.ServiceAccount,
	})
	return w
}

// Call makes one UnaryCall straight to a backend (no xDS) and returns the
// name it answered with.
func Call(endpoint string) (string, error) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := testgrpc.NewTestServiceClient(conn).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if err != nil {
		return "", err
	}
	return resp.GetHostname(), nil
}
