package ca

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Leadership tells whether this replica runs the CA's singletons: the
// creation and rotation of the root, and the publishing of the trust
// bundle. Every replica signs; only the leader writes.
type Leadership interface {
	// Leading returns whether this replica leads now and a channel that
	// is closed when that changes (nil if it never does).
	Leading() (bool, <-chan struct{})
}

// Alone is the leadership of a replica that has no peers, such as one
// serving a directory (--config-dir): it always leads.
type Alone struct{}

// Leading implements Leadership.
func (Alone) Leading() (bool, <-chan struct{}) { return true, nil }

// DefaultLeaseName is the Lease that elects the CA's leader in the
// control plane's namespace.
const DefaultLeaseName = "pilotlight-ca"

// Lease timing, client-go's usual values: a leader that stops renewing
// is replaced within LeaseDuration.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

// Lease is leadership held through a coordination.k8s.io Lease, with
// client-go's leader election. A small Lease lock of our own would have
// to get the same details right (acquiring an expired Lease, renewing
// before a deadline, giving up leadership when renewing fails, releasing
// on shutdown) that client-go's has long been used for, so it is used.
// Every write a leader makes is a compare-and-swap besides, so two
// replicas that both believe they lead for a moment (a paused process)
// cannot lose each other's changes.
type Lease struct {
	elector *leaderelection.LeaderElector
	log     *zap.Logger

	mu      sync.Mutex
	leading bool
	changed chan struct{}
}

// NewLease returns a Lease named name in namespace; Run takes part in
// the election.
func NewLease(client kubernetes.Interface, namespace, name string, log *zap.Logger) (*Lease, error) {
	if log == nil {
		log = zap.NewNop()
	}
	id, err := leaseIdentity()
	if err != nil {
		return nil, err
	}
	l := &Lease{log: log.With(zap.String("lease", namespace+"/"+name), zap.String("identity", id)), changed: make(chan struct{})}
	l.elector, err = leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: namespace, Name: name},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		},
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: true,
		Name:            name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { l.set(true) },
			OnStoppedLeading: func() { l.set(false) },
		},
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// leaseIdentity names this replica in the Lease: the host (the Pod's
// name in a cluster) and a random suffix, so that two processes on one
// host are told apart.
func leaseIdentity() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", err
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", err
	}
	return host + "_" + hex.EncodeToString(suffix), nil
}

// Run takes part in the election until ctx ends, and then releases the
// Lease if it holds it.
func (l *Lease) Run(ctx context.Context) {
	// The elector returns when leadership is lost; it then campaigns
	// again.
	for ctx.Err() == nil {
		l.elector.Run(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(retryPeriod):
		}
	}
}

// Leading implements Leadership.
func (l *Lease) Leading() (bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leading, l.changed
}

func (l *Lease) set(leading bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.leading == leading {
		return
	}
	l.leading = leading
	close(l.changed)
	l.changed = make(chan struct{})
	if leading {
		l.log.Info("leading the CA's singletons (root creation and rotation, trust bundle publishing)")
	} else {
		l.log.Info("no longer leading the CA's singletons")
	}
}
