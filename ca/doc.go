// Package ca is pilotlight's SPIFFE certificate authority. It owns the CA's
// signing material and where it is kept (Store: a Kubernetes Secret in
// istiod's format, a directory, or memory), its life across replicas
// (Roots: one root shared by every replica, created and rotated by the
// holder of a Lease, followed by the others), the trust bundle that
// everything reads from the Authority and the leader publishes as
// ConfigMap istio-ca-root-cert in every namespace, the issuing of workload
// certificates whose only name is a SPIFFE id
// (spiffe://TRUST_DOMAIN/ns/NS/sa/SA), the authentication of callers
// (Kubernetes service account tokens checked with TokenReview, or client
// certificates from this CA), and Istio's CreateCertificate API
// (istio.v1.auth.IstioCertificateService) with the TLS serving certificate
// of the port it is served on.
//
// The CA stands alone: it never imports translate, discovery or xds, so it
// can be read and audited on its own. It never logs a token or a private
// key, and every error it returns to a caller is a *Error whose Kind says
// how it maps to a gRPC code (the mapping is done in exactly one place,
// GRPCError).
package ca
