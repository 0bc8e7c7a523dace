package ca

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"
)

// verifyChain checks that a CreateCertificate chain is leaf first, root
// last, and that the leaf verifies to the root through the rest.
func verifyChain(t testing.TB, chainPEM []string, root *x509.Certificate, usage x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for i, p := range chainPEM {
		c, err := certutil.ParseCertsPEM([]byte(p))
		if err != nil || len(c) != 1 {
			t.Fatalf("chain element %d is not one PEM certificate: %v", i, err)
		}
		certs = append(certs, c[0])
	}
	if !certs[len(certs)-1].Equal(root) {
		t.Fatal("the chain does not end with the root")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1 : len(certs)-1] {
		inter.AddCert(c)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		t.Fatalf("leaf does not verify to the root: %v", err)
	}
	return certs[0]
}

func TestSignWorkload(t *testing.T) {
	for _, tc := range []struct {
		name      string
		caKey     KeyType
		plugged   bool
		csrKey    string
		requested int64
		wantTTL   time.Duration
	}{
		{name: "ecdsa CA, ecdsa CSR, default TTL", caKey: KeyECDSA, csrKey: "ecdsa", wantTTL: DefaultWorkloadTTL},
		{name: "rsa CA, rsa CSR, requested TTL", caKey: KeyRSA, csrKey: "rsa", requested: 3600, wantTTL: time.Hour},
		{name: "p384 CSR", caKey: KeyECDSA, csrKey: "p384", requested: 600, wantTTL: 10 * time.Minute},
		{name: "plugged intermediate", plugged: true, csrKey: "ecdsa", wantTTL: DefaultWorkloadTTL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newTestClock()
			var a *Authority
			var root *x509.Certificate
			if tc.plugged {
				p, r := pluggedMaterial(t)
				var err error
				if a, err = New(mustParseMaterial(t, p), Options{TrustDomain: testTD, Now: clock.Now}); err != nil {
					t.Fatal(err)
				}
				root = r.Cert
			} else {
				a = newTestAuthority(t, tc.caKey, Options{Now: clock.Now})
				root = a.Material().Root()
			}
			want := spiffeOf("default", "bookinfo-ratings")
			csr, id, err := ParseCSR(csrFor(t, newKey(t, tc.csrKey), want))
			if err != nil {
				t.Fatal(err)
			}
			ttl, err := a.WorkloadTTL(tc.requested)
			if err != nil {
				t.Fatal(err)
			}
			issued, err := a.SignWorkload(csr, id, ttl)
			if err != nil {
				t.Fatal(err)
			}
			wantLen := 2
			if tc.plugged {
				wantLen = 3
			}
			if len(issued.ChainPEM) != wantLen {
				t.Errorf("chain has %d elements, want %d", len(issued.ChainPEM), wantLen)
			}
			leaf := verifyChain(t, issued.ChainPEM, root, x509.ExtKeyUsageClientAuth)
			verifyChain(t, issued.ChainPEM, root, x509.ExtKeyUsageServerAuth)
			if !leaf.Equal(issued.Cert) {
				t.Error("the chain's first element is not the issued certificate")
			}
			if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want {
				t.Errorf("URIs = %v, want exactly [%s]", leaf.URIs, want)
			}
			if len(leaf.DNSNames)+len(leaf.EmailAddresses)+len(leaf.IPAddresses) != 0 {
				t.Errorf("names copied from the CSR: %v %v %v", leaf.DNSNames, leaf.EmailAddresses, leaf.IPAddresses)
			}
			if len(leaf.Subject.Organization) != 0 {
				t.Errorf("subject copied from the CSR: %v", leaf.Subject)
			}
			if leaf.IsCA || !leaf.BasicConstraintsValid {
				t.Error("a workload certificate must be marked not a CA")
			}
			if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment; leaf.KeyUsage != want {
				t.Errorf("key usage = %v, want %v", leaf.KeyUsage, want)
			}
			if len(leaf.ExtKeyUsage) != 2 {
				t.Errorf("ext key usage = %v, want serverAuth and clientAuth", leaf.ExtKeyUsage)
			}
			now := clock.Now()
			if got := now.Sub(leaf.NotBefore); got < clockSkew-time.Second || got > clockSkew+time.Second {
				t.Errorf("NotBefore is %s before now, want %s", got, clockSkew)
			}
			if got := leaf.NotAfter.Sub(now); got < tc.wantTTL-time.Second || got > tc.wantTTL+time.Second {
				t.Errorf("TTL = %s, want %s", got, tc.wantTTL)
			}
			if !samePublicKey(leaf.PublicKey, csr.PublicKey) {
				t.Error("the certificate is not for the CSR's key")
			}
			if leaf.SerialNumber.BitLen() < 64 {
				t.Errorf("serial %x has %d bits, want a random 128-bit one", leaf.SerialNumber, leaf.SerialNumber.BitLen())
			}
		})
	}
}

func TestSerialsDiffer(t *testing.T) {
	a := newTestAuthority(t, KeyECDSA, Options{})
	csr, id, err := ParseCSR(csrFor(t, newKey(t, "ecdsa"), spiffeOf("a", "b")))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 20 {
		issued, err := a.SignWorkload(csr, id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		s := fmtSerial(issued.Cert)
		if seen[s] {
			t.Fatalf("serial %s issued twice", s)
		}
		seen[s] = true
	}
}

func TestWorkloadTTL(t *testing.T) {
	a := newTestAuthority(t, KeyECDSA, Options{DefaultTTL: 12 * time.Hour, MaxTTL: 48 * time.Hour})
	for _, tc := range []struct {
		seconds int64
		want    time.Duration
		wantErr string
	}{
		{0, 12 * time.Hour, ""},
		{3600, time.Hour, ""},
		{48 * 3600, 48 * time.Hour, ""},
		{48*3600 + 1, 0, "above this CA's maximum workload certificate TTL (48h0m0s)"},
		{1 << 62, 0, "above this CA's maximum"},
		{-5, 0, "negative"},
	} {
		got, err := a.WorkloadTTL(tc.seconds)
		if tc.wantErr != "" {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalidArgument || e.Reason != ReasonTTL || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("WorkloadTTL(%d) error = %v, want an invalid-argument error containing %q", tc.seconds, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("WorkloadTTL(%d) = %s, %v; want %s", tc.seconds, got, err, tc.want)
		}
	}
}

func TestSignWorkloadNeverOutlivesTheCA(t *testing.T) {
	clock := newTestClock()
	m, _, err := LoadOrCreate(t.Context(), NewMemoryStore(), RootOptions{TrustDomain: testTD, TTL: 2 * time.Hour, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := New(m, Options{TrustDomain: testTD, Now: clock.Now})
	csr, id, _ := ParseCSR(csrFor(t, newKey(t, "ecdsa"), spiffeOf("a", "b")))
	issued, err := a.SignWorkload(csr, id, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !issued.Cert.NotAfter.Equal(m.Root().NotAfter) {
		t.Errorf("NotAfter = %s, want the root's %s", issued.Cert.NotAfter, m.Root().NotAfter)
	}
	clock.Advance(3 * time.Hour)
	if _, err := a.SignWorkload(csr, id, time.Hour); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("signing with an expired root: error = %v, want one saying it expired", err)
	}
}

func TestSignWorkloadRefusesForeignTrustDomain(t *testing.T) {
	a := newTestAuthority(t, KeyECDSA, Options{})
	csr, id, err := ParseCSR(csrFor(t, newKey(t, "ecdsa"), "spiffe://example.org/ns/a/sa/b"))
	if err != nil {
		t.Fatal(err)
	}
	if issued, err := a.SignWorkload(csr, id, time.Hour); err == nil || issued != nil {
		t.Error("signed an id of another trust domain")
	}
}

func TestParseCSRRefusesBadInput(t *testing.T) {
	good := csrFor(t, newKey(t, "ecdsa"), spiffeOf("a", "b"))
	block, _ := pem.Decode(good)
	tampered := append([]byte(nil), block.Bytes...)
	// Flip a bit in the signature, the last bytes of the DER.
	tampered[len(tampered)-3] ^= 0x40
	for _, tc := range []struct {
		name   string
		csr    []byte
		reason string
		want   string
	}{
		{"empty", nil, ReasonMalformedCSR, "not PEM"},
		{"not PEM", []byte("hello"), ReasonMalformedCSR, "not PEM"},
		{"a certificate, not a CSR", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}), ReasonMalformedCSR, `"CERTIFICATE"`},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x03, 1, 2, 3}}), ReasonMalformedCSR, "cannot be parsed"},
		{"forged signature", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}), ReasonMalformedCSR, "signature"},
		{"oversized", append(good, make([]byte, MaxCSRBytes)...), ReasonCSRTooLarge, "above the limit"},
		{"RSA 1024", csrFor(t, newKey(t, "rsa1024"), spiffeOf("a", "b")), ReasonUnsupportedKey, "2048"},
		{"P-224", csrFor(t, newKey(t, "p224"), spiffeOf("a", "b")), ReasonUnsupportedKey, "P-224"},
		{"Ed25519", csrFor(t, newKey(t, "ed25519"), spiffeOf("a", "b")), ReasonUnsupportedKey, "unsupported key type"},
		{"no URI", csrFor(t, newKey(t, "ecdsa")), ReasonMalformedCSR, "exactly one"},
		{"two URIs", csrFor(t, newKey(t, "ecdsa"), spiffeOf("a", "b"), spiffeOf("c", "d")), ReasonMalformedCSR, "exactly one"},
		{"not SPIFFE", csrFor(t, newKey(t, "ecdsa"), "https://example.com/ns/a/sa/b"), ReasonMalformedCSR, "not a SPIFFE id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr, _, err := ParseCSR(tc.csr)
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalidArgument || e.Reason != tc.reason || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want an invalid-argument %s error containing %q", err, tc.reason, tc.want)
			}
			if csr != nil {
				t.Error("a CSR was returned with the error")
			}
		})
	}
}
