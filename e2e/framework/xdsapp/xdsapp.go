// Package xdsapp runs cmd/e2e-xds, the proxyless application of the
// end-to-end tests, in a Pod's network namespace: an xDS-enabled gRPC
// server, and clients that call through xDS. Both use xDS transport
// credentials, so whether a connection is mutual TLS, and with which
// certificates, follows the control plane's config; both report what
// they saw of each connection (package wire).
//
// Each process reads its gRPC bootstrap from GRPC_XDS_BOOTSTRAP, as an
// application next to istio-agent does: the agent's own bootstrap, or one
// 'pilotlight bootstrap --grpc' wrote.
package xdsapp

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/e2e/framework/netns"
	"github.com/pilotlight/pilotlight/e2e/framework/proc"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
	"github.com/pilotlight/pilotlight/e2e/framework/xdsapp/wire"
)

// seq keeps the log names of clients unique within a test process.
var seq atomic.Int32

// Server is a running xDS-enabled gRPC server.
type Server struct {
	// Name is what it answers with; Addr is IP:PORT, where it listens.
	Name, Addr string
	proc       *proc.Process
}

// StartServer runs 'e2e-xds server' (bin) in ns on port, with the given
// bootstrap file, until t ends. It does not wait: WaitServing does.
func StartServer(t testing.TB, bin, logDir string, ns *netns.Namespace, bootstrap, name string, port int) *Server {
	t.Helper()
	addr := net.JoinHostPort(ns.Addr.String(), strconv.Itoa(port))
	path, args := ns.Command(bin, "server", "--addr", addr, "--name", name)
	p := proc.Start(t, logDir, proc.Spec{
		Name: "xds-server-" + name,
		Path: path,
		Args: args,
		Env:  []string{"GRPC_XDS_BOOTSTRAP=" + bootstrap},
	})
	return &Server{Name: name, Addr: addr, proc: p}
}

// Process is the running server.
func (s *Server) Process() *proc.Process { return s.proc }

// Mode is the server's latest serving mode (SERVING, NOT_SERVING), empty
// before its first report.
func (s *Server) Mode() string {
	mode := ""
	for _, line := range strings.Split(s.proc.Log(), "\n") {
		if m, ok := strings.CutPrefix(line, wire.ServingModeLine); ok {
			mode, _, _ = strings.Cut(m, " ")
		}
	}
	return mode
}

// WaitServing waits until the server has its listener from the control
// plane and serves, and returns how long that took.
func (s *Server) WaitServing(t testing.TB) time.Duration {
	t.Helper()
	return wait.For(t, wait.Long, "xDS server "+s.Name+" to serve", s.proc.While(t, func() error {
		if m := s.Mode(); m != "SERVING" {
			return fmt.Errorf("serving mode %q", m)
		}
		return nil
	}))
}

// Client is an 'e2e-xds call' process.
type Client struct {
	proc *proc.Process
}

// StartClient runs 'e2e-xds call' (bin) in ns against target (HOST:PORT,
// dialled as xds:///target) with the given bootstrap: count calls (0:
// until stopped) with interval between them, each on a fresh connection.
// A nil ns runs it on the host, where it reaches pilotlight's loopback
// address; its identity is its certificate, not its address. It is
// stopped when t ends at the latest.
func StartClient(t testing.TB, bin, logDir string, ns *netns.Namespace, bootstrap, target string, count int, interval time.Duration) *Client {
	t.Helper()
	path, args := bin, []string{"call", "--target", "xds:///" + target,
		"--count", strconv.Itoa(count), "--interval", interval.String()}
	if ns != nil {
		path, args = ns.Command(path, args...)
	}
	p := proc.Start(t, logDir, proc.Spec{
		Name: fmt.Sprintf("xds-client-%d", seq.Add(1)),
		Path: path,
		Args: args,
		Env:  []string{"GRPC_XDS_BOOTSTRAP=" + bootstrap},
	})
	return &Client{proc: p}
}

// Call runs a client for count calls, waits for it to finish and returns
// its results.
func Call(t testing.TB, bin, logDir string, ns *netns.Namespace, bootstrap, target string, count int) []wire.Result {
	t.Helper()
	c := StartClient(t, bin, logDir, ns, bootstrap, target, count, 0)
	select {
	case <-c.proc.Done():
	case <-time.After(wait.Long):
		t.Fatalf("e2e-xds call to %s did not finish in %v:\n%s", target, wait.Long, c.proc.Tail(20))
	}
	if _, err := c.proc.Exited(); err != nil {
		t.Fatalf("e2e-xds call to %s: %v:\n%s", target, err, c.proc.Tail(20))
	}
	results, err := c.Results()
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != count {
		t.Fatalf("e2e-xds call to %s printed %d results, want %d:\n%s", target, len(results), count, c.proc.Tail(20))
	}
	return results
}

// Process is the running client.
func (c *Client) Process() *proc.Process { return c.proc }

// Results parses the results the client has printed so far, in order.
func (c *Client) Results() ([]wire.Result, error) {
	var results []wire.Result
	sc := bufio.NewScanner(strings.NewReader(c.proc.Log()))
	for sc.Scan() {
		line := sc.Text()
		// The log also holds the command line and grpc-go's own
		// messages.
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r wire.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("client output %q: %w", line, err)
		}
		results = append(results, r)
	}
	return results, sc.Err()
}
