package ca

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
)

// FuzzCreateCertificate feeds arbitrary CSRs, validities and impersonation
// metadata to CreateCertificate. It must never panic, and a certificate
// may only ever name the caller's identity, or, for a trusted
// impersonator, exactly the identity it named.
func FuzzCreateCertificate(f *testing.F) {
	caller := callerOf(f, "bookinfo", "ratings")
	node := callerOf(f, "istio-system", "ztunnel")
	a := newTestAuthority(f, KeyECDSA, Options{MaxTTL: 48 * 3600 * 1e9})
	newServer := func(c *Caller, impersonators ...string) *Server {
		s, err := NewServer(ServerOptions{Authority: a, Authenticator: staticAuthenticator{c}, TrustedImpersonators: impersonators})
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	workload := newServer(caller)
	trusted := newServer(node, "istio-system/ztunnel")
	root := a.Material().Root()

	key := newKey(f, "ecdsa")
	mine := string(csrFor(f, key, caller.ID.String()))
	theirs := spiffeOf("bookinfo", "reviews")
	f.Add(mine, int64(0), "", false)
	f.Add(mine, int64(3600), "", false)
	f.Add(mine, int64(-1), "", false)
	f.Add(mine, int64(1<<62), "", false)
	f.Add(string(csrFor(f, key, theirs)), int64(0), "", false)
	f.Add(string(csrFor(f, key, theirs)), int64(0), theirs, false)
	f.Add(string(csrFor(f, key, theirs)), int64(0), theirs, true)
	f.Add(string(csrFor(f, key, theirs)), int64(0), "spiffe://cluster.local/ns/bookinfo/sa/reviews/", true)
	f.Add(string(csrFor(f, key, caller.ID.String(), theirs)), int64(0), "", false)
	f.Add(string(csrFor(f, key)), int64(0), "", false)
	f.Add("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n", int64(0), "", false)
	f.Add("", int64(0), "", false)

	f.Fuzz(func(t *testing.T, csr string, validity int64, impersonated string, asNode bool) {
		s, who := workload, caller
		if asNode {
			s, who = trusted, node
		}
		req := &securityv1alpha1.IstioCertificateRequest{Csr: csr, ValidityDuration: validity}
		if impersonated != "" {
			req.Metadata = impersonating(impersonated)
		}
		resp, err := s.CreateCertificate(context.Background(), req)
		if err != nil {
			if resp != nil {
				t.Fatal("a response came with an error")
			}
			if c := status.Code(err); c != codes.InvalidArgument && c != codes.PermissionDenied {
				t.Fatalf("error %v has code %s, want InvalidArgument or PermissionDenied", err, c)
			}
			return
		}
		leaf := verifyChain(t, resp.CertChain, root, 0)
		want := who.ID.String()
		if impersonated != "" {
			if !asNode {
				t.Fatalf("an untrusted caller impersonated %q", impersonated)
			}
			want = impersonated
		}
		if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want {
			t.Fatalf("issued for %v, want exactly %s", leaf.URIs, want)
		}
	})
}
