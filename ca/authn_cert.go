package ca

import (
	"context"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// CertAuthenticator proves a caller's identity from the client
// certificate of its TLS connection: an X.509 SVID that chains to the
// Authority's current trust bundle and names a service account of its
// trust domain. The TLS handshake only requests the certificate (see
// TLSConfig); the chain is verified here, against the roots in use at
// the time of the call.
type CertAuthenticator struct {
	authority *Authority
}

// NewCertAuthenticator returns a CertAuthenticator for certificates of a.
func NewCertAuthenticator(a *Authority) *CertAuthenticator {
	return &CertAuthenticator{authority: a}
}

// Authenticate implements Authenticator.
func (a *CertAuthenticator) Authenticate(ctx context.Context) (*Caller, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, errNoCredentials("no client certificate")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return nil, errNoCredentials("no client certificate")
	}
	td := a.authority.TrustDomain()
	bundle := x509bundle.FromX509Authorities(td, a.authority.Material().Roots)
	id, _, err := x509svid.Verify(info.State.PeerCertificates, bundle, x509svid.WithTime(a.authority.now()))
	if err != nil {
		return nil, wrapError(KindUnauthenticated, ReasonCertificateRejected, err, "the client certificate is not one of this CA's")
	}
	ns, sa, err := ParseWorkloadID(id)
	if err != nil {
		return nil, wrapError(KindUnauthenticated, ReasonCertificateRejected, err, "the client certificate names no service account")
	}
	return &Caller{ID: id, Namespace: ns, ServiceAccount: sa, Method: "client-certificate"}, nil
}
