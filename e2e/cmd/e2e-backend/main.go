// Command e2e-backend is the workload of pilotlight's end-to-end tests: a
// plain gRPC server, run inside a Pod's network namespace, that answers
// grpc.testing.TestService/UnaryCall with its name in the response's
// hostname field, so a test can tell which backend a call reached. It also
// serves the standard health service.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

type server struct {
	testgrpc.UnimplementedTestServiceServer
	name string
}

func (s *server) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{Hostname: s.name}, nil
}

func main() {
	addr := flag.String("addr", ":8080", "address to serve on")
	name := flag.String("name", "", "name to answer with (required)")
	flag.Parse()
	if *name == "" {
		fmt.Fprintln(os.Stderr, "e2e-backend: --name is required")
		os.Exit(2)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e-backend:", err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, &server{name: *name})
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		s.GracefulStop()
	}()
	fmt.Printf("e2e-backend %s serving on %s\n", *name, lis.Addr())
	if err := s.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, "e2e-backend:", err)
		os.Exit(1)
	}
}
