package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// exitError ends the process with a status code and no further message,
// for commands whose output already explains the failure (analyze).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "pilotlight",
		Short: "A lightweight xDS control plane that replaces istiod",
		Long: `pilotlight serves Envoy sidecars, gateways and proxyless gRPC clients over
ADS, with istiod's ports (15010 plaintext xDS, 15012 xDS and the CA over
TLS, 15014 monitoring and debug).

Start it in a cluster (in-cluster or --kubeconfig), or on a directory of
Kubernetes and Istio YAML with
  pilotlight serve --config-dir DIR
then see what a proxy would get with 'pilotlight fetch', connect one with
a bootstrap from 'pilotlight bootstrap' and watch it with
'pilotlight proxy-status'.`,
		// main prints the error once; cobra's usage dump would bury it.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.AddCommand(
		newServeCommand(),
		newBootstrapCommand(),
		newFetchCommand(),
		newProxyStatusCommand(),
		newProxyConfigCommand(),
		newAnalyzeCommand(),
		newVersionCommand(),
	)
	return root
}
