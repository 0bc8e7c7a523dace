package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/pilotlight/pilotlight/xds/bootstrap"
)

// bootstrapOptions are the flags of 'pilotlight bootstrap'.
type bootstrapOptions struct {
	node           string
	xds            string
	envoy          bool
	grpc           bool
	sotw           bool
	sds            bool
	tokenFile      string
	rootCert       string
	namespace      string
	labels         map[string]string
	serviceAccount string
	clusterID      string
	region         string
	zone           string
	certDir        string
	certRefresh    time.Duration
	output         string
}

// defaultCertRefresh is how often a gRPC application re-reads its
// certificate files. istio-agent's own bootstrap says 15 minutes, so
// clients keep presenting a certificate that long after it was renewed;
// reading three small files once a minute costs nothing.
const defaultCertRefresh = time.Minute

func newBootstrapCommand() *cobra.Command {
	o := bootstrapOptions{}
	cmd := &cobra.Command{
		Use:   "bootstrap --node ID --xds ADDR (--envoy | --grpc)",
		Short: "Print a bootstrap that connects Envoy or a proxyless gRPC client to pilotlight",
		Long: `Print a bootstrap for a proxy that talks to pilotlight directly, without
istio-agent.

--envoy writes an Envoy v3 bootstrap (YAML) with a static xds-grpc cluster
and ADS (delta xDS unless --sotw). --grpc writes the JSON bootstrap that
gRPC's xDS clients read from GRPC_XDS_BOOTSTRAP. With --cert-dir, gRPC's
xDS credentials take the workload's certificate, key and trust bundle from
that directory (cert-chain.pem, key.pem, root-cert.pem, as istio-agent
writes them with OUTPUT_CERTS), reading them again every --cert-refresh,
so that connections opened after a renewal present the new certificate;
without it, connections are plaintext.

With --token-file and --root-cert, Envoy connects to pilotlight's TLS port
(15012) over Google gRPC, verifying pilotlight with the mesh root and
sending the service account token in the file (audience istio-ca, read
again on every call) as "authorization: Bearer TOKEN", as istio-agent
does; the node must then claim the token's namespace (and service
account, if it names one). --sds also asks for the workload certificate
over that stream: secrets "default" (a key pair pilotlight mints for the
token's identity) and "ROOTCA" (node metadata PILOTLIGHT_WORKLOAD_SDS).

The node id is Istio's TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local;
pilotlight uses it, with --labels and --service-account, to decide which
workload the proxy is and what it may see.`,
		Example: `  pilotlight bootstrap --envoy --xds localhost:15010 \
    --node sidecar~10.0.0.1~ratings-1.bookstore~bookstore.svc.cluster.local \
    --labels app=ratings,version=v1 --service-account ratings > envoy.yaml
  pilotlight bootstrap --envoy --sds --xds istiod.istio-system.svc:15012 \
    --node sidecar~10.0.0.1~ratings-1.bookstore~bookstore.svc.cluster.local \
    --service-account ratings --root-cert /etc/istio/root-cert.pem \
    --token-file /var/run/secrets/tokens/istio-token > envoy.yaml
  pilotlight bootstrap --grpc --xds localhost:15010 \
    --node sidecar~10.0.0.2~client-1.bookstore~bookstore.svc.cluster.local \
    --output /tmp/xds-bootstrap.json
  pilotlight bootstrap --grpc --xds localhost:15010 \
    --node sidecar~10.0.0.2~client-1.bookstore~bookstore.svc.cluster.local \
    --cert-dir /var/lib/istio/data --cert-refresh 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBootstrap(cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.node, "node", "", "node id, TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local (required)")
	f.StringVar(&o.xds, "xds", "", "pilotlight's xDS address HOST:PORT, e.g. localhost:15010 (required)")
	f.BoolVar(&o.envoy, "envoy", false, "write an Envoy v3 bootstrap (YAML)")
	f.BoolVar(&o.grpc, "grpc", false, "write a gRPC xDS bootstrap (JSON)")
	f.BoolVar(&o.sotw, "sotw", false, "Envoy only: use state-of-the-world ADS instead of delta xDS")
	f.StringVar(&o.tokenFile, "token-file", "", "Envoy only: file of a Kubernetes service account token for audience istio-ca, sent to pilotlight's TLS port (with --root-cert)")
	f.StringVar(&o.rootCert, "root-cert", "", "Envoy only: file of the mesh's root certificate (ConfigMap istio-ca-root-cert), to verify pilotlight's TLS port (with --token-file)")
	f.BoolVar(&o.sds, "sds", false, "Envoy only: ask for the workload certificate (SDS default and ROOTCA) over ADS; needs --token-file and --root-cert")
	f.StringVar(&o.namespace, "namespace", "", "workload namespace (default: the one in the node id, which it must match)")
	f.StringToStringVar(&o.labels, "labels", nil, "workload labels, k=v,k2=v2 (they select the workload's Services and policies)")
	f.StringVar(&o.serviceAccount, "service-account", "", "workload service account")
	f.StringVar(&o.clusterID, "cluster-id", "Kubernetes", "cluster id, as istio-agent reports it")
	f.StringVar(&o.region, "region", "", "locality region of the workload")
	f.StringVar(&o.zone, "zone", "", "locality zone of the workload")
	f.StringVar(&o.certDir, "cert-dir", "", "gRPC only: directory of the workload's cert-chain.pem, key.pem and root-cert.pem, for mTLS (istio-agent's OUTPUT_CERTS)")
	f.DurationVar(&o.certRefresh, "cert-refresh", defaultCertRefresh, "gRPC only: how often the files of --cert-dir are read again")
	f.StringVar(&o.output, "output", "", "write to FILE instead of standard output")
	for _, name := range []string{"node", "xds"} {
		if err := cmd.MarkFlagRequired(name); err != nil {
			panic(err)
		}
	}
	cmd.MarkFlagsMutuallyExclusive("envoy", "grpc")
	cmd.MarkFlagsOneRequired("envoy", "grpc")
	return cmd
}

func runBootstrap(stdout io.Writer, o bootstrapOptions) error {
	if o.sotw && !o.envoy {
		return errors.New("--sotw applies to --envoy only: gRPC clients speak state-of-the-world xDS anyway")
	}
	if o.certDir != "" && !o.grpc {
		return errors.New("--cert-dir applies to --grpc only: Envoy gets its certificates over SDS")
	}
	if (o.sds || o.tokenFile != "" || o.rootCert != "") && !o.envoy {
		return errors.New("--sds, --token-file and --root-cert apply to --envoy only")
	}
	if (o.tokenFile == "") != (o.rootCert == "") {
		return errors.New("--token-file and --root-cert go together: the token is sent only over TLS to pilotlight's port, which the root verifies")
	}
	if o.sds && o.tokenFile == "" {
		return errors.New("--sds needs --token-file and --root-cert: pilotlight serves workload certificates only to streams that proved their identity")
	}
	node := bootstrap.Node{
		ID:             o.node,
		Namespace:      o.namespace,
		Labels:         o.labels,
		ServiceAccount: o.serviceAccount,
		ClusterID:      o.clusterID,
		Region:         o.region,
		Zone:           o.zone,
		Proxyless:      o.grpc,
		WorkloadSDS:    o.sds,
	}
	if _, err := node.Proto(); err != nil {
		return fmt.Errorf("--node: %w", err)
	}
	if _, _, err := bootstrap.SplitAddress(o.xds); err != nil {
		return fmt.Errorf("--xds: %w", err)
	}
	certs := bootstrap.CertificateFiles{}
	if o.certDir != "" {
		dir, err := filepath.Abs(o.certDir)
		if err != nil {
			return fmt.Errorf("--cert-dir: %w", err)
		}
		certs = bootstrap.CertificateFiles{Dir: dir, Refresh: o.certRefresh}
	}
	var out []byte
	var err error
	if o.envoy {
		out, err = bootstrap.EnvoyYAML(node, bootstrap.XDS{Addr: o.xds, Delta: !o.sotw, TokenFile: o.tokenFile, RootCertFile: o.rootCert})
	} else {
		out, err = bootstrap.GRPCWithCertificates(node, o.xds, certs)
	}
	if err != nil {
		return err
	}
	if o.output == "" {
		_, err = stdout.Write(out)
		return err
	}
	return os.WriteFile(o.output, out, 0o644)
}
