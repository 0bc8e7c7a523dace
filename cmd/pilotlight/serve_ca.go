package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/pilotlight/pilotlight/ca"
	"github.com/pilotlight/pilotlight/discovery/kube"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/xds"
)

// caOptions are the flags of serve's certificate authority and of the
// TLS port (15012) that carries it.
type caOptions struct {
	secureGRPCAddr       string
	trustDomain          string
	dir                  string
	namespace            string
	keyType              string
	rootTTL              time.Duration
	rotationGrace        float64
	activationDelay      time.Duration
	workloadTTL          time.Duration
	maxWorkloadTTL       time.Duration
	servingDNSNames      []string
	trustedImpersonators []string
	// lis is the open --secure-grpc-addr listener; nil serves no CA.
	lis net.Listener
}

func (o *caOptions) addFlags(f *pflag.FlagSet) {
	// Off by default until the manifests grant the CA's RBAC (Secrets in
	// the control plane's namespace, TokenReviews): a CA that is refused
	// them only logs errors. Deployments pass :15012, istiod's port.
	f.StringVar(&o.secureGRPCAddr, "secure-grpc-addr", "",
		"address of the TLS gRPC server carrying the CA (Istio's CreateCertificate) and ADS, istiod's :15012, where every ADS stream proves the identity its node claims "+
			"(a service account token for audience istio-ca, or a certificate of this CA); empty serves no CA "+
			"(in a cluster the CA needs to read Secrets istio-ca-secret and cacerts, create and update istio-ca-secret, hold Lease pilotlight-ca in the same namespace, and create TokenReviews)")
	f.StringVar(&o.trustDomain, "trust-domain", "",
		"SPIFFE trust domain of the certificates issued (default: the mesh config's trustDomain, cluster.local unless set)")
	f.StringVar(&o.dir, "ca-dir", "",
		"keep the CA's root in this directory (ca-cert.pem, ca-key.pem; an operator's cert-chain.pem and root-cert.pem plug an intermediate in) "+
			"(default: Secrets istio-ca-secret / cacerts in --ca-namespace in a cluster, DIR/pilotlight/ca under the user cache directory with --config-dir)")
	f.StringVar(&o.namespace, "ca-namespace", "",
		"namespace of the CA Secrets istio-ca-secret and cacerts, istiod's (default: --mesh-configmap-namespace)")
	f.StringVar(&o.keyType, "ca-key-type", string(ca.KeyECDSA), "key type of a root the CA creates: ecdsa (P-256) or rsa (2048)")
	f.DurationVar(&o.rootTTL, "ca-root-ttl", ca.DefaultRootTTL, "validity of a self-signed root the CA creates")
	f.Float64Var(&o.rotationGrace, "ca-root-rotation-grace", ca.DefaultRotationGrace,
		"part of a self-signed root's life left when the next root is created and added to the trust bundle (istiod's 0.2); an operator's cacerts are never rotated")
	f.DurationVar(&o.activationDelay, "ca-root-activation-delay", 0,
		"how long a next root is in the trust bundle before it signs, so that every workload has it first (default: --max-workload-cert-ttl)")
	f.DurationVar(&o.workloadTTL, "workload-cert-ttl", ca.DefaultWorkloadTTL, "validity of a workload certificate whose request names none")
	f.DurationVar(&o.maxWorkloadTTL, "max-workload-cert-ttl", ca.DefaultMaxWorkloadTTL, "longest validity a workload certificate request may ask for; longer requests are refused")
	f.StringSliceVar(&o.servingDNSNames, "ca-serving-dns-names", nil,
		"DNS names (or IPs) added to those of --secure-grpc-addr's certificate, which always has istiod.istio-system.svc, istiod.istio-system.svc.cluster.local, istiod, pilotlight.istio-system.svc and localhost")
	f.StringSliceVar(&o.trustedImpersonators, "ca-trusted-impersonators", nil,
		"service accounts (NAMESPACE/NAME, comma-separated) that may ask for other identities' certificates (metadata ImpersonatedIdentity), such as node agents")
}

// listen checks the CA's flags and opens --secure-grpc-addr, unless it
// is empty.
func (o *caOptions) listen() error {
	if o.secureGRPCAddr == "" {
		return nil
	}
	if _, err := ca.ParseKeyType(o.keyType); err != nil {
		return fmt.Errorf("--ca-key-type: %w", err)
	}
	if o.workloadTTL < 0 || o.maxWorkloadTTL < 0 || (o.maxWorkloadTTL > 0 && o.workloadTTL > o.maxWorkloadTTL) {
		return fmt.Errorf("--workload-cert-ttl (%s) must be positive and not above --max-workload-cert-ttl (%s)", o.workloadTTL, o.maxWorkloadTTL)
	}
	if o.rootTTL <= 0 || o.activationDelay < 0 || o.rotationGrace <= 0 || o.rotationGrace >= 1 {
		return fmt.Errorf("--ca-root-ttl (%s) must be positive, --ca-root-rotation-grace (%v) between 0 and 1 and --ca-root-activation-delay (%s) not negative",
			o.rootTTL, o.rotationGrace, o.activationDelay)
	}
	if o.trustDomain != "" {
		if _, err := spiffeid.TrustDomainFromString(o.trustDomain); err != nil {
			return fmt.Errorf("--trust-domain: %w", err)
		}
	}
	lis, err := net.Listen("tcp", o.secureGRPCAddr)
	if err != nil {
		return fmt.Errorf("--secure-grpc-addr: %w", err)
	}
	o.lis = lis
	return nil
}

// caLoadBackoff bounds the wait between attempts to read the trust
// domain while the API server cannot be reached.
const caLoadBackoff = 30 * time.Second

// runCA loads (or creates) the CA's root and keeps it current, then
// serves CreateCertificate and ADS over TLS on the --secure-grpc-addr
// listener until ctx ends. A root that cannot be loaded yet (an API
// server outage, missing RBAC) is retried; plaintext xDS keeps being
// served meanwhile. In a cluster, replicas elect a leader with a Lease
// in the CA's namespace: it alone creates and rotates the root.
func runCA(ctx context.Context, o serveOptions, log *zap.Logger, mesh *meshv1alpha1.MeshConfig, reg prometheus.Registerer, xdsServer *xds.Server,
	namespaces *meshNamespaces,
) error {
	lis := o.ca.lis
	defer lis.Close()
	log = log.With(zap.String("component", "ca"))
	keyType, err := ca.ParseKeyType(o.ca.keyType)
	if err != nil {
		return fmt.Errorf("--ca-key-type: %w", err)
	}
	var client kubernetes.Interface
	if o.restConfig != nil {
		if client, err = kubernetes.NewForConfig(o.restConfig); err != nil {
			return fmt.Errorf("kubernetes client: %w", err)
		}
	}
	store, err := caStore(o, client)
	if err != nil {
		return err
	}
	var td spiffeid.TrustDomain
	for wait := time.Second; ; wait = min(2*wait, caLoadBackoff) {
		if td, err = trustDomain(ctx, o, mesh, client); err == nil {
			break
		}
		log.Error("the CA cannot start yet; retrying", zap.Error(err), zap.Duration("retry_in", wait))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	// The singletons stop before runCA returns, so that a leader
	// releases its Lease and another replica takes over at once.
	var wg sync.WaitGroup
	defer wg.Wait()
	var leadership ca.Leadership = ca.Alone{}
	if _, shared := store.(*ca.SecretStore); shared {
		lease, err := ca.NewLease(client, caNamespace(o), ca.DefaultLeaseName, log)
		if err != nil {
			return err
		}
		wg.Go(func() { lease.Run(ctx) })
		leadership = lease
	}
	roots, err := ca.NewRoots(ca.RootsOptions{
		Store:           store,
		Leadership:      leadership,
		Root:            ca.RootOptions{TrustDomain: td, KeyType: keyType, TTL: o.ca.rootTTL},
		Authority:       ca.Options{TrustDomain: td, DefaultTTL: o.ca.workloadTTL, MaxTTL: o.ca.maxWorkloadTTL},
		RotationGrace:   o.ca.rotationGrace,
		ActivationDelay: o.ca.activationDelay,
		Logger:          log,
		Registerer:      reg,
	})
	if err != nil {
		return err
	}
	wg.Go(func() { roots.Run(ctx) })
	authority, err := roots.Authority(ctx)
	if err != nil {
		return err
	}
	if client != nil {
		publisher, err := ca.NewPublisher(ca.PublisherOptions{
			Client:     client,
			Authority:  authority,
			Leadership: leadership,
			Namespaces: o.kube.watchNamespaces,
			Logger:     log,
			Registerer: reg,
		})
		if err != nil {
			return err
		}
		namespaces.attach(publisher)
		wg.Go(func() { publisher.Run(ctx) })
	}
	authn := ca.Authenticators{ca.NewCertAuthenticator(authority)}
	if client != nil {
		authn = append(authn, ca.NewTokenAuthenticator(ca.TokenOptions{Client: client, TrustDomain: authority.TrustDomain()}))
	} else {
		log.Warn("no Kubernetes API server to review service account tokens (--config-dir): " +
			"only callers presenting a certificate from this CA can get certificates")
	}
	caServer, err := ca.NewServer(ca.ServerOptions{
		Authority:            authority,
		Authenticator:        authn,
		TrustedImpersonators: o.ca.trustedImpersonators,
		Logger:               log,
		Registerer:           reg,
	})
	if err != nil {
		return err
	}
	serving, err := ca.NewServingCertificate(authority, ca.ServingOptions{
		Names:  append(slices.Clone(ca.DefaultServingDNSNames), o.ca.servingDNSNames...),
		Logger: log,
	})
	if err != nil {
		return err
	}
	g := grpc.NewServer(append(xdsServer.ServerOptions(), grpc.Creds(credentials.NewTLS(serving.TLSConfig())))...)
	caServer.Register(g)
	// ADS is served here too, so that istio-agent can use 15012 for both
	// as with istiod. Every stream on this port proves an identity with
	// the CA's authenticators and its node must claim that identity
	// (xds/auth.go); plain Envoys that ask get workload certificates the
	// CA mints (xds/workload.go); gateway certificates go to the service
	// accounts RBAC lets read their namespace's Secrets, as with istiod
	// (xds/sds.go), or, with no API server to ask, to every stream of
	// the namespace.
	auth := xds.AuthOptions{Authenticator: authn, WorkloadCA: authority}
	if client != nil && (o.readSecrets || o.serveGatewaySecrets) {
		auth.SecretsAuthorizer = ca.NewSecretAccessReviewer(client, nil)
	}
	xdsServer.RegisterAuthenticated(g, auth)
	go func() {
		<-ctx.Done()
		stopGRPC(log, g)
	}()
	log.Info("CA is serving",
		zap.String("addr", lis.Addr().String()),
		zap.Stringer("trust_domain", authority.TrustDomain()),
		zap.String("root_source", authority.Material().Source),
		zap.Time("root_expires", authority.Material().Root().NotAfter))
	return g.Serve(lis)
}

// caStore returns where the root is kept: --ca-dir when given, else
// istiod's Secrets in a cluster, else a directory in the user cache.
func caStore(o serveOptions, client kubernetes.Interface) (ca.Store, error) {
	switch {
	case o.ca.dir != "":
		return ca.NewFileStore(o.ca.dir), nil
	case client != nil:
		return ca.NewSecretStore(client, caNamespace(o)), nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("--ca-dir: no user cache directory to keep the CA's root in (%w); pass --ca-dir", err)
	}
	return ca.NewFileStore(filepath.Join(cache, "pilotlight", "ca")), nil
}

// caNamespace is the namespace of the CA's Secrets and Lease: istiod's.
func caNamespace(o serveOptions) string {
	for _, ns := range []string{o.ca.namespace, o.kube.meshConfigMapNamespace} {
		if ns != "" {
			return ns
		}
	}
	return kube.DefaultMeshConfigMapNamespace
}

// trustDomain returns the trust domain of the certificates issued.
func trustDomain(ctx context.Context, o serveOptions, mesh *meshv1alpha1.MeshConfig, client kubernetes.Interface) (spiffeid.TrustDomain, error) {
	name, err := trustDomainName(ctx, o, mesh, client)
	if err != nil {
		return spiffeid.TrustDomain{}, err
	}
	td, err := spiffeid.TrustDomainFromString(name)
	if err != nil {
		return spiffeid.TrustDomain{}, fmt.Errorf("trust domain %q: %w", name, err)
	}
	return td, nil
}

// trustDomainName returns --trust-domain, else the mesh config's trust
// domain: the --mesh-config file's, or in a cluster the mesh ConfigMap's,
// read once at start (a later change needs a restart, as the root does).
func trustDomainName(ctx context.Context, o serveOptions, mesh *meshv1alpha1.MeshConfig, client kubernetes.Interface) (string, error) {
	if o.ca.trustDomain != "" {
		return o.ca.trustDomain, nil
	}
	if mesh == nil && client != nil {
		ns := o.kube.meshConfigMapNamespace
		if ns == "" {
			ns = kube.DefaultMeshConfigMapNamespace
		}
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, kube.DefaultMeshConfigMapName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return "", fmt.Errorf("reading the mesh ConfigMap for the trust domain: %w", err)
		default:
			if mesh, err = model.ParseMeshConfig([]byte(cm.Data[kube.MeshConfigMapKey])); err != nil {
				return "", fmt.Errorf("ConfigMap %s/%s: %w", ns, kube.DefaultMeshConfigMapName, err)
			}
		}
	}
	if td := mesh.GetTrustDomain(); td != "" {
		return td, nil
	}
	return model.DefaultMeshConfig().GetTrustDomain(), nil
}

// meshNamespaces follows the mesh's discoverySelectors in the snapshots
// the config source publishes, so that the trust bundle is published in
// the mesh's namespaces only, as istiod does.
type meshNamespaces struct {
	mu        sync.Mutex
	selectors []*meshv1alpha1.LabelSelector
	publisher *ca.Publisher
}

// follow wraps a snapshot consumer: every snapshot's discoverySelectors
// reach the publisher first.
func (m *meshNamespaces) follow(next func(*model.Snapshot, []model.Problem)) func(*model.Snapshot, []model.Problem) {
	return func(s *model.Snapshot, problems []model.Problem) {
		m.set(s.Mesh().GetDiscoverySelectors())
		next(s, problems)
	}
}

func (m *meshNamespaces) set(selectors []*meshv1alpha1.LabelSelector) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.EqualFunc(selectors, m.selectors, func(a, b *meshv1alpha1.LabelSelector) bool { return proto.Equal(a, b) }) {
		return
	}
	m.selectors = selectors
	m.applyLocked()
}

// attach hands the selectors to the publisher, now and on every change.
func (m *meshNamespaces) attach(p *ca.Publisher) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.publisher = p
	m.applyLocked()
}

func (m *meshNamespaces) applyLocked() {
	if m.publisher == nil {
		return
	}
	// The config source admits only a mesh whose selectors compile; an
	// error here would leave every namespace selected.
	compiled, _ := kube.CompileSelectors(m.selectors)
	m.publisher.SelectNamespaces(func(nsLabels map[string]string) bool {
		if len(compiled) == 0 {
			return true
		}
		return slices.ContainsFunc(compiled, func(s labels.Selector) bool { return s.Matches(labels.Set(nsLabels)) })
	})
}
