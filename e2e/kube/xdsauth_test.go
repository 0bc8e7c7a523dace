package kube

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pilotlight/pilotlight/e2e/framework/pilotlight"
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
	_, tlsCreds := secureCreds(t, c)
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

// TestSecureADSGatewayCertificates: with --read-secrets (and the
// gateway-secrets overlay's RBAC), a router whose stream on the TLS port
// proved its namespace gets the certificate its Gateway names only if
// its service account may list Secrets there, as the real API server's
// RBAC answers a SubjectAccessReview: the gateway's account, granted a
// Role, gets it; another account of the same namespace claiming to be
// the router does not.
func TestSecureADSGatewayCertificates(t *testing.T) {
	e := newEnv(t)
	c := e.cluster
	const ns = "shop"
	c.CreateNamespace(t, ns, nil)
	c.CreateServiceAccount(t, ns, "ingress")
	c.CreateServiceAccount(t, ns, "web")
	c.CreateTLSSecret(t, ns, "shop-cert", "shop.example.com")
	c.Apply(t, ns, []byte(`
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: gateway-secrets}
rules:
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: gateway-secrets}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: gateway-secrets}
subjects:
- {kind: ServiceAccount, name: ingress, namespace: shop}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["shop.example.com"]
    tls: {mode: SIMPLE, credentialName: shop-cert}
`))
	c.ApplyFile(t, pilotlight.Namespace, filepath.Join(e.layout.Repo, "deploy", "gateway-secrets", "rbac.yaml"))
	cp := e.startPilotlight(t, "--read-secrets")
	_, tlsCreds := secureCreds(t, c)
	const name = "kubernetes://shop-cert"

	// secrets returns what a router of the shop namespace running as sa
	// is sent when it asks for the certificate.
	secrets := func(sa string) (map[string]bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), wait.Short)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.ServiceAccountToken(t, ns, sa, time.Hour, "istio-ca"))
		node := xdstest.Node{Type: "router", Pod: sa + "-1", Namespace: ns, IP: "10.244.0.8", ServiceAccount: sa,
			Labels: map[string]string{"istio": "ingressgateway"}}
		ads, err := client.Dial(ctx, cp.SecureAddr, node.Proto(), client.Options{DialOptions: []grpc.DialOption{tlsCreds}})
		if err != nil {
			return nil, err
		}
		defer ads.Close()
		if err := ads.Subscribe(resource.SecretType, name); err != nil {
			return nil, err
		}
		select {
		case u, ok := <-ads.Updates():
			if !ok {
				return nil, ads.Err()
			}
			got := map[string]bool{}
			for n := range u.Resources {
				got[n] = true
			}
			return got, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	wait.For(t, wait.Long, "the gateway's account to get "+name, func() error {
		got, err := secrets("ingress")
		if err != nil {
			return err
		}
		if !got[name] {
			return fmt.Errorf("got %v", got)
		}
		return nil
	})
	got, err := secrets("web")
	if err != nil {
		t.Fatal(err)
	}
	if got[name] {
		t.Errorf("shop/web, which RBAC does not let read Secrets, got %s", name)
	}
	if n := cp.metrics(t).Sum("pilotlight_xds_refused_secret_requests_total", "reason", "secret_access_denied"); n != 1 {
		t.Errorf("refusals for secret access counted %v, want 1", n)
	}
}
