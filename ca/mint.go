package ca

import (
	"crypto/x509"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Minted is a key pair the CA made for a workload that cannot make its
// own (a plain Envoy, which has no istio-agent to make a key and a CSR),
// with the certificate it issued for it.
type Minted struct {
	Cert *x509.Certificate
	// ChainPEM is the certificate and the chain up to the root, PEM, as
	// CreateCertificate answers it.
	ChainPEM []byte
	// KeyPEM is the private key, PEM. It must never be logged.
	KeyPEM []byte
}

// MintWorkload makes an ECDSA P-256 key and issues a workload
// certificate for it whose only name is id, valid for the default
// workload TTL. Which id a caller may have is the caller's concern, as
// for SignWorkload.
func (a *Authority) MintWorkload(id spiffeid.ID) (*Minted, error) {
	key, err := generateKey(KeyECDSA)
	if err != nil {
		return nil, wrapError(KindInternal, ReasonSigning, err, "generating a workload key")
	}
	issued, err := a.SignWorkload(&x509.CertificateRequest{PublicKey: key.Public()}, id, a.opts.DefaultTTL)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		return nil, wrapError(KindInternal, ReasonSigning, err, "encoding a workload key")
	}
	return &Minted{Cert: issued.Cert, ChainPEM: []byte(strings.Join(issued.ChainPEM, "")), KeyPEM: keyPEM}, nil
}

// TrustBundlePEM returns the roots the CA's workloads trust, PEM. Watch
// tells when they change.
func (a *Authority) TrustBundlePEM() []byte { return a.Material().RootsPEM() }
