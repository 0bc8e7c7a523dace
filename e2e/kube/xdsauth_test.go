package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pilotlight/pilotlight/e2e/framework/wait"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// TestSecureADSAuthenticatesStreams: on pilotlight's TLS port an ADS
// stream is served only when it proves an identity, here with a real
// projected service account token (audience istio-ca) that the real API
// server vouches for through TokenReview, and when its node claims that
// identity; a node lying about its namespace, or a token for another
// audience, ends the stream before any config with PermissionDenied or
// Unauthenticated.
func TestSecureADSAuthenticatesStreams(t *testing.T) {
	e := newEnv(t)
	c := e.cluster
	c.CreateNamespace(t, "shop", nil)
	c.CreateServiceAccount(t, "shop", "reviews")
	cp := e.startPilotlight(t)
	root, _ := caRoot(t, c)
	roots := x509.NewCertPool()
	roots.AddCert(root)
	tlsCreds := grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, ServerName: "istiod.istio-system.svc", MinVersion: tls.VersionTLS12,
	}))
	token := c.ServiceAccountToken(t, "shop", "reviews", time.Hour, "istio-ca")

	// stream opens an ADS stream with a token, subscribes to clusters and
	// returns the first answer, or the status the stream ended with.
	stream := func(node *corev3.Node, token string) (*client.Update, error) {
		ctx, cancel := context.WithTimeout(context.Background(), wait.Short)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		ads, err := client.Dial(ctx, cp.SecureAddr, node, client.Options{Delta: true, DialOptions: []grpc.DialOption{tlsCreds}})
		if err != nil {
			t.Fatal(err)
		}
		defer ads.Close()
		_ = ads.Subscribe(resource.ClusterType) // A refused stream may be gone already.
		select {
		case u, ok := <-ads.Updates():
			if !ok {
				return nil, ads.Err()
			}
			return &u, nil
		case <-ctx.Done():
			t.Fatal("no answer and no end on the TLS port")
		}
		return nil, nil
	}

	reviews := xdstest.Node{Pod: "reviews-1", Namespace: "shop", IP: "10.244.0.7", ServiceAccount: "reviews"}
	start := time.Now()
	u, err := stream(reviews.Proto(), token)
	if err != nil {
		t.Fatalf("a stream with the pod's own token was refused: %v", err)
	}
	if u.TypeURL != resource.ClusterType {
		t.Fatalf("got %s, want clusters", u.TypeURL)
	}
	t.Logf("authenticated stream answered in %v (TLS handshake, TokenReview, first CDS)", time.Since(start).Round(time.Millisecond))

	liar := xdstest.Node{Pod: "reviews-1", Namespace: "default", IP: "10.244.0.7", ServiceAccount: "reviews"}
	if _, err := stream(liar.Proto(), token); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a node claiming namespace default with shop's token: %v, want PermissionDenied", err)
	}
	other := c.ServiceAccountToken(t, "shop", "reviews", time.Hour, "some-other-audience")
	if _, err := stream(reviews.Proto(), other); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a token for another audience: %v, want Unauthenticated", err)
	}
	m := cp.metrics(t)
	for _, want := range []struct {
		name, label, value string
	}{
		{"pilotlight_xds_authenticated_streams_total", "method", "kubernetes-token"},
		{"pilotlight_xds_refused_streams_total", "reason", "identity_mismatch"},
		{"pilotlight_xds_refused_streams_total", "reason", "token_rejected"},
	} {
		if got := m.Sum(want.name, want.label, want.value); got != 1 {
			t.Errorf("%s{%s=%q} = %v, want 1", want.name, want.label, want.value, got)
		}
	}
}
