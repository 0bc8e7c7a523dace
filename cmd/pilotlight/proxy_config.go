package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/translate/resource"
)

// proxyConfigView is one 'proxy-config' subcommand: a resource type and
// how to tabulate it.
type proxyConfigView struct {
	use, short, long string
	typeURL          string
	render           func(w io.Writer, msgs []proto.Message) error
}

var proxyConfigViews = []proxyConfigView{{
	use:     "clusters",
	short:   "Show the clusters a proxy was sent (CDS)",
	typeURL: resource.ClusterType,
	render:  writeClusters,
}, {
	use:     "listeners",
	short:   "Show the listeners a proxy was sent (LDS), one row per filter chain",
	typeURL: resource.ListenerType,
	render:  writeListeners,
}, {
	use:     "routes",
	short:   "Show the routes a proxy was sent (RDS), one row per route",
	typeURL: resource.RouteType,
	render:  writeRoutes,
}, {
	use:   "endpoints",
	short: "Show the endpoints a proxy was sent (EDS)",
	long: `OUTLIER CHECK is the proxy's own runtime state, which a control plane
does not see; it reads "-" here. Ask Envoy's admin API (/clusters) for it.`,
	typeURL: resource.EndpointType,
	render:  writeEndpoints,
}}

func newProxyConfigCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proxy-config {clusters|listeners|routes|endpoints} PROXY",
		Short: "Show what pilotlight last sent one proxy",
		Long: `Show the resources a running pilotlight last sent one proxy, from its
/debug/config_dump. PROXY is a node id or POD.NAMESPACE as proxy-status
shows it. -o json or -o yaml prints the resources whole.`,
		Aliases: []string{"pc"},
	}
	for _, v := range proxyConfigViews {
		cmd.AddCommand(newProxyConfigViewCommand(v))
	}
	return cmd
}

func newProxyConfigViewCommand(v proxyConfigView) *cobra.Command {
	addr, format := defaultHTTPAddr, outputTable
	cmd := &cobra.Command{
		Use:   v.use + " PROXY",
		Short: v.short,
		Long:  v.long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := newDebugClient(addr)
			id, err := c.resolveProxy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			dump, err := c.configDump(cmd.Context(), id)
			if err != nil {
				return err
			}
			raw := dump.Resources[v.typeURL]
			if format != outputTable {
				js, err := json.Marshal(raw)
				if err != nil {
					return err
				}
				if raw == nil {
					js = []byte("[]")
				}
				return writeRaw(cmd.OutOrStdout(), format, js)
			}
			msgs, err := decodeResources(raw)
			if err != nil {
				return fmt.Errorf("%s of %s: %w", v.use, id, err)
			}
			return v.render(cmd.OutOrStdout(), msgs)
		},
	}
	cmd.Flags().StringVar(&addr, "http", addr, "pilotlight's HTTP address (its --http-addr)")
	cmd.Flags().VarP(&format, "output", "o", "output format")
	return cmd
}
