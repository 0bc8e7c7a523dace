package xds

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/pilotlight/pilotlight/ca"
	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
	"github.com/pilotlight/pilotlight/xds/debugapi"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

var testTrustDomain = spiffeid.RequireTrustDomainFromString("cluster.local")

// tlsPort is the harness's server also served on a TLS port, as serve
// does on 15012: a CA with a fresh root, its serving certificate, and
// the CA's authenticators (client certificates, then service account
// tokens reviewed by a fake API server).
type tlsPort struct {
	addr      string
	authority *ca.Authority
	issuer    *testIssuer
	roots     *x509.CertPool
	reviews   *fakeReviews
}

// testIssuer is the CA as the server sees it, with roots that a test
// can add to the trust bundle, which wakes its watchers.
type testIssuer struct {
	*ca.Authority
	mu       sync.Mutex
	extra    []byte
	replaced chan struct{}
}

func (i *testIssuer) Watch() (*ca.Material, <-chan struct{}) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.Material(), i.replaced
}

func (i *testIssuer) TrustBundlePEM() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append(i.Authority.TrustBundlePEM(), i.extra...)
}

func (i *testIssuer) addRoot(pemRoot []byte) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.extra = append(i.extra, pemRoot...)
	close(i.replaced)
	i.replaced = make(chan struct{})
}

func (h *harness) serveTLS() *tlsPort {
	h.t.Helper()
	m, _, err := ca.LoadOrCreate(context.Background(), ca.NewMemoryStore(), ca.RootOptions{TrustDomain: testTrustDomain})
	if err != nil {
		h.t.Fatal(err)
	}
	authority, err := ca.New(m, ca.Options{TrustDomain: testTrustDomain})
	if err != nil {
		h.t.Fatal(err)
	}
	serving, err := ca.NewServingCertificate(authority, ca.ServingOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	reviews := newFakeReviews()
	authn := ca.Authenticators{
		ca.NewCertAuthenticator(authority),
		ca.NewTokenAuthenticator(ca.TokenOptions{Client: reviews.client, TrustDomain: testTrustDomain}),
	}
	g := grpc.NewServer(append(h.srv.ServerOptions(), grpc.Creds(credentials.NewTLS(serving.TLSConfig())))...)
	issuer := &testIssuer{Authority: authority, replaced: make(chan struct{})}
	h.srv.RegisterAuthenticated(g, AuthOptions{Authenticator: authn, WorkloadCA: issuer, SecretsAuthorizer: h.secretsAuthz})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	h.t.Cleanup(g.Stop)
	roots := x509.NewCertPool()
	for _, r := range m.Roots {
		roots.AddCert(r)
	}
	return &tlsPort{addr: lis.Addr().String(), authority: authority, issuer: issuer, roots: roots, reviews: reviews}
}

// creds is what a client presents on the TLS port.
type creds struct {
	token string
	cert  *tls.Certificate
}

// dial opens an ADS stream on the TLS port.
func (p *tlsPort) dial(t testing.TB, node *corev3.Node, c creds, opts client.Options) *client.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: p.roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if c.cert != nil {
		cfg.Certificates = []tls.Certificate{*c.cert}
	}
	opts.DialOptions = append(opts.DialOptions, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	ctx := context.Background()
	if c.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
	}
	cl, err := client.Dial(ctx, p.addr, node, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// clientCert returns a workload certificate for ns/sa issued by a.
func clientCert(t testing.TB, a *ca.Authority, ns, sa string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ca.WorkloadID(a.TrustDomain(), ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := a.SignWorkload(&x509.CertificateRequest{PublicKey: key.Public()}, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert := &tls.Certificate{PrivateKey: key, Leaf: issued.Cert}
	for _, c := range issued.ChainPEM[:len(issued.ChainPEM)-1] {
		block, _ := pem.Decode([]byte(c))
		if block == nil {
			t.Fatalf("chain element is not PEM: %q", c)
		}
		cert.Certificate = append(cert.Certificate, block.Bytes)
	}
	return cert
}

// fakeReviews is a fake API server answering TokenReviews from a table
// of tokens, as kube-apiserver does: an unknown token is not
// authenticated; a token for other audiences is refused.
type fakeReviews struct {
	client *fake.Clientset
	mu     sync.Mutex
	tokens map[string]fakeToken
	down   bool
}

type fakeToken struct {
	ns, sa    string
	audiences []string
}

func newFakeReviews() *fakeReviews {
	f := &fakeReviews{client: fake.NewClientset(), tokens: map[string]fakeToken{}}
	f.client.PrependReactor("create", "tokenreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		tr := action.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		f.mu.Lock()
		tok, known := f.tokens[tr.Spec.Token]
		down := f.down
		f.mu.Unlock()
		if down {
			return true, nil, errors.New("dial tcp 10.96.0.1:443: connect: connection refused")
		}
		var auds []string
		for _, a := range tok.audiences {
			if slices.Contains(tr.Spec.Audiences, a) {
				auds = append(auds, a)
			}
		}
		switch {
		case !known:
			tr.Status.Error = "invalid bearer token"
		case len(auds) == 0:
			tr.Status.Error = fmt.Sprintf("token audiences %v is invalid for the target audiences %v", tok.audiences, tr.Spec.Audiences)
		default:
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: auds, User: authenticationv1.UserInfo{
				Username: "system:serviceaccount:" + tok.ns + ":" + tok.sa,
				Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + tok.ns, "system:authenticated"},
			}}
		}
		return true, tr, nil
	})
	return f
}

// issue returns a new token of ns/sa for the audiences, expiring at exp.
func (f *fakeReviews) issue(ns, sa string, exp time.Time, audiences ...string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := jwtLike(exp, fmt.Sprintf("%s/%s/%d", ns, sa, len(f.tokens)))
	f.tokens[tok] = fakeToken{ns: ns, sa: sa, audiences: audiences}
	return tok
}

// jwtLike returns a token shaped like a JWT expiring at exp. Only the
// fake API server decides whether it is valid.
func jwtLike(exp time.Time, subject string) string {
	claims, _ := json.Marshal(map[string]any{"sub": subject, "exp": exp.Unix()})
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(claims) + "." + enc([]byte("signature of "+subject))
}

func ratingsNode() xdstest.Node {
	return xdstest.Node{Pod: "ratings-1", Namespace: "ns-0", IP: modeltest.PodIP(0), ServiceAccount: "ratings"}
}

// Every stream on the TLS port proves an identity that its node claims,
// or ends before anything is sent with a clear code, one log line and a
// count by reason.
func TestTLSPortAuthenticatesStreams(t *testing.T) {
	h := newHarness(t)
	h.install(modeltest.Mesh{Services: 3, Endpoints: 1, Namespaces: 2}.Build())
	port := h.serveTLS()
	hour := time.Now().Add(time.Hour)
	foreign := foreignCert(t)

	for _, tc := range []struct {
		name   string
		node   xdstest.Node
		creds  creds
		code   codes.Code
		reason string // of a refusal; the method of an admission
		msg    string
	}{{
		name: "valid token", node: ratingsNode(),
		creds: creds{token: port.reviews.issue("ns-0", "ratings", hour, "istio-ca")}, reason: "kubernetes-token",
	}, {
		name: "token and node without a service account", node: xdstest.Node{Pod: "ratings-2", Namespace: "ns-0", IP: modeltest.PodIP(0)},
		creds: creds{token: port.reviews.issue("ns-0", "ratings", hour, "istio-ca")}, reason: "kubernetes-token",
	}, {
		name: "client certificate", node: ratingsNode(),
		creds: creds{cert: clientCert(t, port.authority, "ns-0", "ratings")}, reason: "client-certificate",
	}, {
		name: "no credentials", node: ratingsNode(),
		code: codes.Unauthenticated, reason: ca.ReasonNoCredentials, msg: "no credentials",
	}, {
		name: "forged token", node: ratingsNode(),
		creds: creds{token: jwtLike(hour, "forged")},
		code:  codes.Unauthenticated, reason: ca.ReasonTokenRejected, msg: "invalid bearer token",
	}, {
		name: "wrong audience", node: ratingsNode(),
		creds: creds{token: port.reviews.issue("ns-0", "ratings", hour, "vault")},
		code:  codes.Unauthenticated, reason: ca.ReasonTokenRejected, msg: "audience",
	}, {
		name: "expired token", node: ratingsNode(),
		creds: creds{token: port.reviews.issue("ns-0", "ratings", time.Now().Add(-time.Minute), "istio-ca")},
		code:  codes.Unauthenticated, reason: ca.ReasonTokenRejected, msg: "expired",
	}, {
		name: "certificate of another CA", node: ratingsNode(),
		creds: creds{cert: foreign},
		code:  codes.Unauthenticated, reason: ca.ReasonCertificateRejected, msg: "not one of this CA's",
	}, {
		// The node id says ns-1; the token is ns-0's.
		name: "node in another namespace", node: xdstest.Node{Pod: "ratings-1", Namespace: "ns-1", IP: modeltest.PodIP(1), ServiceAccount: "ratings"},
		creds: creds{token: port.reviews.issue("ns-0", "ratings", hour, "istio-ca")},
		code:  codes.PermissionDenied, reason: ca.ReasonIdentityMismatch, msg: "claims namespace ns-1",
	}, {
		name: "node with another service account", node: xdstest.Node{Pod: "ratings-1", Namespace: "ns-0", IP: modeltest.PodIP(0), ServiceAccount: "admin"},
		creds: creds{cert: clientCert(t, port.authority, "ns-0", "ratings")},
		code:  codes.PermissionDenied, reason: ca.ReasonIdentityMismatch, msg: "service account admin",
	}} {
		for _, delta := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/delta=%v", tc.name, delta), func(t *testing.T) {
				label := map[string]string{"reason": tc.reason}
				counter := "pilotlight_xds_refused_streams_total"
				if tc.code == codes.OK {
					label, counter = map[string]string{"method": tc.reason}, "pilotlight_xds_authenticated_streams_total"
				}
				before := h.metric(counter, label)
				c := port.dial(t, tc.node.Proto(), tc.creds, client.Options{Delta: delta})
				// A stream refused when it opens may be gone before the
				// request is sent.
				if err := c.Subscribe(resource.ClusterType); err != nil && tc.code == codes.OK {
					t.Fatal(err)
				}
				if tc.code == codes.OK {
					if u := next(t, c); u.TypeURL != resource.ClusterType || len(u.Resources) == 0 {
						t.Fatalf("got %s with %d resources, want clusters", u.TypeURL, len(u.Resources))
					}
				} else {
					select {
					case u, ok := <-c.Updates():
						if ok {
							t.Fatalf("a refused stream was sent %s", u.TypeURL)
						}
					case <-time.After(patience):
						t.Fatalf("stream still open after %v", patience)
					}
					if got := streamError(t, c); got != tc.code {
						t.Fatalf("stream ended with %v (%v), want %v", got, c.Err(), tc.code)
					}
					if !strings.Contains(c.Err().Error(), tc.msg) {
						t.Errorf("error %q does not say %q", c.Err(), tc.msg)
					}
				}
				if got := h.metric(counter, label) - before; got != 1 {
					t.Errorf("%s%v counted %v, want 1", counter, label, got)
				}
			})
		}
	}
	if n := h.logs.FilterMessageSnippet("refusing stream").Len(); n != 14 {
		t.Errorf("%d refusal log lines, want one per refused stream (14)", n)
	}
	for _, e := range h.logs.All() {
		for tok := range port.reviews.tokens {
			if strings.Contains(e.Message+fmtFields(e.ContextMap()), tok) {
				t.Fatalf("log line shows a token: %s %v", e.Message, e.ContextMap())
			}
		}
	}
}

// A TokenReview the API server cannot answer refuses the stream with
// Unavailable, so that the proxy retries, and is logged as a warning.
func TestTLSPortTokenReviewDown(t *testing.T) {
	h := newHarness(t)
	h.install(modeltest.Mesh{Services: 1, Endpoints: 1, Namespaces: 1}.Build())
	port := h.serveTLS()
	tok := port.reviews.issue("ns-0", "ratings", time.Now().Add(time.Hour), "istio-ca")
	port.reviews.mu.Lock()
	port.reviews.down = true
	port.reviews.mu.Unlock()
	c := port.dial(t, ratingsNode().Proto(), creds{token: tok}, client.Options{})
	_ = c.Subscribe(resource.ClusterType) // The stream may be gone already.
	if got := streamError(t, c); got != codes.Unavailable {
		t.Fatalf("stream ended with %v (%v), want Unavailable", got, c.Err())
	}
	if got := h.metric("pilotlight_xds_refused_streams_total", map[string]string{"reason": ca.ReasonTokenReviewUnavailable}); got != 1 {
		t.Errorf("refusals for an unavailable API server counted %v, want 1", got)
	}
}

// foreignCert returns a workload certificate for ns-0/ratings from a CA
// the server does not trust.
func foreignCert(t *testing.T) *tls.Certificate {
	m, _, err := ca.LoadOrCreate(context.Background(), ca.NewMemoryStore(), ca.RootOptions{TrustDomain: testTrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.New(m, ca.Options{TrustDomain: testTrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	return clientCert(t, other, "ns-0", "ratings")
}

// Without --serve-gateway-secrets, a router whose stream on the TLS port
// proved its namespace's identity gets that namespace's gateway
// certificates, and only those; the same router over plaintext, asking
// for the same name, gets nothing.
func TestAuthenticatedRoutersGetTheirNamespacesSecrets(t *testing.T) {
	h := newHarness(t)
	h.install(gatewayMesh("v1"))
	port := h.serveTLS()
	hour := time.Now().Add(time.Hour)
	for _, delta := range []bool{false, true} {
		for _, ns := range []string{"istio-system", "shop"} {
			tok := port.reviews.issue(ns, "ingress", hour, "istio-ca")
			c := port.dial(t, gatewayNode("ingress", ns).Proto(), creds{token: tok}, client.Options{Delta: delta})
			subscribe(t, c, resource.SecretType, gateway0SDSName)
			if got := privateKey(t, next(t, c), gateway0SDSName); got != keyMarker+" v1 of "+ns {
				t.Fatalf("%s router got key %q", ns, got)
			}
		}
		plain := h.dial(gatewayNode("ingress", "istio-system").Proto(), client.Options{Delta: delta})
		subscribe(t, plain, resource.SecretType, gateway0SDSName)
		subscribe(t, plain, resource.ListenerType)
		if u := next(t, plain); u.TypeURL != resource.ListenerType {
			t.Fatalf("plaintext router got %s, want only listeners", u.TypeURL)
		}
		quiet(t, plain, 200*time.Millisecond)
	}
	if got := h.metric("pilotlight_xds_refused_secret_requests_total", nil); got != 2 {
		t.Errorf("refused secret requests counted %v, want the 2 plaintext ones", got)
	}

	// syncz says who each stream proved to be.
	var syncz []debugapi.SyncStatus
	h.getJSON(t, debugapi.SynczPath, &syncz)
	identities := map[string]int{}
	for _, s := range syncz {
		identities[s.Identity+" "+s.AuthenticatedBy]++
	}
	want := map[string]int{
		"spiffe://cluster.local/ns/istio-system/sa/ingress kubernetes-token": 2,
		"spiffe://cluster.local/ns/shop/sa/ingress kubernetes-token":         2,
		" ": 2, // The plaintext streams.
	}
	if !maps.Equal(identities, want) {
		t.Errorf("syncz identities %v, want %v", identities, want)
	}
}

// BenchmarkStreamOpen is the cost of one ADS stream until its first
// (small) CDS answer, on one open connection: plaintext, and on the TLS
// port authenticated by a token (its review cached, as for a reconnecting
// proxy) or by the connection's client certificate. The difference is
// what authentication adds per stream.
func BenchmarkStreamOpen(b *testing.B) {
	h := newHarness(b)
	h.install(modeltest.Mesh{Services: 3, Endpoints: 1, Namespaces: 1}.Build())
	port := h.serveTLS()
	node := ratingsNode().Proto()
	token := port.reviews.issue("ns-0", "ratings", time.Now().Add(time.Hour), "istio-ca")
	tlsConn := func(cert *tls.Certificate) *grpc.ClientConn {
		cfg := &tls.Config{RootCAs: port.roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		conn, err := grpc.NewClient(port.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		return conn
	}
	plain, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { plain.Close() })
	for _, tc := range []struct {
		name string
		conn *grpc.ClientConn
		ctx  context.Context
	}{
		{"plaintext", plain, context.Background()},
		{"token", tlsConn(nil), metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)},
		{"client-certificate", tlsConn(clientCert(b, port.authority, "ns-0", "ratings")), context.Background()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				c, err := client.New(tc.ctx, tc.conn, node, client.Options{Raw: true})
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Subscribe(resource.ClusterType); err != nil {
					b.Fatal(err)
				}
				if _, ok := <-c.Updates(); !ok {
					b.Fatalf("stream ended: %v", c.Err())
				}
				c.Close()
			}
		})
	}
}

// onlyAccount is a SecretsAuthorizer that lets one service account name
// read its namespace's Secrets, as an RBAC Role for the gateway would.
type onlyAccount string

func (a onlyAccount) MayReadSecrets(_ context.Context, c *ca.Caller) error {
	if c.ServiceAccount == string(a) {
		return nil
	}
	return ca.GRPCError(fmt.Errorf("%s may not", c.ID)) // Any error refuses.
}

// Proving a namespace is not enough for its gateway certificates: any
// workload there can, and claim to be a router. A stream whose service
// account may not read the namespace's Secrets is served its other
// secrets (its own minted ones) without them, counted and logged once.
func TestGatewayCertificatesNeedSecretAccess(t *testing.T) {
	h := newHarness(t)
	h.secretsAuthz = onlyAccount("ingress")
	h.install(gatewayMesh("v1"))
	port := h.serveTLS()
	hour := time.Now().Add(time.Hour)
	for _, delta := range []bool{false, true} {
		gw := port.dial(t, gatewayNode("ingress", "shop").Proto(), creds{token: port.reviews.issue("shop", "ingress", hour, "istio-ca")}, client.Options{Delta: delta})
		subscribe(t, gw, resource.SecretType, gateway0SDSName)
		if got := privateKey(t, next(t, gw), gateway0SDSName); got != keyMarker+" v1 of shop" {
			t.Fatalf("the gateway's account got key %q", got)
		}

		web := xdstest.Node{Type: "router", Pod: "web-1", Namespace: "shop", IP: "10.244.0.9", ServiceAccount: "web",
			Labels: map[string]string{"istio": "ingressgateway"}}
		c := port.dial(t, optedIn(web), creds{token: port.reviews.issue("shop", "web", hour, "istio-ca")}, client.Options{Delta: delta})
		subscribe(t, c, resource.SecretType, gateway0SDSName, workloadCertName, workloadRootName)
		u := next(t, c)
		if _, ok := u.Resources[gateway0SDSName]; ok || leafURI(t, u) != "spiffe://cluster.local/ns/shop/sa/web" {
			t.Fatalf("shop/web got %v, want only its own workload secrets", slices.Sorted(maps.Keys(u.Resources)))
		}
		// A later subscription is refused the same way, without asking again.
		subscribe(t, c, resource.SecretType, gateway0SDSName, workloadCertName)
		select {
		case u := <-c.Updates():
			if u.Resources[gateway0SDSName] != nil {
				t.Fatal("a later subscription got the gateway certificate")
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
	if got := h.metric("pilotlight_xds_refused_secret_requests_total", map[string]string{"reason": ca.ReasonSecretAccessDenied}); got != 2 {
		t.Errorf("refusals counted %v, want one per stream (2)", got)
	}
	if n := h.logs.FilterMessageSnippet("refusing gateway certificates").Len(); n != 2 {
		t.Errorf("%d refusal log lines, want one per stream (2)", n)
	}
}
