package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"k8s.io/client-go/rest"

	"github.com/pilotlight/pilotlight/discovery/file"
	"github.com/pilotlight/pilotlight/discovery/jwks"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/xds"
)

// shutdownGrace bounds how long in-flight work may finish on SIGTERM.
// Kubernetes allows 30 s by default; ADS streams end as soon as the xDS
// server stops, so this is only ever reached by a stuck peer.
const shutdownGrace = 5 * time.Second

// serveOptions are the flags of 'pilotlight serve'.
type serveOptions struct {
	configDir    string
	meshConfig   string
	domainSuffix string
	grpcAddr     string
	httpAddr     string
	debounce     time.Duration
	debounceMax  time.Duration
	maxStreamAge time.Duration
	// readSecrets watches the Secrets gateways' credentialName
	// certificates come from, for gateways that proved their identity on
	// --secure-grpc-addr.
	readSecrets bool
	// serveGatewaySecrets serves them to plaintext streams too, and
	// implies readSecrets.
	serveGatewaySecrets bool
	// jwksTimeout and jwksRefresh bound and pace fetching the keys of
	// RequestAuthentications' jwksUri.
	jwksTimeout time.Duration
	jwksRefresh time.Duration
	// jwksBlockedCIDRs are address ranges keys are never fetched from,
	// as written; jwksBlocked, parsed.
	jwksBlockedCIDRs []string
	jwksBlocked      []netip.Prefix
	log              logOptions
	kube             kubeOptions
	ca               caOptions
	// restConfig reaches the Kubernetes API server; nil with --config-dir.
	restConfig *rest.Config
}

// configSource is where the mesh comes from: a directory or the
// Kubernetes API server.
type configSource interface {
	Run(ctx context.Context, publish func(*model.Snapshot, []model.Problem)) error
}

func newServeCommand() *cobra.Command {
	o := serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve xDS to Envoy and proxyless gRPC clients",
		Long: `Serve the mesh over ADS (SotW and delta) on --grpc-addr, and readiness,
metrics, debug and profiling endpoints on --http-addr:

  /ready                    200 once the first mesh state is loaded
  /metrics                  Prometheus metrics
  /debug/syncz              every connected proxy and its ACK/NACK state
  /debug/config_dump?proxyID=ID   what one proxy was last sent
  /debug/problemz           input objects that could not be used
  /debug/pprof/             Go profiles

  /debug/sourcez            whether the Kubernetes API server is reachable

By default the mesh is read from the Kubernetes API server, through the
in-cluster service account or --kubeconfig: Services, EndpointSlices, Pods,
Namespaces, Nodes, the Istio CRDs and the mesh config in ConfigMap "istio"
(key "mesh"). Nothing is served until every informer has listed. If the API
server goes away, the last state stays served and /ready says "degraded".

On --secure-grpc-addr (istiod's :15012) pilotlight serves Istio's CreateCertificate
API and ADS over TLS, as istiod does: workloads prove their identity with
a service account token (audience istio-ca, checked with TokenReview) or
a certificate from this CA and get SPIFFE certificates. The CA adopts
istiod's root (Secret istio-ca-secret, or an operator's cacerts) or
creates one there. Replicas share that root; the holder of Lease
pilotlight-ca creates and rotates it and publishes the trust bundle as
ConfigMap istio-ca-root-cert (key root-cert.pem) in every namespace.

With --config-dir the mesh is a directory of ordinary Kubernetes and
Istio YAML (Services, EndpointSlices, Pods, VirtualServices, ...), reloaded
when it changes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), o, os.Stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configDir, "config-dir", "", "serve the mesh described by the YAML files in DIR instead of a cluster's")
	f.StringVar(&o.meshConfig, "mesh-config", "", "Istio MeshConfig YAML file, read once (default: the mesh ConfigMap in a cluster, Istio's defaults with --config-dir)")
	f.StringVar(&o.domainSuffix, "domain-suffix", "cluster.local", "the cluster's DNS domain")
	f.StringVar(&o.grpcAddr, "grpc-addr", ":15010", "address of the plaintext xDS (ADS) server")
	f.StringVar(&o.httpAddr, "http-addr", ":15014", "address of the readiness, metrics and debug HTTP server")
	f.DurationVar(&o.debounce, "debounce", xds.DefaultDebounce, "quiet period after a change before it is pushed")
	f.DurationVar(&o.debounceMax, "debounce-max", xds.DefaultDebounceMax, "longest a stream of changes may delay a push")
	f.DurationVar(&o.maxStreamAge, "max-stream-age", xds.DefaultMaxStreamAge, "connection lifetime before a client is sent elsewhere, so load rebalances across replicas")
	f.BoolVar(&o.readSecrets, "read-secrets", false,
		"in a cluster, watch the Secrets gateways' credentialName certificates come from, and serve each gateway its namespace's over ADS once its stream on --secure-grpc-addr proved that namespace's identity "+
			"and RBAC lets that service account list Secrets there (a SubjectAccessReview, as istiod) "+
			"(needs the pilotlight-gateway-secrets ClusterRole, deploy/gateway-secrets; with --config-dir Secrets in the directory are always read)")
	f.BoolVar(&o.serveGatewaySecrets, "serve-gateway-secrets", false,
		"--read-secrets, and serve the secrets to unauthenticated streams on --grpc-addr too: only for a control plane that nothing but gateways can reach, or that runs without --secure-grpc-addr")
	f.DurationVar(&o.jwksTimeout, "jwks-timeout", jwks.DefaultTimeout, "how long fetching the keys of a RequestAuthentication's jwksUri (or its issuer's OpenID discovery document) may take, unless its rule sets a timeout")
	f.DurationVar(&o.jwksRefresh, "jwks-refresh", jwks.DefaultRefresh, "how often those keys are fetched again; on failure the last good keys stay")
	f.StringSliceVar(&o.jwksBlockedCIDRs, "jwks-blocked-cidrs", nil, "address ranges (CIDR, comma-separated) keys are never fetched from, checked after name resolution, e.g. 169.254.0.0/16 for cloud metadata endpoints")
	o.log.addFlags(f)
	o.kube.addFlags(f)
	o.ca.addFlags(f)
	return cmd
}

// runServe checks the flags, opens the listeners and serves until ctx ends
// or SIGINT/SIGTERM arrives.
func runServe(ctx context.Context, o serveOptions, stderr zapcore.WriteSyncer) error {
	if o.configDir != "" && o.kube.kubeconfig != "" {
		return errors.New("--config-dir and --kubeconfig exclude each other: serve either a directory or a cluster")
	}
	if o.jwksTimeout < 0 || o.jwksRefresh < 0 {
		return fmt.Errorf("--jwks-timeout (%v) and --jwks-refresh (%v) must not be negative", o.jwksTimeout, o.jwksRefresh)
	}
	for _, c := range o.jwksBlockedCIDRs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return fmt.Errorf("--jwks-blocked-cidrs: %q is not a CIDR range (like 169.254.0.0/16)", c)
		}
		o.jwksBlocked = append(o.jwksBlocked, p)
	}
	if o.readSecrets && o.ca.secureGRPCAddr == "" {
		return errors.New("--read-secrets serves secrets only to streams authenticated on --secure-grpc-addr, which is not set " +
			"(--serve-gateway-secrets serves them over plaintext)")
	}
	if o.configDir == "" {
		cfg, err := o.kube.restConfig()
		if err != nil {
			return err
		}
		o.restConfig = cfg
	}
	log, err := o.log.build(stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	mesh, err := loadMeshConfig(o.meshConfig)
	if err != nil {
		return err
	}
	grpcLis, err := net.Listen("tcp", o.grpcAddr)
	if err != nil {
		return fmt.Errorf("--grpc-addr: %w", err)
	}
	httpLis, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("--http-addr: %w", err)
	}
	if err := o.ca.listen(); err != nil {
		grpcLis.Close()
		httpLis.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, o, log, mesh, grpcLis, httpLis)
}

// serve runs the xDS server, its config source and both network servers
// until ctx ends or one of them fails, then stops them all.
func serve(ctx context.Context, o serveOptions, log *zap.Logger, mesh *meshv1alpha1.MeshConfig, grpcLis, httpLis net.Listener) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	xdsOpts := xds.Options{
		Logger:       log,
		Debounce:     o.debounce,
		DebounceMax:  o.debounceMax,
		MaxStreamAge: o.maxStreamAge,
		Registry:     reg,
		// Streams that proved an identity get their namespace's
		// secrets; plaintext ones only when the operator says so.
		ServeCredentials: o.serveGatewaySecrets,
	}
	var source configSource
	if o.configDir != "" {
		source = file.New(o.configDir, file.Options{Logger: log, Mesh: mesh, DomainSuffix: o.domainSuffix})
	} else {
		// A --mesh-config file wins over the ConfigMap.
		if o.meshConfig == "" {
			mesh = nil
		}
		ks, err := newKubeSource(o.restConfig, o, log, mesh, reg)
		if err != nil {
			return err
		}
		source, xdsOpts.SourceHealth = ks, sourceHealth(ks)
		log.Info("reading the mesh from the Kubernetes API server",
			zap.String("host", o.restConfig.Host),
			zap.Strings("watch_namespaces", o.kube.watchNamespaces),
			zap.Bool("mesh_configmap", mesh == nil))
	}
	srv := xds.NewServer(xdsOpts)
	grpcServer := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(grpcServer)
	httpServer := &http.Server{
		Handler:           httpHandler(srv.DebugHandler(), reg),
		ReadHeaderTimeout: 10 * time.Second,
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	failed := make(chan error, 6)
	run := func(name string, f func() error) {
		wg.Go(func() {
			err := f()
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	run("xds server", func() error { return srv.Run(ctx) })
	// The keys of RequestAuthentications enter each Snapshot on its way
	// from the source to the xDS server.
	keys := jwks.New(jwks.Options{Timeout: o.jwksTimeout, Refresh: o.jwksRefresh, BlockedCIDRs: o.jwksBlocked, Logger: log.Named("jwks")})
	run("jwks", func() error { return keys.Run(ctx) })
	// The trust bundle is published in the namespaces the snapshots'
	// discoverySelectors select.
	namespaces := &meshNamespaces{}
	run("config source", func() error { return source.Run(ctx, keys.Wrap(namespaces.follow(srv.Update))) })
	run("grpc server", func() error { return grpcServer.Serve(grpcLis) })
	run("http server", func() error { return httpServer.Serve(httpLis) })
	if o.ca.lis != nil {
		run("ca", func() error { return runCA(ctx, o, log, mesh, reg, srv, namespaces) })
	}
	logStarted(log, o, grpcLis.Addr(), httpLis.Addr())

	var err error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-failed:
		log.Error("shutting down after a failure", zap.Error(err))
	}
	cancel()
	stopGRPC(log, grpcServer)
	shutdownCtx, done := context.WithTimeout(context.Background(), shutdownGrace)
	defer done()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		log.Warn("http server did not stop in time", zap.Error(err))
	}
	wg.Wait()
	return err
}

// stopGRPC lets open RPCs finish, but not for longer than shutdownGrace.
func stopGRPC(log *zap.Logger, s *grpc.Server) {
	stopped := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(shutdownGrace):
		log.Warn("grpc server did not drain in time; closing its connections", zap.Duration("grace", shutdownGrace))
		s.Stop()
		<-stopped
	}
}
