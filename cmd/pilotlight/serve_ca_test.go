package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/pilotlight/pilotlight/ca"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
)

// startServeCA runs serve with its CA on a third loopback port and the
// root kept in a temporary directory.
func startServeCA(t *testing.T, configDir string) (xdsAddr, httpAddr, caAddr, caDir string) {
	t.Helper()
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	grpcLis, httpLis, caLis := listen(), listen(), listen()
	caDir = filepath.Join(t.TempDir(), "ca")
	o := serveOptions{configDir: configDir, domainSuffix: "cluster.local", debounce: time.Millisecond, debounceMax: 10 * time.Millisecond, maxStreamAge: time.Hour,
		ca: caOptions{dir: caDir, keyType: "ecdsa", workloadTTL: time.Hour, maxWorkloadTTL: 48 * time.Hour, lis: caLis}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o, zaptest.NewLogger(t), model.DefaultMeshConfig(), grpcLis, httpLis) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(2 * shutdownGrace):
			t.Errorf("serve did not stop within %v of its context ending", 2*shutdownGrace)
		}
	})
	return grpcLis.Addr().String(), httpLis.Addr().String(), caLis.Addr().String(), caDir
}

// tlsTo returns credentials that trust the root in caDir and expect the
// name istio-agent dials istiod by.
func tlsTo(t *testing.T, caDir string, certs ...tls.Certificate) credentials.TransportCredentials {
	t.Helper()
	var pool *x509.CertPool
	eventually(t, "the CA's root", func() error {
		pemBytes, err := os.ReadFile(filepath.Join(caDir, "ca-cert.pem"))
		if err != nil {
			return err
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return errors.New("ca-cert.pem holds no certificate")
		}
		return nil
	})
	return credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "istiod.istio-system.svc", Certificates: certs, MinVersion: tls.VersionTLS12})
}

func TestServeCA(t *testing.T) {
	_, httpAddr, caAddr, caDir := startServeCA(t, "testdata/analyze/good")
	creds := tlsTo(t, caDir)
	conn, err := grpc.NewClient(caAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	caClient := securityv1alpha1.NewIstioCertificateServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// With --config-dir there is no API server to review tokens: only a
	// certificate from this CA proves an identity.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := "spiffe://cluster.local/ns/bookstore/sa/web"
	req := &securityv1alpha1.IstioCertificateRequest{Csr: string(csrPEM(t, key, id))}
	var callErr error
	eventually(t, "the CA port", func() error {
		_, callErr = caClient.CreateCertificate(ctx, req)
		if status.Code(callErr) == codes.Unavailable {
			return callErr
		}
		return nil
	})
	if status.Code(callErr) != codes.Unauthenticated || !strings.Contains(callErr.Error(), "no credentials") {
		t.Fatalf("no credentials: error = %v, want Unauthenticated", callErr)
	}

	// A workload that already holds a certificate of this CA renews it.
	store := ca.NewFileStore(caDir)
	stored, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	material, err := ca.ParseMaterial(stored, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	authority, err := ca.New(material, ca.Options{TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local")})
	if err != nil {
		t.Fatal(err)
	}
	csr, csrID, err := ca.ParseCSR(csrPEM(t, key, id))
	if err != nil {
		t.Fatal(err)
	}
	held, err := authority.SignWorkload(csr, csrID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mtls, err := grpc.NewClient(caAddr, grpc.WithTransportCredentials(tlsTo(t, caDir, tls.Certificate{Certificate: [][]byte{held.Cert.Raw}, PrivateKey: key})))
	if err != nil {
		t.Fatal(err)
	}
	defer mtls.Close()
	resp, err := securityv1alpha1.NewIstioCertificateServiceClient(mtls).CreateCertificate(ctx, req)
	if err != nil {
		t.Fatalf("renewal over mTLS: %v", err)
	}
	if len(resp.CertChain) != 2 {
		t.Fatalf("chain of %d certificates, want leaf and root", len(resp.CertChain))
	}
	block, _ := pem.Decode([]byte(resp.CertChain[0]))
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id {
		t.Errorf("issued for %v, want %s", leaf.URIs, id)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: material.RootPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the issued certificate does not verify to the root: %v", err)
	}
	if ttl := time.Until(leaf.NotAfter); ttl > time.Hour || ttl < 58*time.Minute {
		t.Errorf("TTL = %s, want --workload-cert-ttl's 1h", ttl)
	}

	// ADS is served on the same TLS port, to streams that prove the
	// identity their node claims: not to an anonymous one, but to the
	// holder of bookstore/web's certificate.
	node := &corev3.Node{Id: "sidecar~10.244.1.50~web-1.bookstore~bookstore.svc.cluster.local"}
	anonymous, err := client.Dial(ctx, caAddr, node,
		client.Options{Delta: true, DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(creds)}})
	if err != nil {
		t.Fatal(err)
	}
	defer anonymous.Close()
	_ = anonymous.Subscribe(resource.ClusterType) // The stream may be gone already.
	select {
	case <-anonymous.Done():
		if status.Code(anonymous.Err()) != codes.Unauthenticated {
			t.Errorf("an anonymous ADS stream on the CA port ended with %v, want Unauthenticated", anonymous.Err())
		}
	case <-ctx.Done():
		t.Fatal("an anonymous ADS stream on the CA port was not refused")
	}
	ads, err := client.New(ctx, mtls, node, client.Options{Delta: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ads.Close()
	if err := ads.Subscribe(resource.ClusterType); err != nil {
		t.Fatal(err)
	}
	select {
	case u, ok := <-ads.Updates():
		if !ok {
			t.Fatalf("the authenticated ADS stream ended: %v", ads.Err())
		}
		if _, ok := u.Resources["outbound|9080||ratings.bookstore.svc.cluster.local"]; !ok {
			t.Errorf("the ratings cluster is missing from %v", keys(u.Resources))
		}
	case <-ctx.Done():
		t.Fatal("no ADS response on the CA port")
	}

	code, body := httpGet(t, "http://"+httpAddr+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, "pilotlight_ca_root_expiry_timestamp_seconds") {
		t.Errorf("/metrics has no CA root expiry (status %d)", code)
	}
}

func csrPEM(t *testing.T, key *ecdsa.PrivateKey, uri string) []byte {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestServeCAFlagErrors(t *testing.T) {
	base := serveOptions{configDir: "x", grpcAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", log: logOptions{format: "json", level: "info"}}
	for _, tc := range []struct {
		name string
		edit func(*caOptions)
		want string
	}{
		{"bad key type", func(o *caOptions) { o.keyType = "dsa" }, "--ca-key-type"},
		{"default TTL above max", func(o *caOptions) { o.workloadTTL, o.maxWorkloadTTL = 2*time.Hour, time.Hour }, "--max-workload-cert-ttl"},
		{"bad trust domain", func(o *caOptions) { o.trustDomain = "Not A Domain" }, "--trust-domain"},
		{"bad address", func(o *caOptions) { o.secureGRPCAddr = "256.0.0.1:1" }, "--secure-grpc-addr"},
		{"rotation grace above 1", func(o *caOptions) { o.rotationGrace = 1.5 }, "--ca-root-rotation-grace"},
		{"negative root TTL", func(o *caOptions) { o.rootTTL = -time.Hour }, "--ca-root-ttl"},
		{"secrets read for no authenticated stream", func(o *caOptions) { o.secureGRPCAddr = "" }, "--read-secrets serves secrets only to streams authenticated on --secure-grpc-addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			o.ca = caOptions{secureGRPCAddr: "127.0.0.1:0", keyType: "ecdsa", rootTTL: ca.DefaultRootTTL, rotationGrace: ca.DefaultRotationGrace}
			tc.edit(&o.ca)
			o.readSecrets = o.ca.secureGRPCAddr == ""
			err := runServe(context.Background(), o, zaptestSink{t})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCATrustDomain(t *testing.T) {
	meshCM := func(data string) *corev1.ConfigMap {
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "istio", Namespace: "istio-system"},
			Data:       map[string]string{"mesh": data},
		}
	}
	fileMesh := model.DefaultMeshConfig()
	fileMesh.TrustDomain = "from-file.example"
	for _, tc := range []struct {
		name    string
		flag    string
		mesh    *meshv1alpha1.MeshConfig
		client  kubernetes.Interface
		want    string
		wantErr string
	}{
		{name: "flag wins", flag: "flag.example", mesh: fileMesh, want: "flag.example"},
		{name: "mesh config file", mesh: fileMesh, client: fake.NewClientset(meshCM("trustDomain: cm.example")), want: "from-file.example"},
		{name: "mesh ConfigMap", client: fake.NewClientset(meshCM("trustDomain: cm.example")), want: "cm.example"},
		{name: "mesh ConfigMap without trust domain", client: fake.NewClientset(meshCM("enableTracing: true")), want: "cluster.local"},
		{name: "no mesh ConfigMap", client: fake.NewClientset(), want: "cluster.local"},
		{name: "broken mesh ConfigMap", client: fake.NewClientset(meshCM("trustDomian: typo.example")), wantErr: "ConfigMap istio-system/istio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := serveOptions{ca: caOptions{trustDomain: tc.flag}}
			got, err := trustDomainName(context.Background(), o, tc.mesh, tc.client)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("trust domain = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestCAStoreInACluster(t *testing.T) {
	client := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "istio", Namespace: "mesh-system"},
		Data:       map[string]string{"mesh": "trustDomain: corp.example"},
	})
	o := serveOptions{kube: kubeOptions{meshConfigMapNamespace: "mesh-system"}, ca: caOptions{keyType: "rsa"}}
	store, err := caStore(o, client)
	if err != nil {
		t.Fatal(err)
	}
	td, err := trustDomain(t.Context(), o, nil, client)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := ca.NewRoots(ca.RootsOptions{
		Store: store, Root: ca.RootOptions{TrustDomain: td, KeyType: ca.KeyRSA}, Authority: ca.Options{TrustDomain: td}, Logger: zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	defer func() { cancel(); <-stopped }()
	go func() { roots.Run(ctx); close(stopped) }()
	a, err := roots.Authority(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.TrustDomain().Name() != "corp.example" {
		t.Errorf("trust domain = %s, want the mesh ConfigMap's corp.example", a.TrustDomain())
	}
	sec, err := client.CoreV1().Secrets("mesh-system").Get(context.Background(), "istio-ca-secret", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the root was not stored as istiod's Secret in the control plane's namespace: %v", err)
	}
	if got := a.Material().Source; got != "Secret mesh-system/istio-ca-secret" || len(sec.Data["ca-key.pem"]) == 0 {
		t.Errorf("root from %q", got)
	}

	o.ca.namespace = "ca-system"
	if store, _ := caStore(o, client); !strings.Contains(store.String(), "ca-system/istio-ca-secret") {
		t.Errorf("--ca-namespace ignored: %s", store)
	}
	o.ca.dir = t.TempDir()
	if store, _ := caStore(o, client); store.String() != "directory "+o.ca.dir {
		t.Errorf("--ca-dir ignored in a cluster: %s", store)
	}
}

// TestMeshNamespacesFollowDiscoverySelectors: the trust bundle goes to
// the namespaces the published snapshot's discoverySelectors select, and
// to all of them again once the selectors are dropped.
func TestMeshNamespacesFollowDiscoverySelectors(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	defer func() { cancel(); <-stopped }()
	client := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"istio-discovery": "enabled"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "legacy"}},
	)
	roots, err := ca.NewRoots(ca.RootsOptions{Store: ca.NewMemoryStore(), Root: ca.RootOptions{TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local")},
		Authority: ca.Options{TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local")}})
	if err != nil {
		t.Fatal(err)
	}
	go roots.Run(ctx)
	authority, err := roots.Authority(ctx)
	if err != nil {
		t.Fatal(err)
	}
	publisher, err := ca.NewPublisher(ca.PublisherOptions{Client: client, Authority: authority})
	if err != nil {
		t.Fatal(err)
	}
	namespaces := &meshNamespaces{}
	snapshot := func(selectors ...*meshv1alpha1.LabelSelector) *model.Snapshot {
		b := model.NewBuilder()
		b.SetMesh(&meshv1alpha1.MeshConfig{DiscoverySelectors: selectors})
		return b.Build()
	}
	var published int
	follow := namespaces.follow(func(*model.Snapshot, []model.Problem) { published++ })
	follow(snapshot(&meshv1alpha1.LabelSelector{MatchLabels: map[string]string{"istio-discovery": "enabled"}}), nil)
	namespaces.attach(publisher)
	go func() { publisher.Run(ctx); close(stopped) }()
	has := func(ns string) func() error {
		return func() error {
			_, err := client.CoreV1().ConfigMaps(ns).Get(ctx, ca.RootCertConfigMap, metav1.GetOptions{})
			return err
		}
	}
	eventually(t, "the bundle in the selected namespace", has("shop"))
	if has("legacy")() == nil {
		t.Error("the bundle was published in a namespace the discoverySelectors leave out")
	}
	follow(snapshot(), nil)
	eventually(t, "the bundle everywhere once the selectors are gone", has("legacy"))
	if published != 2 {
		t.Errorf("%d snapshots passed on, want 2", published)
	}
}
