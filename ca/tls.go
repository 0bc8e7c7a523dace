package ca

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"time"

	certutil "k8s.io/client-go/util/cert"

	"go.uber.org/zap"
)

// DefaultServingDNSNames are the names istio-agent and other clients dial
// istiod by, so that they can dial pilotlight by the same names.
var DefaultServingDNSNames = []string{
	"istiod.istio-system.svc",
	"istiod.istio-system.svc.cluster.local",
	"istiod",
	"pilotlight.istio-system.svc",
	"localhost",
}

// DefaultServingTTL is the validity of the CA port's own certificate.
const DefaultServingTTL = 24 * time.Hour

// ServingOptions configure a ServingCertificate.
type ServingOptions struct {
	// Names are the certificate's DNS names and IP addresses (a name that
	// parses as an IP is one); nil is DefaultServingDNSNames.
	Names []string
	// TTL is the certificate's validity; 0 is DefaultServingTTL.
	TTL time.Duration
	// Logger; nil logs nothing.
	Logger *zap.Logger
}

// ServingCertificate is the TLS certificate of the port the CA is served
// on, issued by the CA itself, so that a client that trusts the mesh's
// root (istio-agent reads it from ConfigMap istio-ca-root-cert) trusts
// the port. It is reissued once half its life has passed, and when the
// CA's material changes (a new root signs, or the bundle changed).
type ServingCertificate struct {
	authority *Authority
	dnsNames  []string
	ips       []net.IP
	ttl       time.Duration
	log       *zap.Logger

	mu      sync.Mutex
	current *tls.Certificate
	renewAt time.Time
	// replaced is closed when the material current was issued with is
	// replaced.
	replaced <-chan struct{}
}

// NewServingCertificate issues the first serving certificate.
func NewServingCertificate(a *Authority, o ServingOptions) (*ServingCertificate, error) {
	names := o.Names
	if names == nil {
		names = DefaultServingDNSNames
	}
	s := &ServingCertificate{authority: a, ttl: o.TTL, log: o.Logger}
	if s.ttl == 0 {
		s.ttl = DefaultServingTTL
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			s.ips = append(s.ips, ip)
		} else if n != "" {
			s.dnsNames = append(s.dnsNames, n)
		}
	}
	if len(s.dnsNames)+len(s.ips) == 0 {
		return nil, errors.New("the serving certificate needs at least one name")
	}
	if err := s.renew(); err != nil {
		return nil, err
	}
	return s, nil
}

// GetCertificate implements tls.Config.GetCertificate. Past half life, or
// once the CA's material changed, the certificate is reissued; if that
// fails the current one is kept (and reissuing is tried again by the
// next handshake), since it is still valid.
func (s *ServingCertificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.authority.now().Before(s.renewAt) || isClosed(s.replaced) {
		if err := s.renewLocked(); err != nil {
			s.log.Error("reissuing the CA port's serving certificate failed; the current one stays", zap.Error(err))
		}
	}
	return s.current, nil
}

func (s *ServingCertificate) renew() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renewLocked()
}

func (s *ServingCertificate) renewLocked() error {
	key, err := generateKey(KeyECDSA)
	if err != nil {
		return err
	}
	_, replaced := s.authority.Watch()
	issued, err := s.authority.SignServing(key.Public(), s.dnsNames, s.ips, s.ttl)
	if err != nil {
		return err
	}
	c := &tls.Certificate{PrivateKey: key, Leaf: issued.Cert}
	// The root is left out of the chain sent: the client has it.
	for _, p := range issued.ChainPEM[:len(issued.ChainPEM)-1] {
		cert, err := certutil.ParseCertsPEM([]byte(p))
		if err != nil {
			return err
		}
		c.Certificate = append(c.Certificate, cert[0].Raw)
	}
	nb, na := issued.Cert.NotBefore, issued.Cert.NotAfter
	s.current, s.renewAt, s.replaced = c, nb.Add(na.Sub(nb)/2), replaced
	s.log.Info("CA port serving certificate issued",
		zap.Strings("dns_names", s.dnsNames),
		zap.String("serial", fmtSerial(issued.Cert)),
		zap.Time("expires", na))
	return nil
}

// isClosed tells whether c is closed.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TLSConfig returns the server side TLS configuration of the CA port.
// Client certificates are requested but not required, so that callers
// can authenticate with a token or with a certificate of this CA; a
// certificate is verified by CertAuthenticator against the trust bundle
// in use at the time of the call, not by the handshake, so that a client
// holding an old or foreign certificate can still fall back to its token.
func (s *ServingCertificate) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.GetCertificate,
		ClientAuth:     tls.RequestClientCert,
		NextProtos:     []string{"h2"},
	}
}

// Leaf returns the certificate currently served.
func (s *ServingCertificate) Leaf() *x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current.Leaf
}
