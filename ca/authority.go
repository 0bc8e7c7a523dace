package ca

import (
	"errors"
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

// Authority signs certificates with the current signing material. It is
// safe for concurrent use.
type Authority struct {
	opts     Options
	now      func() time.Time
	material atomic.Pointer[Material]
}

// New returns an Authority that signs with m.
func New(m *Material, o Options) (*Authority, error) {
	if m == nil {
		return nil, errors.New("an Authority needs signing material")
	}
	if o.TrustDomain.IsZero() {
		return nil, errors.New("an Authority needs a trust domain")
	}
	if o.DefaultTTL == 0 {
		o.DefaultTTL = DefaultWorkloadTTL
	}
	if o.MaxTTL == 0 {
		o.MaxTTL = DefaultMaxWorkloadTTL
	}
	if o.DefaultTTL < 0 || o.DefaultTTL > o.MaxTTL {
		return nil, errors.New("the default workload TTL must be positive and not above the maximum")
	}
	a := &Authority{opts: o, now: nowFunc(o.Now)}
	a.material.Store(m)
	return a, nil
}

// Material returns the signing material in use.
func (a *Authority) Material() *Material { return a.material.Load() }

// TrustDomain returns the trust domain of the ids the CA issues.
func (a *Authority) TrustDomain() spiffeid.TrustDomain { return a.opts.TrustDomain }
