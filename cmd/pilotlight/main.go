// Command pilotlight is a lightweight xDS control plane that replaces
// istiod: it serves Envoy sidecars, gateways and proxyless gRPC clients over
// ADS, and it carries the tools to bootstrap and inspect them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
)

func main() {
	err := newRootCommand().ExecuteContext(context.Background())
	if err == nil {
		return
	}
	var exit exitError
	if errors.As(err, &exit) {
		// The command has already said what went wrong; only the exit
		// status is left to report.
		os.Exit(exit.code)
	}
	fmt.Fprintln(os.Stderr, "pilotlight:", err)
	os.Exit(1)
}
