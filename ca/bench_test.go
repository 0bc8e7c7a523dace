package ca

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
)

// BenchmarkSignWorkload measures what CreateCertificate spends per
// certificate once the caller is known: parsing and verifying the CSR
// and signing, for each CA key and CSR key type. ns/op is the cost of
// one certificate on one core.
func BenchmarkSignWorkload(b *testing.B) {
	for _, caKey := range []KeyType{KeyECDSA, KeyRSA} {
		a := newTestAuthority(b, caKey, Options{})
		for _, csrKey := range []string{"ecdsa", "rsa"} {
			csrPEM := csrFor(b, newKey(b, csrKey), spiffeOf("bookinfo", "ratings"))
			b.Run(fmt.Sprintf("ca=%s/csr=%s", caKey, csrKey), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					csr, id, err := ParseCSR(csrPEM)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := a.SignWorkload(csr, id, time.Hour); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkMintWorkload is a plain Envoy's workload certificate: an
// ECDSA P-256 key made and a certificate signed for it, per CA key type.
func BenchmarkMintWorkload(b *testing.B) {
	id := spiffeid.RequireFromString(spiffeOf("bookinfo", "ratings"))
	for _, caKey := range []KeyType{KeyECDSA, KeyRSA} {
		a := newTestAuthority(b, caKey, Options{})
		b.Run("ca="+string(caKey), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.MintWorkload(id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCreateCertificate is the whole call (authentication from a
// cached TokenReview, CSR checks, signing, chain), without the network.
func BenchmarkCreateCertificate(b *testing.B) {
	f := newServerFixture(b)
	ctx := withToken(f.token("bookinfo", "ratings"))
	req := &securityv1alpha1.IstioCertificateRequest{Csr: string(csrFor(b, newKey(b, "ecdsa"), spiffeOf("bookinfo", "ratings")))}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.server.CreateCertificate(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenCacheHit is the authentication of a caller whose token
// was reviewed before: hashing the token and a map lookup.
func BenchmarkTokenCacheHit(b *testing.B) {
	clock := newTestClock()
	f := newFakeTokenReviews()
	a := newTokenAuthn(f, clock)
	ctx := withToken(f.add("bookinfo", "ratings", clock.Now().Add(time.Hour)))
	if _, err := a.Authenticate(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if n := f.calls.Load(); n != 1 {
		b.Fatalf("%d TokenReviews, want 1", n)
	}
}

// BenchmarkTokenCacheHitParallel is the same under contention, all cores
// authenticating distinct cached tokens.
func BenchmarkTokenCacheHitParallel(b *testing.B) {
	clock := newTestClock()
	f := newFakeTokenReviews()
	a := newTokenAuthn(f, clock)
	ctxs := make([]context.Context, 64)
	for i := range ctxs {
		ctxs[i] = withToken(f.add("ns", fmt.Sprint("sa", i), clock.Now().Add(time.Hour)))
		if _, err := a.Authenticate(ctxs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := a.Authenticate(ctxs[i%len(ctxs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
