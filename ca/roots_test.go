package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// rotationTimes are short lifetimes that make a rotation's steps easy to
// step through: a 100 h root rotated with 20 h left, certificates of at
// most 2 h, so the next root signs 2 h after it is made and the old one
// leaves the bundle 2 h after that.
const (
	testRootTTL = 100 * time.Hour
	testMaxTTL  = 2 * time.Hour
)

func newTestRoots(t *testing.T, store Store, clock *testClock, lead Leadership, reg prometheus.Registerer) *Roots {
	t.Helper()
	r, err := NewRoots(RootsOptions{
		Store:      store,
		Leadership: lead,
		Root:       RootOptions{TrustDomain: testTD, TTL: testRootTTL, Now: clock.Now},
		Authority:  Options{TrustDomain: testTD, DefaultTTL: time.Hour, MaxTTL: testMaxTTL},
		Logger:     zaptest.NewLogger(t),
		Registerer: reg,
		// Syncs are stepped by the tests; the waits they return are
		// checked against the rotation's times.
		Resync: 1000 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// follower is the leadership of a replica that never leads.
type follower struct{}

func (follower) Leading() (bool, <-chan struct{}) { return false, nil }

// signLeaf issues a workload certificate with a's material.
func signLeaf(t *testing.T, a *Authority) *x509.Certificate {
	t.Helper()
	csr, id, err := ParseCSR(csrFor(t, newKey(t, "ecdsa"), spiffeOf("shop", "reviews")))
	if err != nil {
		t.Fatal(err)
	}
	issued, err := a.SignWorkload(csr, id, testMaxTTL)
	if err != nil {
		t.Fatal(err)
	}
	return issued.Cert
}

// trusts tells whether the Authority's current bundle verifies leaf at
// time now.
func trusts(a *Authority, leaf *x509.Certificate, now time.Time) bool {
	_, err := leaf.Verify(x509.VerifyOptions{Roots: a.Material().RootPool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}

func serials(certs []*x509.Certificate) []string {
	var out []string
	for _, c := range certs {
		out = append(out, fmtSerial(c))
	}
	return out
}

// TestRootsRotation steps a self-signed root through a whole rotation
// with an injected clock, checking at each step what signs, what the
// bundle holds, what is stored, and that watchers are told.
func TestRootsRotation(t *testing.T) {
	ctx := t.Context()
	clock := newTestClock()
	store := NewMemoryStore()
	reg := prometheus.NewRegistry()
	r := newTestRoots(t, store, clock, Alone{}, reg)

	// The first sync creates the root and waits until its rotation.
	// Certificate times are whole seconds, hence the tolerance.
	if wait := r.sync(ctx, true); (wait - (testRootTTL*8/10 - clockSkew/5)).Abs() > 2*time.Second {
		t.Errorf("after creation, next sync in %s, want at the rotation 80 h on", wait)
	}
	a, err := r.Authority(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := a.Material().Cert
	serving, err := NewServingCertificate(a, ServingOptions{TTL: 1000 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Material().Roots) != 1 {
		t.Fatalf("bundle has %d roots, want 1", len(a.Material().Roots))
	}
	_, changed := a.Watch()

	// With 20 % of its life left, a next root is made and joins the
	// bundle, but the first root still signs.
	clock.Advance(81 * time.Hour)
	if wait := r.sync(ctx, true); wait > testMaxTTL || wait < testMaxTTL-time.Minute {
		t.Errorf("after the next root was made, next sync in %s, want at its activation (%s)", wait, testMaxTTL)
	}
	select {
	case <-changed:
	default:
		t.Error("watchers were not told the bundle changed")
	}
	m, changed := a.Watch()
	if !m.Cert.Equal(first) || len(m.Roots) != 2 || !m.Roots[0].Equal(first) {
		t.Fatalf("after the next root was made: signer %s, bundle %v; want the first root signing and two roots", fmtSerial(m.Cert), serials(m.Roots))
	}
	next := m.Roots[1]
	if got := gatheredValue(t, reg, "pilotlight_ca_root_rotations_total"); got != 1 {
		t.Errorf("rotations = %v, want 1", got)
	}
	clock.Advance(time.Hour)
	r.sync(ctx, true)
	oldLeaf := signLeaf(t, a)
	stored, _ := store.Load(ctx)
	if len(stored.NextCACert) == 0 || len(stored.PreviousRoots) != 0 {
		t.Errorf("stored: next root %d bytes, previous roots %d bytes; want a next root only", len(stored.NextCACert), len(stored.PreviousRoots))
	}

	// From its activation, the next root signs; the first stays
	// trusted, so what it signed still verifies.
	clock.Advance(testMaxTTL - time.Hour)
	wait := r.sync(ctx, true)
	if wait > testMaxTTL || wait < testMaxTTL-time.Minute {
		t.Errorf("after the activation, next sync in %s, want when the first root's certificates have expired (%s)", wait, testMaxTTL)
	}
	<-changed
	m, changed = a.Watch()
	if !m.Cert.Equal(next) || len(m.Roots) != 2 || !m.Roots[0].Equal(next) || !m.Roots[1].Equal(first) {
		t.Fatalf("after the activation: signer %s, bundle %v; want the next root signing, then the first", fmtSerial(m.Cert), serials(m.Roots))
	}
	newLeaf := signLeaf(t, a)
	if err := newLeaf.CheckSignatureFrom(next); err != nil {
		t.Errorf("a certificate issued after the activation is not signed by the next root: %v", err)
	}
	if c, _ := serving.GetCertificate(nil); c.Leaf.CheckSignatureFrom(next) != nil {
		t.Error("the serving certificate was not reissued by the next root")
	}
	if !trusts(a, oldLeaf, clock.Now()) || !trusts(a, newLeaf, clock.Now()) {
		t.Error("the bundle does not trust both certificates during the overlap")
	}
	stored, _ = store.Load(ctx)
	if string(stored.CACert) != string(encodeCertPEM(next)) || len(stored.NextCACert) != 0 || string(stored.PreviousRoots) != string(encodeCertPEM(first)) {
		t.Error("the leader did not store the promotion: ca-cert.pem the next root, previous-roots.pem the first")
	}

	// Once everything the first root signed has expired, it leaves.
	clock.Advance(testMaxTTL)
	r.sync(ctx, true)
	<-changed
	m, _ = a.Watch()
	if len(m.Roots) != 1 || !m.Roots[0].Equal(next) {
		t.Fatalf("after the overlap: bundle %v, want the next root alone", serials(m.Roots))
	}
	if trusts(a, oldLeaf, oldLeaf.NotAfter.Add(-time.Minute)) {
		t.Error("the first root is still trusted")
	}
	if !trusts(a, newLeaf, newLeaf.NotAfter.Add(-time.Minute)) {
		t.Error("the next root's certificate is not trusted")
	}
	if stored, _ = store.Load(ctx); len(stored.PreviousRoots) != 0 {
		t.Error("the first root was not removed from the store")
	}
}

// TestRootsFollower checks that a replica that does not lead never
// writes, waits for the leader's root, and switches to the next root at
// its activation on its own, before the leader stores the promotion.
func TestRootsFollower(t *testing.T) {
	ctx := t.Context()
	clock := newTestClock()
	store := NewMemoryStore()
	f := newTestRoots(t, store, clock, follower{}, nil)
	f.sync(ctx, false)
	if _, err := store.Load(ctx); !errors.Is(err, ErrNoMaterial) {
		t.Fatalf("a follower stored material: %v", err)
	}
	select {
	case <-f.ready:
		t.Fatal("a follower has an Authority with no material stored")
	default:
	}

	leader := newTestRoots(t, store, clock, Alone{}, nil)
	leader.sync(ctx, true)
	f.sync(ctx, false)
	fa, err := f.Authority(ctx)
	if err != nil {
		t.Fatal(err)
	}
	la, _ := leader.Authority(ctx)
	if !fa.Material().Cert.Equal(la.Material().Cert) {
		t.Fatal("the follower signs with another root than the leader")
	}

	clock.Advance(81 * time.Hour)
	leader.sync(ctx, true)
	f.sync(ctx, false)
	if len(fa.Material().Roots) != 2 {
		t.Fatalf("the follower's bundle has %d roots, want the leader's next root too", len(fa.Material().Roots))
	}
	next := fa.Material().Roots[1]

	// The leader is gone; the follower still activates the next root.
	clock.Advance(testMaxTTL)
	f.sync(ctx, false)
	if !fa.Material().Cert.Equal(next) {
		t.Error("the follower did not sign with the next root from its activation")
	}
	if stored, _ := store.Load(ctx); len(stored.NextCACert) == 0 {
		t.Error("a follower stored the promotion")
	}
}

// TestRootsLeavesPluggedAndDirectoryRootsAlone: an operator's
// intermediate is never rotated, and a root kept in a directory cannot
// be (it is reported once, and the root keeps signing).
func TestRootsLeavesPluggedAndDirectoryRootsAlone(t *testing.T) {
	ctx := t.Context()
	t.Run("plugged", func(t *testing.T) {
		clock := newTestClock()
		store := NewMemoryStore()
		p, _ := pluggedMaterial(t)
		if _, err := store.CreateIfAbsent(ctx, p); err != nil {
			t.Fatal(err)
		}
		r := newTestRoots(t, store, clock, Alone{}, nil)
		clock.Advance(364 * 24 * time.Hour)
		r.sync(ctx, true)
		a, _ := r.Authority(ctx)
		if stored, _ := store.Load(ctx); len(stored.NextCACert) != 0 || len(a.Material().Roots) != 1 || !a.Material().Plugged {
			t.Error("an operator's intermediate was rotated")
		}
	})
	t.Run("directory", func(t *testing.T) {
		clock := newTestClock()
		core, logs := observer.New(zap.WarnLevel)
		r, err := NewRoots(RootsOptions{
			Store:     NewFileStore(filepath.Join(t.TempDir(), "ca")),
			Root:      RootOptions{TrustDomain: testTD, TTL: testRootTTL, Now: clock.Now},
			Authority: Options{TrustDomain: testTD, DefaultTTL: time.Hour, MaxTTL: testMaxTTL},
			Logger:    zap.New(core),
		})
		if err != nil {
			t.Fatal(err)
		}
		r.sync(ctx, true)
		clock.Advance(81 * time.Hour)
		for range 3 {
			r.sync(ctx, true)
		}
		if n := logs.FilterMessageSnippet("cannot be rotated").Len(); n != 1 {
			t.Errorf("%d warnings that the root cannot be rotated, want 1", n)
		}
		a, _ := r.Authority(ctx)
		signLeaf(t, a)
	})
}

func TestNewRootsRefusesARotationThatCannotWork(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    RootsOptions
		want string
	}{
		{"no store", RootsOptions{}, "store"},
		{"grace of 1", RootsOptions{Store: NewMemoryStore(), RotationGrace: 1}, "between 0 and 1"},
		{"activation after expiry", RootsOptions{Store: NewMemoryStore(), Root: RootOptions{TTL: 10 * time.Hour}, ActivationDelay: 3 * time.Hour}, "expire before the next one signs"},
		{"no trust domain", RootsOptions{Store: NewMemoryStore()}, "trust domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.Store != nil && tc.want != "trust domain" {
				tc.o.Authority.TrustDomain = testTD
			}
			if _, err := NewRoots(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestRootsRunFollowsTheStore runs two replicas' loops on one store:
// the follower picks up the leader's root through the store's watch.
func TestRootsRunFollowsTheStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	var running sync.WaitGroup
	defer running.Wait()
	defer cancel()
	clock := newTestClock()
	store := NewMemoryStore()
	f := newTestRoots(t, store, clock, follower{}, nil)
	running.Go(func() { f.Run(ctx) })
	l := newTestRoots(t, store, clock, Alone{}, nil)
	running.Go(func() { l.Run(ctx) })
	fa, err := f.Authority(ctx)
	if err != nil {
		t.Fatalf("the follower never got the leader's root: %v", err)
	}
	la, _ := l.Authority(ctx)
	if !fa.Material().Cert.Equal(la.Material().Cert) {
		t.Error("the replicas sign with different roots")
	}
}

// TestLeaseElectsOneLeader runs two replicas' Leases against one (fake)
// API server: exactly one leads, and when it stops (releasing the
// Lease) the other takes over.
func TestLeaseElectsOneLeader(t *testing.T) {
	client := fake.NewClientset()
	var leases [2]*Lease
	var cancels [2]context.CancelFunc
	done := make(chan struct{}, 2)
	for i := range leases {
		l, err := NewLease(client, "istio-system", DefaultLeaseName, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		leases[i], cancels[i] = l, cancel
		go func() { l.Run(ctx); done <- struct{}{} }()
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		<-done
		<-done
	}()
	leader := waitForLeader(t, leases[:])
	other := 1 - leader
	cancels[leader]()
	waitForLeader(t, leases[other:other+1])
	if got, _ := leases[leader].Leading(); got {
		t.Error("the stopped replica still leads")
	}
}

// waitForLeader waits until exactly one of leases leads, and returns its
// index.
func waitForLeader(t *testing.T, leases []*Lease) int {
	t.Helper()
	deadline := time.Now().Add(3 * leaseDuration)
	for time.Now().Before(deadline) {
		leader, n := -1, 0
		for i, l := range leases {
			if ok, _ := l.Leading(); ok {
				leader, n = i, n+1
			}
		}
		if n > 1 {
			t.Fatalf("%d replicas lead at once", n)
		}
		if n == 1 {
			return leader
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no replica took the Lease")
	return -1
}

// TestSecretStoreUpdate: a rotation rewrites istio-ca-secret in place,
// keeping istiod's keys, and a write based on a stale read is refused.
func TestSecretStoreUpdate(t *testing.T) {
	ctx := t.Context()
	client := fake.NewClientset()
	// The fake API server keeps no resource versions; this one counts
	// writes, as kube-apiserver does.
	var writes atomic.Int64
	client.PrependReactor("*", "secrets", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if w, ok := action.(interface{ GetObject() runtime.Object }); ok && (action.GetVerb() == "create" || action.GetVerb() == "update") {
			w.GetObject().(*corev1.Secret).ResourceVersion = strconv.FormatInt(writes.Add(1), 10)
		}
		return false, nil, nil
	})
	s := NewSecretStore(client, "istio-system")
	changes := s.Watch(ctx)
	fresh, err := NewSelfSignedRoot(RootOptions{TrustDomain: testTD})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateIfAbsent(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not report the new Secret")
	}
	loaded, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next, _ := NewSelfSignedRoot(RootOptions{TrustDomain: testTD})
	p := loaded
	p.NextCACert, p.NextCAKey = next.CACert, next.CAKey
	updated, err := s.Update(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if string(updated.NextCACert) != string(next.CACert) || string(updated.CACert) != string(fresh.CACert) {
		t.Error("the update did not store the next root beside the current one")
	}
	sec, _ := client.CoreV1().Secrets("istio-system").Get(ctx, SelfSignedSecret, metav1.GetOptions{})
	for _, k := range []string{"ca-cert.pem", "ca-key.pem", "cert-chain.pem", "key.pem", "root-cert.pem", "next-ca-cert.pem", "next-ca-key.pem"} {
		if _, ok := sec.Data[k]; !ok {
			t.Errorf("istio-ca-secret lacks %s after the update", k)
		}
	}
	if _, err := s.Update(ctx, loaded); !errors.Is(err, ErrConflict) {
		t.Errorf("an update based on a stale read: %v, want ErrConflict", err)
	}
}
