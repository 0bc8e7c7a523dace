package ca

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
)

// ImpersonatedIdentityKey is the request metadata field in which a
// trusted caller (a node agent) names the SPIFFE id it asks a certificate
// for, as istiod reads it.
const ImpersonatedIdentityKey = "ImpersonatedIdentity"

// ServerOptions configure a Server.
type ServerOptions struct {
	// Authority signs the certificates.
	Authority *Authority
	// Authenticator proves callers' identities.
	Authenticator Authenticator
	// TrustedImpersonators are the service accounts, as
	// "NAMESPACE/SERVICE_ACCOUNT", that may ask for another identity's
	// certificate through ImpersonatedIdentityKey.
	TrustedImpersonators []string
	// Logger; nil logs nothing.
	Logger *zap.Logger
	// Registerer takes the CA's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Server implements Istio's CreateCertificate API
// (istio.v1.auth.IstioCertificateService).
type Server struct {
	securityv1alpha1.UnimplementedIstioCertificateServiceServer
	authority     *Authority
	authn         Authenticator
	impersonators []string
	log           *zap.Logger
	metrics       *metrics
}

// NewServer returns a Server.
func NewServer(o ServerOptions) (*Server, error) {
	if o.Authority == nil || o.Authenticator == nil {
		return nil, errors.New("a CA server needs an Authority and an Authenticator")
	}
	for _, imp := range o.TrustedImpersonators {
		if ns, sa, ok := strings.Cut(imp, "/"); !ok || ns == "" || sa == "" || strings.Contains(sa, "/") {
			return nil, fmt.Errorf("trusted impersonator %q is not NAMESPACE/SERVICE_ACCOUNT", imp)
		}
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	m, err := newMetrics(o.Registerer, o.Authority)
	if err != nil {
		return nil, fmt.Errorf("CA metrics: %w", err)
	}
	return &Server{
		authority:     o.Authority,
		authn:         o.Authenticator,
		impersonators: slices.Clone(o.TrustedImpersonators),
		log:           log,
		metrics:       m,
	}, nil
}

// Register adds the service to a gRPC server.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	securityv1alpha1.RegisterIstioCertificateServiceServer(g, s)
}

// CreateCertificate authenticates the caller, checks that the CSR names
// the caller's identity (or, for a trusted impersonator, the identity it
// names in the metadata), and returns the signed certificate with its
// chain: leaf first, root last.
func (s *Server) CreateCertificate(ctx context.Context, req *securityv1alpha1.IstioCertificateRequest) (*securityv1alpha1.IstioCertificateResponse, error) {
	caller, issued, err := s.create(ctx, req)
	if err != nil {
		e := asError(err)
		s.metrics.failures.WithLabelValues(e.Reason).Inc()
		fields := []zap.Field{zap.String("reason", e.Reason), zap.String("peer", peerAddr(ctx)), zap.Error(err)}
		if caller != nil {
			fields = append(fields, zap.Stringer("caller", caller.ID))
		}
		if e.Kind == KindUnavailable || e.Kind == KindInternal {
			s.log.Warn("no certificate issued", fields...)
		} else {
			s.log.Info("no certificate issued", fields...)
		}
		return nil, GRPCError(err)
	}
	s.metrics.issued.Inc()
	id, _ := spiffeid.FromURI(issued.Cert.URIs[0])
	s.log.Info("certificate issued",
		zap.Stringer("identity", id),
		zap.Stringer("caller", caller.ID),
		zap.String("authenticated_by", caller.Method),
		zap.String("serial", fmtSerial(issued.Cert)),
		zap.Time("expires", issued.Cert.NotAfter))
	return &securityv1alpha1.IstioCertificateResponse{CertChain: issued.ChainPEM}, nil
}

// create does CreateCertificate's work; the caller is returned as soon as
// it is known, for the failure log.
func (s *Server) create(ctx context.Context, req *securityv1alpha1.IstioCertificateRequest) (*Caller, *Issued, error) {
	caller, err := s.authn.Authenticate(ctx)
	if err != nil {
		return nil, nil, err
	}
	want := caller.ID
	if imp := req.GetMetadata().GetFields()[ImpersonatedIdentityKey].GetStringValue(); imp != "" {
		if want, err = s.impersonate(caller, imp); err != nil {
			return caller, nil, err
		}
	}
	// The TTL is checked before the CSR: it is the cheaper check.
	ttl, err := s.authority.WorkloadTTL(req.GetValidityDuration())
	if err != nil {
		return caller, nil, err
	}
	csr, csrID, err := ParseCSR([]byte(req.GetCsr()))
	if err != nil {
		return caller, nil, err
	}
	if csrID != want {
		return caller, nil, newError(KindPermissionDenied, ReasonIdentityMismatch,
			"the CSR asks for %s but the caller may only have %s", csrID, want)
	}
	issued, err := s.authority.SignWorkload(csr, want, ttl)
	return caller, issued, err
}

// impersonate returns the identity a trusted caller names.
func (s *Server) impersonate(caller *Caller, named string) (spiffeid.ID, error) {
	if !slices.Contains(s.impersonators, caller.Namespace+"/"+caller.ServiceAccount) {
		return spiffeid.ID{}, newError(KindPermissionDenied, ReasonImpersonationDenied,
			"%s may not ask for another identity's certificate (it is not a trusted impersonator)", caller.ID)
	}
	id, err := spiffeid.FromString(named)
	if err != nil {
		return spiffeid.ID{}, wrapError(KindInvalidArgument, ReasonImpersonationDenied, err, "the impersonated identity is not a SPIFFE id")
	}
	if _, _, err := ParseWorkloadID(id); err != nil || !id.MemberOf(s.authority.TrustDomain()) {
		return spiffeid.ID{}, newError(KindPermissionDenied, ReasonImpersonationDenied,
			"the impersonated identity %s is not a service account of trust domain %s", id, s.authority.TrustDomain())
	}
	return id, nil
}

// GRPCError is the one place where the CA's errors become gRPC statuses:
// the CreateCertificate server and the xDS server's stream
// authentication both answer through it.
func GRPCError(err error) error {
	e := asError(err)
	var code codes.Code
	switch e.Kind {
	case KindInvalidArgument:
		code = codes.InvalidArgument
	case KindUnauthenticated:
		code = codes.Unauthenticated
	case KindPermissionDenied:
		code = codes.PermissionDenied
	case KindUnavailable:
		code = codes.Unavailable
	default:
		// An internal failure's details stay in the log.
		return status.Error(codes.Internal, "the CA failed to sign; see pilotlight's log")
	}
	return status.Error(code, e.Error())
}

// peerAddr returns the caller's address, for logs.
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}
