package ca

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// DefaultRootTTL is the validity of a root the CA creates for itself, ten
// years as istiod's.
const DefaultRootTTL = 10 * 365 * 24 * time.Hour

// KeyCertPEM is the CA's signing material as stored, in the four PEM
// files istiod reads (the keys of its Secrets and the files of its
// /etc/cacerts directory).
type KeyCertPEM struct {
	// CACert (ca-cert.pem) is the certificate that signs workload
	// certificates: the root itself, or an intermediate.
	CACert []byte
	// CAKey (ca-key.pem) is CACert's private key.
	CAKey []byte
	// CertChain (cert-chain.pem), optional, holds the certificates
	// between CACert and the root. Istio's tools write CACert and the
	// root into it too; both are tolerated.
	CertChain []byte
	// RootCert (root-cert.pem) is the trust bundle: one or more roots. It
	// is empty when CACert is a self-signed root.
	RootCert []byte
	// Source says where the material came from, for logs (for example
	// "Secret istio-system/cacerts"). It is not stored.
	Source string
}

// RootOptions shape a self-signed root.
type RootOptions struct {
	// TrustDomain names the root's organization, as istiod does.
	TrustDomain spiffeid.TrustDomain
	// KeyType is the root key's algorithm; "" is ECDSA P-256.
	KeyType KeyType
	// TTL is the root's validity; 0 is DefaultRootTTL.
	TTL time.Duration
	// TrustDomainURI also names the root by its trust domain's SPIFFE id
	// (spiffe://TRUST_DOMAIN), which SPIFFE federation tooling shows.
	TrustDomainURI bool
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// NewSelfSignedRoot generates a root key and its self-signed certificate.
func NewSelfSignedRoot(o RootOptions) (KeyCertPEM, error) {
	if o.TrustDomain.IsZero() {
		return KeyCertPEM{}, errors.New("a root needs a trust domain")
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultRootTTL
	}
	now := nowFunc(o.Now)()
	key, err := generateKey(o.KeyType)
	if err != nil {
		return KeyCertPEM{}, fmt.Errorf("root key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return KeyCertPEM{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{o.TrustDomain.Name()}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if o.TrustDomainURI {
		tmpl.URIs = append(tmpl.URIs, o.TrustDomain.ID().URL())
	}
	der, err := x509.CreateCertificate(randReader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return KeyCertPEM{}, fmt.Errorf("root certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return KeyCertPEM{}, err
	}
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		return KeyCertPEM{}, err
	}
	return KeyCertPEM{CACert: encodeCertPEM(cert), CAKey: keyPEM, Source: "generated"}, nil
}

// Material is parsed, verified signing material, ready to sign with.
type Material struct {
	// Cert and Key sign workload certificates.
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain is the verified path from Cert to the root that anchors it,
	// Cert first and that root last (just the root when Cert is one).
	Chain []*x509.Certificate
	// Roots is the trust bundle.
	Roots []*x509.Certificate
	// Plugged tells an operator's intermediate (cacerts) from a
	// self-signed root.
	Plugged bool
	// Source says where the material came from.
	Source string

	chainPEM []string
	rootsPEM []byte
	roots    *x509.CertPool
	// notAfter is the earliest expiry on Chain: no certificate issued
	// with this material can be valid for longer.
	notAfter time.Time
}

// Root returns the root that anchors the signing certificate.
func (m *Material) Root() *x509.Certificate { return m.Chain[len(m.Chain)-1] }

// RootsPEM returns the trust bundle as concatenated PEM certificates.
func (m *Material) RootsPEM() []byte { return bytes.Clone(m.rootsPEM) }

// RootPool returns the trust bundle as a pool. Callers must not add to it.
func (m *Material) RootPool() *x509.CertPool { return m.roots }

// ParseMaterial parses stored material and checks that it can sign: the
// key belongs to the certificate, the certificate is a CA, and it chains
// to a root of the trust bundle at time now.
func ParseMaterial(p KeyCertPEM, now time.Time) (*Material, error) {
	where := p.Source
	if where == "" {
		where = "CA material"
	}
	fail := func(format string, args ...any) (*Material, error) {
		return nil, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...))
	}
	certs, err := parseCertsPEM(p.CACert)
	if err != nil {
		return fail("ca-cert.pem: %v", err)
	}
	key, err := parseKeyPEM(p.CAKey)
	if err != nil {
		return fail("ca-key.pem: %v", err)
	}
	cert := certs[0]
	if !samePublicKey(key.Public(), cert.PublicKey) {
		return fail("ca-key.pem is not the key of ca-cert.pem")
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return fail("ca-cert.pem is not a CA certificate")
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fail("ca-cert.pem may not sign certificates (no certSign key usage)")
	}
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	if len(p.CertChain) > 0 {
		chain, err := parseCertsPEM(p.CertChain)
		if err != nil {
			return fail("cert-chain.pem: %v", err)
		}
		for _, c := range chain {
			intermediates.AddCert(c)
		}
	}
	roots := []*x509.Certificate{cert}
	plugged := len(bytes.TrimSpace(p.RootCert)) > 0
	if plugged {
		if roots, err = parseCertsPEM(p.RootCert); err != nil {
			return fail("root-cert.pem: %v", err)
		}
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fail("ca-cert.pem does not chain to a trusted root: %v", err)
	}
	m := &Material{
		Cert:    cert,
		Key:     key,
		Chain:   chains[0],
		Roots:   roots,
		Plugged: plugged,
		Source:  p.Source,
		roots:   pool,
	}
	for _, c := range m.Chain {
		m.chainPEM = append(m.chainPEM, string(encodeCertPEM(c)))
		if m.notAfter.IsZero() || c.NotAfter.Before(m.notAfter) {
			m.notAfter = c.NotAfter
		}
	}
	for _, r := range roots {
		m.rootsPEM = append(m.rootsPEM, encodeCertPEM(r)...)
	}
	return m, nil
}
