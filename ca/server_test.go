package ca

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
)

// serverFixture is a Server whose callers prove themselves with tokens
// reviewed by a fake API server.
type serverFixture struct {
	clock     *testClock
	authority *Authority
	reviews   *fakeTokenReviews
	server    *Server
	reg       *prometheus.Registry
	logs      *observer.ObservedLogs
}

func newServerFixture(t testing.TB, impersonators ...string) *serverFixture {
	t.Helper()
	f := &serverFixture{clock: newTestClock(), reviews: newFakeTokenReviews(), reg: prometheus.NewRegistry()}
	f.authority = newTestAuthority(t, KeyECDSA, Options{Now: f.clock.Now, MaxTTL: 48 * time.Hour})
	core, logs := observer.New(zapcore.DebugLevel)
	f.logs = logs
	s, err := NewServer(ServerOptions{
		Authority: f.authority,
		Authenticator: Authenticators{
			NewCertAuthenticator(f.authority),
			NewTokenAuthenticator(TokenOptions{Client: f.reviews.client, TrustDomain: testTD, Now: f.clock.Now}),
		},
		TrustedImpersonators: impersonators,
		Logger:               zap.New(core),
		Registerer:           f.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.server = s
	return f
}

func (f *serverFixture) token(ns, sa string) string {
	return f.reviews.add(ns, sa, f.clock.Now().Add(time.Hour))
}

func TestCreateCertificate(t *testing.T) {
	f := newServerFixture(t)
	tok := f.token("bookinfo", "ratings")
	resp, err := f.server.CreateCertificate(withToken(tok), &securityv1alpha1.IstioCertificateRequest{
		Csr:              string(csrFor(t, newKey(t, "ecdsa"), spiffeOf("bookinfo", "ratings"))),
		ValidityDuration: 3600,
	})
	if err != nil {
		t.Fatal(err)
	}
	leaf := verifyChain(t, resp.CertChain, f.authority.Material().Root(), 0)
	// Certificates carry whole seconds.
	if got := leaf.NotAfter.Sub(f.clock.Now()); got <= time.Hour-time.Second || got > time.Hour {
		t.Errorf("TTL = %s, want 1h", got)
	}
	if got := metricValue(t, f.server.metrics.issued); got != 1 {
		t.Errorf("issued counter = %v, want 1", got)
	}
	root := float64(f.authority.Material().Root().NotAfter.Unix())
	if got := gatheredValue(t, f.reg, "pilotlight_ca_root_expiry_timestamp_seconds"); got != root {
		t.Errorf("root expiry gauge = %v, want %v", got, root)
	}
	if got := gatheredValue(t, f.reg, "pilotlight_ca_trust_bundle_roots"); got != 1 {
		t.Errorf("trust bundle gauge = %v, want 1", got)
	}
	entries := f.logs.FilterMessage("certificate issued").All()
	if len(entries) != 1 {
		t.Fatalf("%d 'certificate issued' lines, want 1", len(entries))
	}
	fields := entries[0].ContextMap()
	if fields["identity"] != spiffeOf("bookinfo", "ratings") || fields["serial"] != fmtSerial(leaf) || fields["expires"] == nil {
		t.Errorf("log fields = %v", fields)
	}
	assertNoSecretsLogged(t, f.logs, tok)
}

// assertNoSecretsLogged fails if any log line holds a token or a key.
func assertNoSecretsLogged(t *testing.T, logs *observer.ObservedLogs, tokens ...string) {
	t.Helper()
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		for _, tok := range tokens {
			if strings.Contains(line, tok) {
				t.Errorf("log line quotes a token: %s", e.Message)
			}
		}
		if strings.Contains(line, "PRIVATE KEY") {
			t.Errorf("log line quotes a private key: %s", e.Message)
		}
	}
}

func TestCreateCertificateRefusesBadInput(t *testing.T) {
	f := newServerFixture(t)
	good := f.token("bookinfo", "ratings")
	expired := f.reviews.add("bookinfo", "ratings", f.clock.Now().Add(-time.Minute))
	wrongAud := f.reviews.add("bookinfo", "ratings", f.clock.Now().Add(time.Hour), "vault")
	forged := fakeJWT(f.clock.Now().Add(time.Hour), "forged")
	csr := string(csrFor(t, newKey(t, "ecdsa"), spiffeOf("bookinfo", "ratings")))
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		req      *securityv1alpha1.IstioCertificateRequest
		code     codes.Code
		reason   string
		contains string
	}{
		{"no credentials", context.Background(), &securityv1alpha1.IstioCertificateRequest{Csr: csr},
			codes.Unauthenticated, ReasonNoCredentials, "no credentials"},
		{"expired token", withToken(expired), &securityv1alpha1.IstioCertificateRequest{Csr: csr},
			codes.Unauthenticated, ReasonTokenRejected, "expired"},
		{"forged token", withToken(forged), &securityv1alpha1.IstioCertificateRequest{Csr: csr},
			codes.Unauthenticated, ReasonTokenRejected, "rejected the token"},
		{"wrong audience", withToken(wrongAud), &securityv1alpha1.IstioCertificateRequest{Csr: csr},
			codes.Unauthenticated, ReasonTokenRejected, "audiences"},
		{"CSR for another identity", withToken(good), &securityv1alpha1.IstioCertificateRequest{
			Csr: string(csrFor(t, newKey(t, "ecdsa"), spiffeOf("bookinfo", "reviews")))},
			codes.PermissionDenied, ReasonIdentityMismatch, "asks for spiffe://cluster.local/ns/bookinfo/sa/reviews but the caller may only have spiffe://cluster.local/ns/bookinfo/sa/ratings"},
		{"CSR for another trust domain", withToken(good), &securityv1alpha1.IstioCertificateRequest{
			Csr: string(csrFor(t, newKey(t, "ecdsa"), "spiffe://example.org/ns/bookinfo/sa/ratings"))},
			codes.PermissionDenied, ReasonIdentityMismatch, "asks for spiffe://example.org"},
		{"malformed CSR", withToken(good), &securityv1alpha1.IstioCertificateRequest{Csr: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"},
			codes.InvalidArgument, ReasonMalformedCSR, "CSR"},
		{"oversized CSR", withToken(good), &securityv1alpha1.IstioCertificateRequest{Csr: csr + strings.Repeat(" ", MaxCSRBytes)},
			codes.InvalidArgument, ReasonCSRTooLarge, "above the limit"},
		{"TTL above max", withToken(good), &securityv1alpha1.IstioCertificateRequest{Csr: csr, ValidityDuration: 49 * 3600},
			codes.InvalidArgument, ReasonTTL, "maximum workload certificate TTL (48h0m0s)"},
		{"negative TTL", withToken(good), &securityv1alpha1.IstioCertificateRequest{Csr: csr, ValidityDuration: -1},
			codes.InvalidArgument, ReasonTTL, "negative"},
		{"impersonation by an untrusted caller", withToken(good), &securityv1alpha1.IstioCertificateRequest{
			Csr:      string(csrFor(t, newKey(t, "ecdsa"), spiffeOf("bookinfo", "reviews"))),
			Metadata: impersonating(spiffeOf("bookinfo", "reviews"))},
			codes.PermissionDenied, ReasonImpersonationDenied, "not a trusted impersonator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := metricValue(t, f.server.metrics.failures.WithLabelValues(tc.reason))
			resp, err := f.server.CreateCertificate(tc.ctx, tc.req)
			if resp != nil {
				t.Errorf("a certificate was issued: %d PEM blocks", len(resp.CertChain))
			}
			st, _ := status.FromError(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.contains) {
				t.Errorf("error = %v, want %s containing %q", err, tc.code, tc.contains)
			}
			if got := metricValue(t, f.server.metrics.failures.WithLabelValues(tc.reason)) - before; got != 1 {
				t.Errorf("failures{reason=%s} grew by %v, want 1", tc.reason, got)
			}
		})
	}
	if got := metricValue(t, f.server.metrics.issued); got != 0 {
		t.Errorf("issued counter = %v, want 0", got)
	}
	assertNoSecretsLogged(t, f.logs, good, expired, wrongAud, forged)
}

func TestCreateCertificateUnavailable(t *testing.T) {
	f := newServerFixture(t)
	tok := f.token("a", "b")
	f.reviews.down.Store(true)
	_, err := f.server.CreateCertificate(withToken(tok), &securityv1alpha1.IstioCertificateRequest{
		Csr: string(csrFor(t, newKey(t, "ecdsa"), spiffeOf("a", "b"))),
	})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("error = %v, want Unavailable", err)
	}
}

func impersonating(id string) *structpb.Struct {
	s, _ := structpb.NewStruct(map[string]any{ImpersonatedIdentityKey: id})
	return s
}

func TestCreateCertificateImpersonation(t *testing.T) {
	f := newServerFixture(t, "istio-system/ztunnel")
	tok := f.token("istio-system", "ztunnel")
	target := spiffeOf("bookinfo", "reviews")
	resp, err := f.server.CreateCertificate(withToken(tok), &securityv1alpha1.IstioCertificateRequest{
		Csr:      string(csrFor(t, newKey(t, "ecdsa"), target)),
		Metadata: impersonating(target),
	})
	if err != nil {
		t.Fatal(err)
	}
	leaf := verifyChain(t, resp.CertChain, f.authority.Material().Root(), 0)
	if leaf.URIs[0].String() != target {
		t.Errorf("issued for %s, want %s", leaf.URIs[0], target)
	}
	for _, tc := range []struct {
		name, csrID, impersonated string
		code                      codes.Code
	}{
		{"CSR differs from the impersonated id", spiffeOf("bookinfo", "ratings"), target, codes.PermissionDenied},
		{"another trust domain", "spiffe://example.org/ns/a/sa/b", "spiffe://example.org/ns/a/sa/b", codes.PermissionDenied},
		{"not a workload id", "spiffe://cluster.local/ns/a", "spiffe://cluster.local/ns/a", codes.PermissionDenied},
		{"not a SPIFFE id", target, "bookinfo/reviews", codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := f.server.CreateCertificate(withToken(tok), &securityv1alpha1.IstioCertificateRequest{
				Csr:      string(csrFor(t, newKey(t, "ecdsa"), tc.csrID)),
				Metadata: impersonating(tc.impersonated),
			})
			if resp != nil || status.Code(err) != tc.code {
				t.Errorf("resp=%v error = %v, want %s", resp != nil, err, tc.code)
			}
		})
	}
}

func TestNewServerRefusesBadImpersonators(t *testing.T) {
	a := newTestAuthority(t, KeyECDSA, Options{})
	for _, imp := range []string{"ztunnel", "/sa", "ns/", "a/b/c"} {
		if _, err := NewServer(ServerOptions{Authority: a, Authenticator: Authenticators{}, TrustedImpersonators: []string{imp}}); err == nil {
			t.Errorf("impersonator %q accepted", imp)
		}
	}
}
