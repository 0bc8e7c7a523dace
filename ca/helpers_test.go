package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

var testTD = spiffeid.RequireTrustDomainFromString("cluster.local")

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestAuthority returns an Authority with a fresh root of type kt.
func newTestAuthority(t testing.TB, kt KeyType, o Options) *Authority {
	t.Helper()
	if o.TrustDomain.IsZero() {
		o.TrustDomain = testTD
	}
	m, _, err := LoadOrCreate(context.Background(), NewMemoryStore(), RootOptions{TrustDomain: o.TrustDomain, KeyType: kt, Now: o.Now})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(m, o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// newKey makes a key of the named kind: "ecdsa" (P-256), "p384",
// "p224", "rsa" (2048), "rsa1024", "ed25519".
func newKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch kind {
	case "ecdsa":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "p224":
		k, err = ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa1024":
		k, err = rsa.GenerateKey(rand.Reader, 1024)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// csrFor returns a PEM CSR signed by key naming the given URIs (and, to
// check they are never copied, a DNS name and an e-mail address).
func csrFor(t testing.TB, key crypto.Signer, uris ...string) []byte {
	t.Helper()
	tmpl := &x509.CertificateRequest{
		Subject:        pkix.Name{Organization: []string{"ignored"}},
		DNSNames:       []string{"evil.example.com"},
		EmailAddresses: []string{"evil@example.com"},
	}
	for _, u := range uris {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// spiffeOf returns spiffe://cluster.local/ns/NS/sa/SA.
func spiffeOf(ns, sa string) string {
	return fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", testTD.Name(), ns, sa)
}

// fakeJWT returns a token that looks like a JWT expiring at exp (no exp
// claim when exp is zero). Its signature is junk: only the fake API
// server decides whether it is valid.
func fakeJWT(exp time.Time, salt string) string {
	claims := map[string]any{"sub": salt}
	if !exp.IsZero() {
		claims["exp"] = exp.Unix()
	}
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(payload) + "." + enc([]byte("sig-"+salt))
}

// reviewedToken is what the fake API server knows about a token.
type reviewedToken struct {
	user      string
	audiences []string
	// invalid makes the review fail as for a forged or expired token.
	invalid string
}

// fakeTokenReviews is a fake API server that answers TokenReviews from a
// table, the way kube-apiserver does: a token unknown to it is not
// authenticated, and the audiences returned are the intersection of the
// token's and the requested ones.
type fakeTokenReviews struct {
	client *fake.Clientset
	calls  atomic.Int64
	mu     sync.Mutex
	tokens map[string]reviewedToken
	// down makes every review fail as an unreachable API server.
	down atomic.Bool
	// issued numbers tokens, so that each is unique.
	issued atomic.Int64
}

func newFakeTokenReviews() *fakeTokenReviews {
	f := &fakeTokenReviews{client: fake.NewClientset(), tokens: map[string]reviewedToken{}}
	f.client.PrependReactor("create", "tokenreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		f.calls.Add(1)
		if f.down.Load() {
			return true, nil, fmt.Errorf("dial tcp 10.0.0.1:443: connect: connection refused")
		}
		tr := action.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		f.mu.Lock()
		rt, ok := f.tokens[tr.Spec.Token]
		f.mu.Unlock()
		switch {
		case !ok:
			tr.Status = authenticationv1.TokenReviewStatus{Error: "[invalid bearer token, square/go-jose: error in cryptographic primitive]"}
		case rt.invalid != "":
			tr.Status = authenticationv1.TokenReviewStatus{Error: rt.invalid}
		default:
			var auds []string
			for _, a := range rt.audiences {
				for _, want := range tr.Spec.Audiences {
					if a == want {
						auds = append(auds, a)
					}
				}
			}
			if len(auds) == 0 {
				tr.Status = authenticationv1.TokenReviewStatus{Error: "[invalid bearer token, token audiences [" + fmt.Sprint(rt.audiences) + "] is invalid for the target audiences]"}
				break
			}
			tr.Status = authenticationv1.TokenReviewStatus{
				Authenticated: true,
				Audiences:     auds,
				User: authenticationv1.UserInfo{
					Username: rt.user,
					Groups:   []string{"system:serviceaccounts", "system:authenticated"},
				},
			}
		}
		return true, tr, nil
	})
	return f
}

// add registers a token for a service account and returns it.
func (f *fakeTokenReviews) add(ns, sa string, exp time.Time, audiences ...string) string {
	if audiences == nil {
		audiences = []string{DefaultAudience}
	}
	tok := fakeJWT(exp, fmt.Sprintf("%s/%s#%d", ns, sa, f.issued.Add(1)))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[tok] = reviewedToken{user: "system:serviceaccount:" + ns + ":" + sa, audiences: audiences}
	return tok
}

// staticAuthenticator proves one caller for every call.
type staticAuthenticator struct{ caller *Caller }

func (s staticAuthenticator) Authenticate(context.Context) (*Caller, error) {
	return s.caller, nil
}

// callerOf returns the caller for a service account of testTD.
func callerOf(t testing.TB, ns, sa string) *Caller {
	t.Helper()
	id, err := WorkloadID(testTD, ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	return &Caller{ID: id, Namespace: ns, ServiceAccount: sa, Method: "test"}
}

// metricValue reads a counter or gauge.
func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if c := out.GetCounter(); c != nil {
		return c.GetValue()
	}
	return out.GetGauge().GetValue()
}

// gatheredValue reads the one sample of a metric family from reg.
func gatheredValue(t testing.TB, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			m := f.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not gathered", name)
	return 0
}

func toString(v any) string { return fmt.Sprint(v) }
