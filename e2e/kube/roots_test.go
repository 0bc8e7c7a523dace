package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certutil "k8s.io/client-go/util/cert"

	"github.com/pilotlight/pilotlight/e2e/framework/wait"
)

// rootCertConfigMap is where workloads find the trust bundle, as with
// istiod.
const rootCertConfigMap = "istio-ca-root-cert"

// unpublished are the namespaces that run no workloads and get no
// bundle.
var unpublished = map[string]bool{"kube-public": true, "kube-node-lease": true}

// TestCARootSharedByReplicas runs two pilotlight replicas, each with its
// own token and deploy/base's RBAC, against the real API server: they
// end with one root in istio-ca-secret (created by the Lease holder),
// both serve certificates from it, and the trust bundle is published as
// ConfigMap istio-ca-root-cert in every namespace, including one created
// later. A deleted ConfigMap comes back, also after the replica that
// held the Lease has stopped.
func TestCARootSharedByReplicas(t *testing.T) {
	e := newEnv(t)
	c := e.cluster
	c.CreateNamespace(t, "shop", nil)
	c.CreateNamespace(t, "billing", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	replicas := []*controlPlane{e.startPilotlight(t), e.startPilotlight(t)}

	var root []byte
	wait.For(t, wait.Short, "the CA root in istio-system/istio-ca-secret", func() error {
		s, err := c.Kube.CoreV1().Secrets("istio-system").Get(ctx, "istio-ca-secret", metav1.GetOptions{})
		if err != nil {
			return err
		}
		root = s.Data["ca-cert.pem"]
		return nil
	})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(root) {
		t.Fatal("istio-ca-secret's ca-cert.pem holds no certificate")
	}
	for i, cp := range replicas {
		wait.For(t, wait.Short, fmt.Sprintf("replica %d to serve a certificate from the shared root", i), func() error {
			return servesFrom(cp.SecureAddr, roots)
		})
	}
	lease, err := c.Kube.CoordinationV1().Leases("istio-system").Get(ctx, "pilotlight-ca", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Fatalf("Lease istio-system/pilotlight-ca has no holder: %v", err)
	}
	t.Logf("Lease held by %s", *lease.Spec.HolderIdentity)

	everywhere := func() error {
		list, err := c.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, ns := range list.Items {
			if unpublished[ns.Name] {
				continue
			}
			if err := bundleIn(ctx, e, ns.Name, root); err != nil {
				return err
			}
		}
		return nil
	}
	took := wait.For(t, wait.Short, "the bundle in every namespace", everywhere)
	t.Logf("bundle in every namespace %v after both replicas were ready", took.Round(time.Millisecond))

	c.CreateNamespace(t, "payments", nil)
	took = wait.For(t, wait.Short, "the bundle in a new namespace", func() error { return bundleIn(ctx, e, "payments", root) })
	t.Logf("bundle in a new namespace after %v", took.Round(time.Millisecond))

	deleteAndWait := func(ns string) {
		t.Helper()
		if err := c.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, rootCertConfigMap, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		took := wait.For(t, wait.Short, "the deleted ConfigMap in "+ns+" back", func() error { return bundleIn(ctx, e, ns, root) })
		t.Logf("deleted ConfigMap in %s back after %v", ns, took.Round(time.Millisecond))
	}
	deleteAndWait("shop")

	// The leader stops (releasing the Lease): the other takes over.
	leader := -1
	for i, cp := range replicas {
		cp.checkRBAC(t)
		if cp.metrics(t).Sum("pilotlight_ca_leader") == 1 {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no replica reports leading the CA (pilotlight_ca_leader)")
	}
	replicas[leader].Process().Stop()
	deleteAndWait("billing")
	follower := replicas[1-leader]
	if follower.metrics(t).Sum("pilotlight_ca_leader") != 1 {
		t.Error("the remaining replica does not report leading the CA")
	}
	follower.checkRBAC(t)

	secrets, err := c.Kube.CoreV1().Secrets("istio-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var caSecrets []string
	for _, s := range secrets.Items {
		if s.Type == "istio.io/ca-root" {
			caSecrets = append(caSecrets, s.Name)
		}
	}
	if len(caSecrets) != 1 {
		t.Errorf("CA root Secrets in istio-system: %v, want exactly istio-ca-secret", caSecrets)
	}
}

// bundleIn checks that namespace ns holds ConfigMap istio-ca-root-cert
// with the bundle want.
func bundleIn(ctx context.Context, e *env, ns string, want []byte) error {
	cm, err := e.cluster.Kube.CoreV1().ConfigMaps(ns).Get(ctx, rootCertConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("no ConfigMap %s/%s", ns, rootCertConfigMap)
	}
	if err != nil {
		return err
	}
	if got := cm.Data["root-cert.pem"]; got != string(want) {
		return fmt.Errorf("ConfigMap %s/%s holds %q, not the root of istio-ca-secret", ns, rootCertConfigMap, got)
	}
	return nil
}

// servesFrom checks that the TLS port at addr presents a certificate for
// istiod's name that chains to roots.
func servesFrom(addr string, roots *x509.CertPool) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{
		RootCAs: roots, ServerName: servingName, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"},
	})
	if err != nil {
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			return fmt.Errorf("%s serves a certificate from another root", addr)
		}
		return err
	}
	return conn.Close()
}

// TestCARootRotation rotates a short-lived self-signed root (three
// minutes, the next one made with half of that left, certificates of at
// most 20 s) under two replicas: the next root joins the published
// bundle first, then both replicas serve certificates from it, and the
// old root leaves the bundle once what it signed has expired.
func TestCARootRotation(t *testing.T) {
	e := newEnv(t)
	c := e.cluster
	c.CreateNamespace(t, "shop", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	flags := []string{"--ca-root-ttl=3m", "--ca-root-rotation-grace=0.5", "--max-workload-cert-ttl=20s", "--workload-cert-ttl=10s"}
	replicas := []*controlPlane{e.startPilotlight(t, flags...), e.startPilotlight(t, flags...)}

	bundle := func() ([]*x509.Certificate, error) {
		cm, err := c.Kube.CoreV1().ConfigMaps("shop").Get(ctx, rootCertConfigMap, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return certutil.ParseCertsPEM([]byte(cm.Data["root-cert.pem"]))
	}
	var first []*x509.Certificate
	wait.For(t, wait.Short, "the first root published", func() error {
		var err error
		first, err = bundle()
		return err
	})
	if len(first) != 1 {
		t.Fatalf("the first bundle holds %d roots, want 1", len(first))
	}
	start := time.Now()
	const rotation = 3 * time.Minute
	var both []*x509.Certificate
	wait.For(t, rotation, "the next root in the published bundle", func() error {
		var err error
		if both, err = bundle(); err == nil && len(both) != 2 {
			err = fmt.Errorf("the bundle holds %d roots", len(both))
		}
		return err
	})
	t.Logf("next root published %v after the first", time.Since(start).Round(time.Second))
	var next *x509.Certificate
	for _, r := range both {
		if !r.Equal(first[0]) {
			next = r
		}
	}
	if next == nil {
		t.Fatal("the two-root bundle does not hold the first root and another")
	}
	onlyNext := x509.NewCertPool()
	onlyNext.AddCert(next)
	for i, cp := range replicas {
		wait.For(t, rotation, fmt.Sprintf("replica %d to serve a certificate from the next root", i), func() error {
			return servesFrom(cp.SecureAddr, onlyNext)
		})
	}
	t.Logf("both replicas sign with the next root %v after the first was published", time.Since(start).Round(time.Second))
	wait.For(t, rotation, "the first root out of the bundle", func() error {
		roots, err := bundle()
		if err == nil && (len(roots) != 1 || !roots[0].Equal(next)) {
			err = fmt.Errorf("the bundle holds %d roots", len(roots))
		}
		return err
	})
	t.Logf("first root retired %v after it was published", time.Since(start).Round(time.Second))
	s, err := c.Kube.CoreV1().Secrets("istio-system").Get(ctx, "istio-ca-secret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stored, err := certutil.ParseCertsPEM(s.Data["ca-cert.pem"]); err != nil || !stored[0].Equal(next) {
		t.Error("istio-ca-secret's ca-cert.pem is not the root that signs")
	}
	for _, cp := range replicas {
		cp.checkRBAC(t)
	}
}
