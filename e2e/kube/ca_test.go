package kube

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCACreateCertificate: pilotlight's CA keeps its root in
// istio-ca-secret (as istiod does) with deploy/base's RBAC, and issues a
// workload certificate over TLS to a caller holding a real projected
// service account token (audience istio-ca) that the real API server
// vouches for through TokenReview; a token for another audience and a CSR
// for another identity get no certificate.
func TestCACreateCertificate(t *testing.T) {
	e := newEnv(t)
	c := e.cluster
	c.CreateNamespace(t, "shop", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, sa := range []string{"reviews", "ratings"} {
		if _, err := c.Kube.CoreV1().ServiceAccounts("shop").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cp := e.startPilotlight(t)

	roots, tlsCreds := secureCreds(t, c)
	conn, err := grpc.NewClient(cp.SecureAddr, tlsCreds)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	caClient := securityv1alpha1.NewIstioCertificateServiceClient(conn)
	ask := func(token, spiffeID string) (*securityv1alpha1.IstioCertificateResponse, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		uri, _ := url.Parse(spiffeID)
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{uri}}, key)
		if err != nil {
			t.Fatal(err)
		}
		csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
		rctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		return caClient.CreateCertificate(rctx, &securityv1alpha1.IstioCertificateRequest{Csr: csr, ValidityDuration: 3600})
	}

	const id = "spiffe://cluster.local/ns/shop/sa/reviews"
	token := c.ServiceAccountToken(t, "shop", "reviews", time.Hour, "istio-ca")
	start := time.Now()
	resp, err := ask(token, id)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	t.Logf("certificate issued in %v (TLS handshake, TokenReview, signing)", time.Since(start).Round(time.Millisecond))
	chain := resp.GetCertChain()
	if len(chain) < 2 {
		t.Fatalf("chain has %d certificates, want leaf and root", len(chain))
	}
	block, _ := pem.Decode([]byte(chain[0]))
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id {
		t.Errorf("leaf URIs = %v, want [%s]", leaf.URIs, id)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("leaf does not chain to the root in istio-ca-secret: %v", err)
	}

	if _, err := ask(c.ServiceAccountToken(t, "shop", "reviews", time.Hour, "some-other-audience"), id); status.Code(err) != codes.Unauthenticated {
		t.Errorf("token for another audience: %v, want Unauthenticated", err)
	}
	if _, err := ask(token, "spiffe://cluster.local/ns/shop/sa/ratings"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CSR for another identity: %v, want PermissionDenied", err)
	}
}
