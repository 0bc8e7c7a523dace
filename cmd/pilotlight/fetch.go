package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/bootstrap"
	"github.com/pilotlight/pilotlight/xds/client"
)

// fetchOptions are the flags of 'pilotlight fetch'.
type fetchOptions struct {
	node           string
	xds            string
	namespace      string
	labels         map[string]string
	serviceAccount string
	delta          bool
	timeout        time.Duration
	output         outputFormat
}

func newFetchCommand() *cobra.Command {
	o := fetchOptions{output: outputTable}
	cmd := &cobra.Command{
		Use:   "fetch --node ID --xds ADDR",
		Short: "Connect as a proxy and print the complete config pilotlight gives it",
		Long: `Connect to pilotlight's ADS server as the proxy the node id names, subscribe
the way Envoy does on start (clusters and listeners, then the route tables
and load assignments they name), and print what arrived: a count and size
per type (-o table), or every resource (-o json|yaml). Nothing is kept
connected afterwards.`,
		Example: `  pilotlight fetch --xds localhost:15010 \
    --node sidecar~10.244.1.30~reviews-v1-84c9d7f6b-jw5nx.bookstore~bookstore.svc.cluster.local \
    --labels app=reviews,version=v1 --service-account reviews`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runFetch(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.node, "node", "", "node id, TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local (required)")
	f.StringVar(&o.xds, "xds", "localhost:15010", "pilotlight's plaintext xDS address")
	f.StringVar(&o.namespace, "namespace", "", "workload namespace (default: the one in the node id)")
	f.StringToStringVar(&o.labels, "labels", nil, "workload labels, k=v,k2=v2")
	f.StringVar(&o.serviceAccount, "service-account", "", "workload service account")
	f.BoolVar(&o.delta, "delta", true, "use delta xDS, as Envoy does (false: state of the world)")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for the complete config")
	f.VarP(&o.output, "output", "o", "output format")
	if err := cmd.MarkFlagRequired("node"); err != nil {
		panic(err)
	}
	return cmd
}

// fetchTypes are printed in the order Envoy applies them.
var fetchTypes = []struct{ header, typeURL string }{
	{"CDS", resource.ClusterType},
	{"EDS", resource.EndpointType},
	{"LDS", resource.ListenerType},
	{"RDS", resource.RouteType},
}

func runFetch(ctx context.Context, w io.Writer, o fetchOptions) error {
	node, err := bootstrap.Node{ID: o.node, Namespace: o.namespace, Labels: o.labels, ServiceAccount: o.serviceAccount}.Proto()
	if err != nil {
		return fmt.Errorf("--node: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c, err := client.Dial(ctx, o.xds, node, client.Options{Delta: o.delta})
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", o.xds, err)
	}
	defer c.Close()
	cfg, err := c.FetchEnvoy(ctx)
	if err != nil {
		return fmt.Errorf("fetching from %s: %w", o.xds, err)
	}
	if o.output != outputTable {
		dump := map[string][]json.RawMessage{}
		for _, t := range fetchTypes {
			res := cfg.Resources[t.typeURL]
			for _, name := range slices.Sorted(maps.Keys(res)) {
				a, err := anypb.New(res[name])
				if err != nil {
					return err
				}
				js, err := protojson.Marshal(a)
				if err != nil {
					return err
				}
				dump[t.typeURL] = append(dump[t.typeURL], js)
			}
		}
		js, err := json.Marshal(map[string]any{"node": o.node, "bytes": cfg.Bytes, "resources": dump})
		if err != nil {
			return err
		}
		return writeRaw(w, o.output, js)
	}
	t := newTable(w, "TYPE", "RESOURCES")
	for _, typ := range fetchTypes {
		t.row(typ.header, strconv.Itoa(len(cfg.Resources[typ.typeURL])))
	}
	if err := t.flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "\n%d bytes in all.\n", cfg.Bytes)
	return err
}
