package ca

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"time"

	certutil "k8s.io/client-go/util/cert"

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
	// NextCACert and NextCAKey (next-ca-cert.pem, next-ca-key.pem) are a
	// self-signed root created ahead of a rotation: it is in the trust
	// bundle at once and signs from its activation (see Activation).
	NextCACert, NextCAKey []byte
	// PreviousRoots (previous-roots.pem) are self-signed roots that
	// signed before CACert, still trusted because certificates they
	// signed may still be valid.
	PreviousRoots []byte
	// Source says where the material came from, for logs (for example
	// "Secret istio-system/cacerts"). It is not stored.
	Source string
	// version is the store's version of what it loaded, which Update
	// checks.
	version string
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
	// ActivateAt is when the root may start signing (see Activation);
	// zero is now. A root made ahead of a rotation is activated later,
	// so that the bundle that holds it reaches every workload first.
	ActivateAt time.Time
}

// Activation is when a self-signed root the CA made may start signing:
// its validity begins a little earlier, so that peers whose clocks are
// behind accept what it signs.
func Activation(root *x509.Certificate) time.Time { return root.NotBefore.Add(clockSkew) }

// NewSelfSignedRoot generates a root key and its self-signed certificate.
func NewSelfSignedRoot(o RootOptions) (KeyCertPEM, error) {
	if o.TrustDomain.IsZero() {
		return KeyCertPEM{}, errors.New("a root needs a trust domain")
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultRootTTL
	}
	start := o.ActivateAt
	if start.IsZero() {
		start = nowFunc(o.Now)()
	}
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
		NotBefore:             start.Add(-clockSkew),
		NotAfter:              start.Add(ttl),
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

// Material is parsed, verified signing material, ready to sign with, as
// it stands at one time: a stored root that is not active yet is only in
// the bundle, and one that is signs.
type Material struct {
	// Cert and Key sign workload certificates.
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain is the verified path from Cert to the root that anchors it,
	// Cert first and that root last (just the root when Cert is one).
	Chain []*x509.Certificate
	// Roots is the trust bundle: the root that anchors Chain first, then
	// any other root that is trusted: an operator's, or for a self-signed
	// CA the root that will sign next and those that signed before.
	Roots []*x509.Certificate
	// Plugged tells an operator's intermediate (cacerts) from a
	// self-signed root.
	Plugged bool
	// Source says where the material came from.
	Source string

	// chainPEM is what follows a leaf in an answer to CreateCertificate:
	// Chain's certificates between Cert and the root one per element, and
	// the whole bundle as the last, as istiod answers.
	chainPEM []string
	rootsPEM []byte
	roots    *x509.CertPool
	// notAfter is the earliest expiry on Chain: no certificate issued
	// with this material can be valid for longer.
	notAfter time.Time
	// changesAt is the next time the material changes with no change to
	// what is stored: a root that will sign next is activated, or a root
	// of the bundle expires. Zero is never.
	changesAt time.Time
}

// Root returns the root that anchors the signing certificate.
func (m *Material) Root() *x509.Certificate { return m.Chain[len(m.Chain)-1] }

// RootsPEM returns the trust bundle as concatenated PEM certificates.
func (m *Material) RootsPEM() []byte { return bytes.Clone(m.rootsPEM) }

// RootPool returns the trust bundle as a pool. Callers must not add to it.
func (m *Material) RootPool() *x509.CertPool { return m.roots }

// ParseMaterial parses stored material and checks that it can sign at
// time now: the key belongs to the certificate, the certificate is a CA,
// and it chains to a root of the trust bundle. For a self-signed CA, a
// next root whose activation has come signs instead of CACert, and
// previous roots that have not expired are added to the bundle.
func ParseMaterial(p KeyCertPEM, now time.Time) (*Material, error) {
	where := p.Source
	if where == "" {
		where = "CA material"
	}
	fail := func(format string, args ...any) (*Material, error) {
		return nil, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...))
	}
	cert, key, rest, err := parseSigner(p.CACert, p.CAKey, fileCACert, fileCAKey)
	if err != nil {
		return fail("%v", err)
	}
	intermediates := x509.NewCertPool()
	for _, c := range rest {
		intermediates.AddCert(c)
	}
	if len(p.CertChain) > 0 {
		chain, err := certutil.ParseCertsPEM(p.CertChain)
		if err != nil {
			return fail("%s: %v", fileCertChain, err)
		}
		for _, c := range chain {
			intermediates.AddCert(c)
		}
	}
	var roots []*x509.Certificate
	plugged := len(bytes.TrimSpace(p.RootCert)) > 0
	var changesAt time.Time
	if plugged {
		if roots, err = certutil.ParseCertsPEM(p.RootCert); err != nil {
			return fail("%s: %v", fileRootCert, err)
		}
		if len(p.NextCACert)+len(p.PreviousRoots) > 0 {
			return fail("an operator's intermediate (%s) is never rotated by the CA, yet %s or %s is set", fileRootCert, fileNextCACert, filePreviousRoots)
		}
	} else {
		if roots, cert, key, changesAt, err = selfSignedRoots(p, cert, key, now); err != nil {
			return fail("%v", err)
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
		return fail("%s does not chain to a trusted root: %v", fileCACert, err)
	}
	m := &Material{
		Cert:      cert,
		Key:       key,
		Chain:     chains[0],
		Plugged:   plugged,
		Source:    p.Source,
		roots:     pool,
		changesAt: changesAt,
	}
	// The anchor goes first, so that a reader of the bundle that takes
	// one root takes the one that signs.
	m.Roots = append(m.Roots, m.Root())
	for _, r := range roots {
		if !r.Equal(m.Root()) {
			m.Roots = append(m.Roots, r)
		}
	}
	for _, c := range m.Chain {
		if m.notAfter.IsZero() || c.NotAfter.Before(m.notAfter) {
			m.notAfter = c.NotAfter
		}
	}
	for _, c := range m.Chain[:len(m.Chain)-1] {
		m.chainPEM = append(m.chainPEM, string(encodeCertPEM(c)))
	}
	for _, r := range m.Roots {
		m.rootsPEM = append(m.rootsPEM, encodeCertPEM(r)...)
	}
	m.chainPEM = append(m.chainPEM, string(m.rootsPEM))
	return m, nil
}

// parseSigner parses a CA certificate (and what follows it in the same
// PEM) and its key, and checks that they can sign certificates.
func parseSigner(certPEM, keyPEM []byte, certFile, keyFile string) (*x509.Certificate, crypto.Signer, []*x509.Certificate, error) {
	certs, err := certutil.ParseCertsPEM(certPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", certFile, err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	cert := certs[0]
	if !samePublicKey(key.Public(), cert.PublicKey) {
		return nil, nil, nil, fmt.Errorf("%s is not the key of %s", keyFile, certFile)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, nil, nil, fmt.Errorf("%s is not a CA certificate", certFile)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, nil, nil, fmt.Errorf("%s may not sign certificates (no certSign key usage)", certFile)
	}
	return cert, key, certs[1:], nil
}

// selfSignedRoots returns a self-signed CA's bundle at time now and the
// root that signs: the next root once its activation has come, else
// active. Roots that have expired are left out. changesAt is the next
// time the answer changes.
func selfSignedRoots(p KeyCertPEM, active *x509.Certificate, activeKey crypto.Signer, now time.Time) (
	roots []*x509.Certificate, signer *x509.Certificate, key crypto.Signer, changesAt time.Time, err error,
) {
	signer, key = active, activeKey
	var candidates []*x509.Certificate
	if len(p.NextCACert) > 0 {
		next, nextKey, _, err := parseSigner(p.NextCACert, p.NextCAKey, fileNextCACert, fileNextCAKey)
		if err != nil {
			return nil, nil, nil, time.Time{}, err
		}
		if at := Activation(next); now.Before(at) {
			changesAt = at
			candidates = append(candidates, active, next)
		} else {
			signer, key = next, nextKey
			candidates = append(candidates, next, active)
		}
	} else {
		candidates = append(candidates, active)
	}
	if len(bytes.TrimSpace(p.PreviousRoots)) > 0 {
		previous, err := certutil.ParseCertsPEM(p.PreviousRoots)
		if err != nil {
			return nil, nil, nil, time.Time{}, fmt.Errorf("%s: %w", filePreviousRoots, err)
		}
		candidates = append(candidates, previous...)
	}
	for _, r := range candidates {
		if r != signer && !now.Before(r.NotAfter) {
			continue
		}
		roots = append(roots, r)
		if r != signer && (changesAt.IsZero() || r.NotAfter.Before(changesAt)) {
			changesAt = r.NotAfter
		}
	}
	return roots, signer, key, changesAt, nil
}
