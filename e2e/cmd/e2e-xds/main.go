// Command e2e-xds is the proxyless mesh application of pilotlight's
// end-to-end tests: grpc-go with xDS and xDS transport credentials
// (credentials/xds), configured entirely by the bootstrap named in
// GRPC_XDS_BOOTSTRAP, as an application next to istio-agent is. Whether a
// connection is plaintext or mutual TLS, and with which certificates, is
// what the control plane's config says.
//
//	e2e-xds server --addr IP:PORT --name NAME
//
// serves grpc.testing.TestService through xds.NewGRPCServer: UnaryCall
// answers with NAME in the response's hostname field and tells the caller
// what it saw of the connection in response headers (package wire).
//
//	e2e-xds call --target xds:///HOST:PORT [--count N] [--interval D]
//
// makes N calls (0: until SIGTERM), each over a fresh ClientConn so that
// every call opens a new connection with the certificates of the moment,
// and prints one JSON line per call (wire.Result).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"

	"github.com/pilotlight/pilotlight/e2e/framework/xdsapp/wire"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = runServer(os.Args[2:])
	case "call":
		err = runCalls(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e-xds:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: e2e-xds server --addr IP:PORT --name NAME | e2e-xds call --target xds:///HOST:PORT [--count N] [--interval D]")
	os.Exit(2)
}

type server struct {
	testgrpc.UnimplementedTestServiceServer
	name string
}

func (s *server) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	sec, id, serial := describe(peerAuth(ctx))
	if err := grpc.SetHeader(ctx, metadata.Pairs(wire.HeaderSecurity, sec, wire.HeaderPeerID, id, wire.HeaderPeerSerial, serial)); err != nil {
		return nil, err
	}
	return &testgrpc.SimpleResponse{Hostname: s.name}, nil
}

func peerAuth(ctx context.Context) credentials.AuthInfo {
	if p, ok := peer.FromContext(ctx); ok {
		return p.AuthInfo
	}
	return nil
}

// describe tells a TLS connection from a plaintext one and names the
// peer's certificate.
func describe(info credentials.AuthInfo) (security, spiffeID, serial string) {
	tlsInfo, ok := info.(credentials.TLSInfo)
	if !ok {
		return wire.SecurityInsecure, "", ""
	}
	if tlsInfo.SPIFFEID != nil {
		spiffeID = tlsInfo.SPIFFEID.String()
	}
	if certs := tlsInfo.State.PeerCertificates; len(certs) > 0 {
		serial = wire.Serial(certs[0])
	}
	return wire.SecurityTLS, spiffeID, serial
}

func runServer(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	addr := fs.String("addr", "", "IP:PORT to serve on (required; the listener pilotlight is asked for is named after it)")
	name := fs.String("name", "", "name to answer with (required)")
	_ = fs.Parse(args)
	if *addr == "" || *name == "" {
		return errors.New("server: --addr and --name are required")
	}
	// Without security config from the control plane the server falls
	// back to plaintext, as an Istio proxyless server does.
	creds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		return err
	}
	s, err := xds.NewGRPCServer(grpc.Creds(creds), xds.ServingModeCallback(func(addr net.Addr, args xds.ServingModeChangeArgs) {
		fmt.Printf("%s%v (%s, error: %v)\n", wire.ServingModeLine, args.Mode, addr, args.Err)
	}))
	if err != nil {
		return err
	}
	testgrpc.RegisterTestServiceServer(s, &server{name: *name})
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	stopped, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-stopped.Done()
		s.GracefulStop()
	}()
	fmt.Printf("e2e-xds server %s listening on %s\n", *name, lis.Addr())
	return s.Serve(lis)
}

// callTimeout bounds one call, connection included.
const callTimeout = 10 * time.Second

func runCalls(args []string) error {
	fs := flag.NewFlagSet("call", flag.ExitOnError)
	target := fs.String("target", "", "xds:///HOST:PORT to call (required)")
	count := fs.Int("count", 1, "calls to make; 0 calls until SIGTERM")
	interval := fs.Duration("interval", 0, "pause between calls")
	_ = fs.Parse(args)
	if *target == "" {
		return errors.New("call: --target is required")
	}
	creds, err := xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	out := json.NewEncoder(os.Stdout)
	for i := 0; *count == 0 || i < *count; i++ {
		if i > 0 && *interval > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(*interval):
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := out.Encode(call(ctx, *target, creds)); err != nil {
			return err
		}
	}
	return nil
}

// call makes one UnaryCall over a ClientConn of its own. The xDS client
// behind it is shared by every ClientConn of the process, so only the
// connection to the server is new.
func call(ctx context.Context, target string, creds credentials.TransportCredentials) wire.Result {
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		return wire.Result{Code: status.Code(err).String(), Error: err.Error()}
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var p peer.Peer
	var header metadata.MD
	resp, err := testgrpc.NewTestServiceClient(cc).UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.Peer(&p), grpc.Header(&header))
	if err != nil {
		return wire.Result{Code: status.Code(err).String(), Error: err.Error()}
	}
	r := wire.Result{Backend: resp.GetHostname(), Code: status.Code(nil).String()}
	r.Security, r.ServerID, r.ServerSerial = describe(p.AuthInfo)
	first := func(k string) string {
		if v := header.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	r.SeenSecurity, r.SeenClientID, r.SeenClientSerial = first(wire.HeaderSecurity), first(wire.HeaderPeerID), first(wire.HeaderPeerSerial)
	return r
}
