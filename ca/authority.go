package ca

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Defaults of workload certificate lifetimes, istiod's.
const (
	// DefaultWorkloadTTL is the validity of a workload certificate whose
	// request names none.
	DefaultWorkloadTTL = 24 * time.Hour
	// DefaultMaxWorkloadTTL is the longest validity a request may ask for.
	DefaultMaxWorkloadTTL = 90 * 24 * time.Hour
)

// Options configure an Authority.
type Options struct {
	// TrustDomain is the trust domain of every id the CA issues.
	TrustDomain spiffeid.TrustDomain
	// DefaultTTL is used when a request names no validity; 0 is
	// DefaultWorkloadTTL.
	DefaultTTL time.Duration
	// MaxTTL bounds requested validities; a request above it is refused.
	// 0 is DefaultMaxWorkloadTTL.
	MaxTTL time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Authority signs certificates with the current signing material, and is
// the one place that everything using the trust bundle reads it from
// (answers to CreateCertificate, the serving certificate, client
// certificate authentication, what xDS serves as ROOTCA, the ConfigMap
// istio-ca-root-cert): Watch tells them when it changes. It is safe for
// concurrent use.
type Authority struct {
	opts    Options
	now     func() time.Time
	current atomic.Pointer[generation]
	// setMu serializes replacements.
	setMu sync.Mutex
}

// generation is material in use and the channel closed when it is
// replaced.
type generation struct {
	material *Material
	replaced chan struct{}
}

// New returns an Authority that signs with m.
func New(m *Material, o Options) (*Authority, error) {
	if m == nil {
		return nil, errors.New("an Authority needs signing material")
	}
	if err := o.complete(); err != nil {
		return nil, err
	}
	a := &Authority{opts: o, now: nowFunc(o.Now)}
	a.current.Store(&generation{material: m, replaced: make(chan struct{})})
	return a, nil
}

// complete fills in defaults and checks the options.
func (o *Options) complete() error {
	if o.TrustDomain.IsZero() {
		return errors.New("an Authority needs a trust domain")
	}
	if o.DefaultTTL == 0 {
		o.DefaultTTL = DefaultWorkloadTTL
	}
	if o.MaxTTL == 0 {
		o.MaxTTL = DefaultMaxWorkloadTTL
	}
	if o.DefaultTTL < 0 || o.DefaultTTL > o.MaxTTL {
		return errors.New("the default workload TTL must be positive and not above the maximum")
	}
	return nil
}

// Material returns the signing material in use.
func (a *Authority) Material() *Material { return a.current.Load().material }

// Watch returns the signing material in use and a channel that is
// closed once it has been replaced; the caller then calls Watch again.
// Reading both at once means no change can slip between them.
func (a *Authority) Watch() (*Material, <-chan struct{}) {
	g := a.current.Load()
	return g.material, g.replaced
}

// MaxTTL is the longest validity of a certificate the Authority issues.
func (a *Authority) MaxTTL() time.Duration { return a.opts.MaxTTL }

// setMaterial replaces the material in use and wakes every watcher.
// Material equal to the current one (same signer, same bundle) replaces
// nothing, so watchers only wake for real changes.
func (a *Authority) setMaterial(m *Material) bool {
	a.setMu.Lock()
	defer a.setMu.Unlock()
	old := a.current.Load()
	if sameMaterial(old.material, m) {
		return false
	}
	a.current.Store(&generation{material: m, replaced: make(chan struct{})})
	close(old.replaced)
	return true
}

// sameMaterial tells whether a and b sign with the same certificate and
// publish the same bundle.
func sameMaterial(a, b *Material) bool {
	return a.Cert.Equal(b.Cert) && bytes.Equal(a.rootsPEM, b.rootsPEM) && slices.Equal(a.chainPEM, b.chainPEM)
}

// TrustDomain returns the trust domain of the ids the CA issues.
func (a *Authority) TrustDomain() spiffeid.TrustDomain { return a.opts.TrustDomain }
