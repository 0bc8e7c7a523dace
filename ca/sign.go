package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

const (
	// MaxCSRBytes bounds a PEM CSR. A real one is under 2 KiB; the bound
	// keeps a hostile request from costing more than a parse.
	MaxCSRBytes = 64 << 10
	// clockSkew backdates every certificate, so a peer whose clock is a
	// little behind does not see it as not yet valid.
	clockSkew = time.Minute
	// maxRSABits bounds CSR keys: verifying a signature by a huge RSA key
	// is slow enough to be an attack.
	maxRSABits = 8192
)

// randReader is the randomness of keys, serials and signatures.
var randReader = rand.Reader

// Issued is a signed certificate and the chain to return with it.
type Issued struct {
	Cert *x509.Certificate
	// ChainPEM is the leaf, the certificates between it and the root, and
	// the root, one PEM certificate per element, as istiod answers
	// CreateCertificate.
	ChainPEM []string
}

// ParseCSR parses a PEM certificate signing request, checks its
// signature and key, and returns it with the one SPIFFE id it names.
func ParseCSR(csrPEM []byte) (*x509.CertificateRequest, spiffeid.ID, error) {
	if len(csrPEM) > MaxCSRBytes {
		return nil, spiffeid.ID{}, newError(KindInvalidArgument, ReasonCSRTooLarge,
			"the CSR is %d bytes, above the limit of %d", len(csrPEM), MaxCSRBytes)
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil {
		return nil, spiffeid.ID{}, newError(KindInvalidArgument, ReasonMalformedCSR, "the CSR is not PEM")
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, spiffeid.ID{}, newError(KindInvalidArgument, ReasonMalformedCSR,
			"the CSR's PEM block is a %q, not a CERTIFICATE REQUEST", block.Type)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, spiffeid.ID{}, wrapError(KindInvalidArgument, ReasonMalformedCSR, err, "the CSR cannot be parsed")
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return nil, spiffeid.ID{}, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, spiffeid.ID{}, wrapError(KindInvalidArgument, ReasonMalformedCSR, err, "the CSR's signature is not valid")
	}
	if len(csr.URIs) != 1 {
		return nil, spiffeid.ID{}, newError(KindInvalidArgument, ReasonMalformedCSR,
			"the CSR names %d URIs; it must name exactly one, the caller's SPIFFE id", len(csr.URIs))
	}
	id, err := spiffeid.FromURI(csr.URIs[0])
	if err != nil {
		return nil, spiffeid.ID{}, wrapError(KindInvalidArgument, ReasonMalformedCSR, err, "the CSR's URI is not a SPIFFE id")
	}
	return csr, id, nil
}

// checkPublicKey allows the keys istio-agent and the usual tools make:
// ECDSA on P-256 or P-384, RSA of 2048 bits or more.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
		return newError(KindInvalidArgument, ReasonUnsupportedKey, "ECDSA keys must be on P-256 or P-384, not %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < 2048 || bits > maxRSABits {
			return newError(KindInvalidArgument, ReasonUnsupportedKey, "RSA keys must have 2048 to %d bits, not %d", maxRSABits, bits)
		}
		return nil
	}
	return newError(KindInvalidArgument, ReasonUnsupportedKey, "unsupported key type %T: use ECDSA (P-256, P-384) or RSA (2048+ bits)", pub)
}

// WorkloadTTL turns a requested validity in seconds (the
// validity_duration of a CreateCertificate request) into a TTL: 0 is the
// default, a negative one or one above the maximum is refused.
func (a *Authority) WorkloadTTL(seconds int64) (time.Duration, error) {
	switch {
	case seconds == 0:
		return a.opts.DefaultTTL, nil
	case seconds < 0:
		return 0, newError(KindInvalidArgument, ReasonTTL, "the requested validity (%d s) is negative", seconds)
	case seconds > int64(a.opts.MaxTTL/time.Second):
		return 0, newError(KindInvalidArgument, ReasonTTL,
			"the requested validity (%d s) is above this CA's maximum workload certificate TTL (%s)", seconds, a.opts.MaxTTL)
	}
	return time.Duration(seconds) * time.Second, nil
}

// SignWorkload issues a workload certificate for csr's key whose only
// name is id: client and server authentication, not a CA, valid for ttl
// from now (backdated for clock skew) but never past the signing chain.
// Which id a caller may have is the caller's concern (Server); the names
// in the CSR are not copied.
func (a *Authority) SignWorkload(csr *x509.CertificateRequest, id spiffeid.ID, ttl time.Duration) (*Issued, error) {
	if !id.MemberOf(a.opts.TrustDomain) {
		return nil, newError(KindPermissionDenied, ReasonIdentityMismatch, "%s is not in trust domain %s", id, a.opts.TrustDomain)
	}
	return a.sign(csr.PublicKey, ttl, func(t *x509.Certificate) {
		t.URIs = []*url.URL{id.URL()}
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	})
}

// SignServing issues a TLS server certificate for pub with the given DNS
// names and IP addresses, for the CA's own port.
func (a *Authority) SignServing(pub crypto.PublicKey, dnsNames []string, ips []net.IP, ttl time.Duration) (*Issued, error) {
	return a.sign(pub, ttl, func(t *x509.Certificate) {
		t.DNSNames = dnsNames
		t.IPAddresses = ips
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
}

// sign creates a leaf certificate for pub, shaped by name.
func (a *Authority) sign(pub crypto.PublicKey, ttl time.Duration, name func(*x509.Certificate)) (*Issued, error) {
	m := a.Material()
	serial, err := newSerial()
	if err != nil {
		return nil, wrapError(KindInternal, ReasonSigning, err, "signing")
	}
	now := a.now()
	notAfter := now.Add(ttl)
	if notAfter.After(m.notAfter) {
		notAfter = m.notAfter
	}
	if !notAfter.After(now) {
		return nil, newError(KindInternal, ReasonSigning, "the CA's signing chain (%s) expired at %s", m.Source, m.notAfter.UTC().Format(time.RFC3339))
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	name(tmpl)
	der, err := x509.CreateCertificate(randReader, tmpl, m.Cert, pub, m.Key)
	if err != nil {
		return nil, wrapError(KindInternal, ReasonSigning, err, "signing")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, wrapError(KindInternal, ReasonSigning, err, "signing")
	}
	chain := make([]string, 0, 1+len(m.chainPEM))
	chain = append(chain, string(encodeCertPEM(cert)))
	chain = append(chain, m.chainPEM...)
	return &Issued{Cert: cert, ChainPEM: chain}, nil
}

// fmtSerial prints a serial number as the usual tools do (hex).
func fmtSerial(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber) }
