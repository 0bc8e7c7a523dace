package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/debugapi"
)

func newProxyStatusCommand() *cobra.Command {
	addr, format := defaultHTTPAddr, outputTable
	cmd := &cobra.Command{
		Use:   "proxy-status",
		Short: "Show every connected proxy and whether it is in sync",
		Long: `Show the proxies connected to a running pilotlight and, per resource type,
whether the last thing pilotlight sent was accepted:

  SYNCED    the last response was ACKed
  NOT SENT  the proxy subscribed but got nothing yet
  STALE     a response is not ACKed yet, or was rejected (NACKED)
  -         the proxy has not subscribed to the type

Rejections are listed under the table with the proxy's error message.
NAME is POD.NAMESPACE from the node id; 'pilotlight proxy-config' accepts
it, or the full id.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			proxies, raw, err := newDebugClient(addr).syncz(cmd.Context())
			if err != nil {
				return err
			}
			if format != outputTable {
				return writeRaw(cmd.OutOrStdout(), format, raw)
			}
			return writeProxyStatus(cmd.OutOrStdout(), proxies, time.Now())
		},
	}
	cmd.Flags().StringVar(&addr, "http", addr, "pilotlight's HTTP address (its --http-addr)")
	cmd.Flags().VarP(&format, "output", "o", "output format")
	return cmd
}

// statusColumns are the types proxy-status shows, in istioctl's order.
var statusColumns = []struct{ header, typeURL string }{
	{"CDS", resource.ClusterType},
	{"LDS", resource.ListenerType},
	{"EDS", resource.EndpointType},
	{"RDS", resource.RouteType},
}

func writeProxyStatus(w io.Writer, proxies []debugapi.SyncStatus, now time.Time) error {
	header := []string{"NAME", "CLUSTER", "FLAVOR", "PROTOCOL"}
	for _, c := range statusColumns {
		header = append(header, c.header)
	}
	t := newTable(w, append(header, "VERSION", "CONNECTED")...)
	type nack struct {
		proxy, typ string
		n          *debugapi.NACK
	}
	var nacks []nack
	for _, p := range proxies {
		row := []string{proxyName(p.Proxy), orDash(p.ClusterID), p.Flavor, p.Protocol}
		for _, c := range statusColumns {
			st, ok := p.Types[c.typeURL]
			row = append(row, typeStatusCell(st, ok))
			if st.LastNACK != nil {
				nacks = append(nacks, nack{p.Proxy, c.header, st.LastNACK})
			}
		}
		t.row(append(row, orDash(p.IstioVersion), age(now, p.ConnectedAt))...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(proxies) == 0 {
		_, err := fmt.Fprintln(w, "\nNo proxy is connected. 'pilotlight bootstrap' prints a bootstrap for Envoy or a gRPC client.")
		return err
	}
	for i, n := range nacks {
		if i == 0 {
			fmt.Fprintln(w, "\nRejected (NACK):")
		}
		fmt.Fprintf(w, "  %s %s version %s: %s\n", n.proxy, n.typ, n.n.Version, oneLine(n.n.Message))
	}
	return nil
}

func typeStatusCell(st debugapi.TypeStatus, subscribed bool) string {
	if !subscribed {
		return "-"
	}
	if st.LastNACK != nil {
		return st.Status + " (NACKED)"
	}
	return st.Status
}

// age is how long ago t was, in the largest unit that fits, as kubectl
// shows ages.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// oneLine keeps a multi-line error message on one line of the listing.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
