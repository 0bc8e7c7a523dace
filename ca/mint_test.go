package ca

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// A minted key pair is a usable TLS identity: the key matches the
// certificate, which names only the id, lasts the default TTL and
// chains to the trust bundle.
func TestMintWorkload(t *testing.T) {
	a := newTestAuthority(t, KeyECDSA, Options{DefaultTTL: 2 * time.Hour})
	id := spiffeid.RequireFromString(spiffeOf("shop", "web"))
	m, err := a.MintWorkload(id)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(m.ChainPEM, m.KeyPEM)
	if err != nil {
		t.Fatalf("the key does not match the certificate: %v", err)
	}
	if len(pair.Certificate) != 2 {
		t.Errorf("chain of %d certificates, want leaf and root", len(pair.Certificate))
	}
	if len(m.Cert.URIs) != 1 || m.Cert.URIs[0].String() != id.String() || len(m.Cert.DNSNames) != 0 {
		t.Errorf("names: URIs %v, DNS %v; want only %s", m.Cert.URIs, m.Cert.DNSNames, id)
	}
	if ttl := time.Until(m.Cert.NotAfter); ttl > 2*time.Hour || ttl < 2*time.Hour-time.Minute {
		t.Errorf("TTL %s, want the default 2h", ttl)
	}
	roots, err := certutil.ParseCertsPEM(a.TrustBundlePEM())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	if _, err := m.Cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the certificate does not chain to the trust bundle: %v", err)
	}
	again, err := a.MintWorkload(id)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.KeyPEM) == string(m.KeyPEM) {
		t.Error("two mints share a key")
	}
	if _, err := a.MintWorkload(spiffeid.RequireFromString("spiffe://other.domain/ns/shop/sa/web")); err == nil {
		t.Error("minted for another trust domain")
	}
}
