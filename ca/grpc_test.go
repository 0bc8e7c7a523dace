package ca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
)

// startTLSServer serves f's CA on 127.0.0.1 over TLS, as serve does on
// 15012, and returns its address.
func startTLSServer(t *testing.T, f *serverFixture) string {
	t.Helper()
	sc, err := NewServingCertificate(f.authority, ServingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(sc.TLSConfig())))
	f.server.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// dialCA connects to addr trusting roots, presenting certs if any.
func dialCA(t *testing.T, addr string, roots *x509.CertPool, certs ...tls.Certificate) securityv1alpha1.IstioCertificateServiceClient {
	t.Helper()
	creds := credentials.NewTLS(&tls.Config{
		RootCAs:      roots,
		ServerName:   "istiod.istio-system.svc",
		Certificates: certs,
		MinVersion:   tls.VersionTLS12,
	})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return securityv1alpha1.NewIstioCertificateServiceClient(conn)
}

func TestGRPCRoundTripOverTLS(t *testing.T) {
	f := newServerFixture(t)
	// The fixture's fake clock is real time here: TLS checks validity
	// against the wall clock.
	addr := startTLSServer(t, f)
	roots := f.authority.Material().RootPool()
	client := dialCA(t, addr, roots)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A workload proves itself with its service account token.
	key := newKey(t, "ecdsa")
	id := spiffeOf("bookinfo", "ratings")
	tokCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+f.token("bookinfo", "ratings"))
	resp, err := client.CreateCertificate(tokCtx, &securityv1alpha1.IstioCertificateRequest{Csr: string(csrFor(t, key, id))})
	if err != nil {
		t.Fatal(err)
	}
	leaf := verifyChain(t, resp.CertChain, f.authority.Material().Root(), x509.ExtKeyUsageClientAuth)
	if leaf.URIs[0].String() != id {
		t.Errorf("issued for %s, want %s", leaf.URIs[0], id)
	}

	// It renews with the certificate it was given, and no token.
	mtls := dialCA(t, addr, roots, tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf})
	resp, err = mtls.CreateCertificate(ctx, &securityv1alpha1.IstioCertificateRequest{Csr: string(csrFor(t, newKey(t, "ecdsa"), id)), ValidityDuration: 600})
	if err != nil {
		t.Fatalf("renewal over mTLS: %v", err)
	}
	if renewed := verifyChain(t, resp.CertChain, f.authority.Material().Root(), 0); renewed.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("renewal returned the same certificate")
	}
	// With that certificate it cannot have another identity's.
	_, err = mtls.CreateCertificate(ctx, &securityv1alpha1.IstioCertificateRequest{Csr: string(csrFor(t, newKey(t, "ecdsa"), spiffeOf("bookinfo", "reviews")))})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("another identity over mTLS: error = %v, want PermissionDenied", err)
	}
	// Nor can a caller with neither.
	_, err = client.CreateCertificate(ctx, &securityv1alpha1.IstioCertificateRequest{Csr: string(csrFor(t, newKey(t, "ecdsa"), id))})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("no credentials: error = %v, want Unauthenticated", err)
	}
}

func TestGRPCRefusesUntrustedAndPlaintextClients(t *testing.T) {
	f := newServerFixture(t)
	addr := startTLSServer(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := &securityv1alpha1.IstioCertificateRequest{Csr: string(csrFor(t, newKey(t, "ecdsa"), spiffeOf("a", "b")))}
	tokCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+f.token("a", "b"))

	// A client that does not trust the mesh root does not send its token.
	other := newTestAuthority(t, KeyECDSA, Options{})
	if _, err := dialCA(t, addr, other.Material().RootPool()).CreateCertificate(tokCtx, req); status.Code(err) != codes.Unavailable {
		t.Errorf("untrusted server: error = %v, want Unavailable (handshake failure)", err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := securityv1alpha1.NewIstioCertificateServiceClient(conn).CreateCertificate(tokCtx, req); status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext: error = %v, want Unavailable", err)
	}
	if n := f.reviews.calls.Load(); n != 0 {
		t.Errorf("%d TokenReviews for calls that never reached the server", n)
	}
}

func TestServingCertificateRotatesAtHalfLife(t *testing.T) {
	clock := newTestClock()
	a := newTestAuthority(t, KeyRSA, Options{Now: clock.Now})
	sc, err := NewServingCertificate(a, ServingOptions{Names: append(slices.Clone(DefaultServingDNSNames), "127.0.0.1", "pilotlight.example"), TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	first, err := sc.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf := first.Leaf
	want := append(slices.Clone(DefaultServingDNSNames), "pilotlight.example")
	if !slices.Equal(leaf.DNSNames, want) {
		t.Errorf("DNS names = %v, want %v", leaf.DNSNames, want)
	}
	if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("IP addresses = %v, want [127.0.0.1]", leaf.IPAddresses)
	}
	if len(leaf.URIs) != 0 || leaf.IsCA || !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("serving certificate: URIs=%v IsCA=%v EKU=%v", leaf.URIs, leaf.IsCA, leaf.ExtKeyUsage)
	}
	roots := a.Material().RootPool()
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "istiod.istio-system.svc", CurrentTime: clock.Now()}); err != nil {
		t.Errorf("serving certificate does not verify for istiod.istio-system.svc: %v", err)
	}
	if len(first.Certificate) != 1 {
		t.Errorf("served chain has %d certificates, want the leaf only (the root is the client's)", len(first.Certificate))
	}

	clock.Advance(29 * time.Minute)
	if same, _ := sc.GetCertificate(nil); same.Leaf.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Error("reissued before half life")
	}
	clock.Advance(2 * time.Minute)
	renewed, _ := sc.GetCertificate(nil)
	if renewed.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatal("not reissued past half life")
	}
	if !renewed.Leaf.NotAfter.After(leaf.NotAfter) || sc.Leaf() != renewed.Leaf {
		t.Error("the reissued certificate does not outlive the first")
	}
}
