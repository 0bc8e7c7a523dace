package ca

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// eventuallyCA polls check until it returns nil, failing the test after
// a few seconds with its last error.
func eventuallyCA(t *testing.T, what string, check func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = check(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

// TestPublisher: the leader publishes the bundle in every namespace but
// the system ones that run no workloads, in new namespaces too, puts
// back a deleted or edited ConfigMap, and follows the bundle; a replica
// that does not lead writes nothing.
func TestPublisher(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var running sync.WaitGroup
	defer running.Wait()
	defer cancel()
	client := fake.NewClientset(namespace("shop"), namespace("istio-system"), namespace("kube-public"))
	clock := newTestClock()
	store := NewMemoryStore()
	r := newTestRoots(t, store, clock, Alone{}, nil)
	r.sync(ctx, true)
	a, _ := r.Authority(ctx)
	reg := prometheus.NewRegistry()
	publish := func(lead Leadership, reg prometheus.Registerer) *Publisher {
		p, err := NewPublisher(PublisherOptions{Client: client, Authority: a, Leadership: lead, Logger: zaptest.NewLogger(t), Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		running.Go(func() { p.Run(ctx) })
		return p
	}
	// A follower first: nothing may appear while it alone runs.
	publish(follower{}, nil)
	time.Sleep(200 * time.Millisecond)
	if list, _ := client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{}); len(list.Items) != 0 {
		t.Fatalf("a replica that does not lead wrote %d ConfigMaps", len(list.Items))
	}
	publish(Alone{}, reg)

	bundleIn := func(ns string) func() error {
		return func() error {
			cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, RootCertConfigMap, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if got, want := cm.Data[RootCertKey], string(a.Material().RootsPEM()); got != want {
				return fmt.Errorf("ConfigMap %s/%s holds %d bytes, not the %d of the bundle", ns, RootCertConfigMap, len(got), len(want))
			}
			if cm.Labels["istio.io/config"] != "true" {
				return fmt.Errorf("ConfigMap %s/%s lacks istiod's label", ns, RootCertConfigMap)
			}
			return nil
		}
	}
	for _, ns := range []string{"shop", "istio-system"} {
		eventuallyCA(t, "the bundle published in "+ns, bundleIn(ns))
	}
	if _, err := client.CoreV1().ConfigMaps("kube-public").Get(ctx, RootCertConfigMap, metav1.GetOptions{}); err == nil {
		t.Error("the bundle was published in kube-public")
	}

	if _, err := client.CoreV1().Namespaces().Create(ctx, namespace("billing"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyCA(t, "the bundle published in a new namespace", bundleIn("billing"))

	if err := client.CoreV1().ConfigMaps("shop").Delete(ctx, RootCertConfigMap, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyCA(t, "a deleted ConfigMap put back", bundleIn("shop"))

	edited, _ := client.CoreV1().ConfigMaps("billing").Get(ctx, RootCertConfigMap, metav1.GetOptions{})
	edited.Data[RootCertKey] = "tampered"
	if _, err := client.CoreV1().ConfigMaps("billing").Update(ctx, edited, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyCA(t, "an edited ConfigMap repaired", bundleIn("billing"))

	// A rotation's next root reaches every namespace.
	clock.Advance(81 * time.Hour)
	r.sync(ctx, true)
	if len(a.Material().Roots) != 2 {
		t.Fatal("no next root")
	}
	for _, ns := range []string{"shop", "istio-system", "billing"} {
		eventuallyCA(t, "the new bundle published in "+ns, bundleIn(ns))
	}
	families, _ := reg.Gather()
	var created, updated float64
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch m.GetLabel()[0].GetValue() {
			case "created":
				created += m.GetCounter().GetValue()
			case "updated":
				updated += m.GetCounter().GetValue()
			}
		}
	}
	// Created: shop twice, istio-system, billing. Updated: billing's
	// repair and the next root in three namespaces (more if a write
	// raced its own echo in the cache).
	if created != 4 || updated < 4 {
		t.Errorf("writes counted: %v created, %v updated; want 4 and at least 4", created, updated)
	}
}

// TestPublisherSelectsNamespaces: with discoverySelectors, only the
// namespaces they select get the bundle, and one that is relabelled into
// the mesh gets it then.
func TestPublisherSelectsNamespaces(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var running sync.WaitGroup
	defer running.Wait()
	defer cancel()
	in := namespace("shop")
	in.Labels = map[string]string{"mesh": "on"}
	client := fake.NewClientset(in, namespace("legacy"))
	r := newTestRoots(t, NewMemoryStore(), newTestClock(), Alone{}, nil)
	r.sync(ctx, true)
	a, _ := r.Authority(ctx)
	p, err := NewPublisher(PublisherOptions{Client: client, Authority: a, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	p.SelectNamespaces(func(l map[string]string) bool { return l["mesh"] == "on" })
	running.Go(func() { p.Run(ctx) })
	published := func(ns string) func() error {
		return func() error {
			_, err := client.CoreV1().ConfigMaps(ns).Get(ctx, RootCertConfigMap, metav1.GetOptions{})
			return err
		}
	}
	eventuallyCA(t, "the bundle in the selected namespace", published("shop"))
	if published("legacy")() == nil {
		t.Fatal("the bundle was published in a namespace the selectors leave out")
	}
	legacy, _ := client.CoreV1().Namespaces().Get(ctx, "legacy", metav1.GetOptions{})
	legacy.Labels = map[string]string{"mesh": "on"}
	if _, err := client.CoreV1().Namespaces().Update(ctx, legacy, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyCA(t, "the bundle in a namespace relabelled into the mesh", published("legacy"))
}

func TestSameBundle(t *testing.T) {
	r1, _ := NewSelfSignedRoot(RootOptions{TrustDomain: testTD})
	r2, _ := NewSelfSignedRoot(RootOptions{TrustDomain: testTD})
	a, b := string(r1.CACert), string(r2.CACert)
	for _, tc := range []struct {
		name string
		x, y string
		want bool
	}{
		{"identical", a + b, a + b, true},
		{"other order", a + b, b + a, true},
		{"other formatting", a, "\n" + strings.ReplaceAll(a, "\n", "\r\n") + "\n\n", true},
		{"a root missing", a + b, a, false},
		{"another root", a, b, false},
		{"not PEM", a, "tampered", false},
	} {
		if got := sameBundle(tc.x, tc.y); got != tc.want {
			t.Errorf("%s: sameBundle = %v, want %v", tc.name, got, tc.want)
		}
	}
}
