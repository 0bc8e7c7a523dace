package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	certutil "k8s.io/client-go/util/cert"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Defaults of root rotation.
const (
	// DefaultRotationGrace is the part of a self-signed root's life that
	// is left when the next root is made, istiod's 20 %.
	DefaultRotationGrace = 0.2
	// DefaultResync is how often the stored material is read even when
	// the store reports no change (a directory reports none).
	DefaultResync = time.Minute
	// retryAfterError bounds the wait after a failed read or write.
	retryAfterError = 5 * time.Second
)

// RootsOptions configure Roots.
type RootsOptions struct {
	// Store keeps the material; several replicas may share it.
	Store Store
	// Leadership says whether this replica creates and rotates roots;
	// nil is Alone.
	Leadership Leadership
	// Root shapes the self-signed roots created (trust domain, key
	// type, validity); its clock is the clock of everything here.
	Root RootOptions
	// Authority configures the Authority that signs with the material.
	// Its clock is Root's.
	Authority Options
	// RotationGrace is the part of a self-signed root's life left when
	// the next root is made; 0 is DefaultRotationGrace.
	RotationGrace float64
	// ActivationDelay is how long the next root is in the trust bundle
	// before it signs; 0 is the Authority's maximum workload TTL, after
	// which every workload certificate issued before the next root
	// existed has expired, so every workload has fetched a certificate,
	// and with it the bundle, since.
	ActivationDelay time.Duration
	// Resync bounds the time between two reads of the store; 0 is
	// DefaultResync.
	Resync time.Duration
	// Logger; nil logs nothing.
	Logger *zap.Logger
	// Registerer takes the rotation metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Roots keeps the CA's material current in every replica: it loads it
// from the Store and follows its changes, and in the leader it creates
// the self-signed root when there is none and rotates it. A rotation
// goes in three steps, each written by the leader and each also derived
// by every replica from the stored certificates' times, so that all sign
// alike even between writes:
//
//  1. A next root is made when the current one has RotationGrace of its
//     life left, and is added to the trust bundle at once; its validity
//     (hence its activation) begins ActivationDelay later.
//  2. From its activation, it signs; the root before it stays in the
//     bundle as a previous root.
//  3. A previous root leaves the bundle once every certificate it signed
//     has expired: the maximum workload TTL after it stopped signing (or
//     when it expires itself, if that is sooner).
//
// An operator's intermediate (cacerts) is never rotated: it is reloaded
// when the operator changes it.
type Roots struct {
	opts      RootsOptions
	now       func() time.Time
	log       *zap.Logger
	rotations prometheus.Counter

	authority *Authority
	ready     chan struct{}
	// noRotation is set once the store refused an update, so that it
	// is reported once.
	noRotation bool
}

// NewRoots checks o and returns Roots; Run does the work.
func NewRoots(o RootsOptions) (*Roots, error) {
	if o.Store == nil {
		return nil, errors.New("roots need a store")
	}
	if o.Leadership == nil {
		o.Leadership = Alone{}
	}
	if o.RotationGrace == 0 {
		o.RotationGrace = DefaultRotationGrace
	}
	if o.RotationGrace <= 0 || o.RotationGrace >= 1 {
		return nil, fmt.Errorf("the root rotation grace (%v) must be a fraction of the root's life, between 0 and 1", o.RotationGrace)
	}
	if o.Resync == 0 {
		o.Resync = DefaultResync
	}
	o.Authority.Now = o.Root.Now
	if err := o.Authority.complete(); err != nil {
		return nil, err
	}
	if o.ActivationDelay == 0 {
		o.ActivationDelay = o.Authority.MaxTTL
	}
	if o.Root.TTL == 0 {
		o.Root.TTL = DefaultRootTTL
	}
	if grace := time.Duration(o.RotationGrace * float64(o.Root.TTL)); grace <= o.ActivationDelay {
		return nil, fmt.Errorf("a root would expire before the next one signs: the rotation grace (%s of a %s root) must be longer than the activation delay (%s)",
			grace, o.Root.TTL, o.ActivationDelay)
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	r := &Roots{
		opts:  o,
		now:   nowFunc(o.Root.Now),
		log:   log,
		ready: make(chan struct{}),
		rotations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pilotlight_ca_root_rotations_total",
			Help: "Next roots this replica created ahead of a rotation of the CA's self-signed root.",
		}),
	}
	leader := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pilotlight_ca_leader",
		Help: "1 while this replica leads the CA's singletons (root creation and rotation, trust bundle publishing), else 0.",
	}, func() float64 {
		if leading, _ := o.Leadership.Leading(); leading {
			return 1
		}
		return 0
	})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{r.rotations, leader} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("CA root metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Authority waits until the material is first loaded (or created) and
// returns the Authority that signs with it; Run keeps it current.
func (r *Roots) Authority(ctx context.Context) (*Authority, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-r.ready:
		return r.authority, nil
	}
}

// Run keeps the material current until ctx ends.
func (r *Roots) Run(ctx context.Context) {
	changes := r.opts.Store.Watch(ctx)
	for {
		leading, leadership := r.opts.Leadership.Leading()
		wait := r.sync(ctx, leading)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-changes:
		case <-leadership:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// sync reads the store, writes what the leader must write, hands the
// material to the Authority, and returns how long to wait before the
// next sync at the latest.
func (r *Roots) sync(ctx context.Context, leading bool) time.Duration {
	store := r.opts.Store
	p, err := store.Load(ctx)
	if errors.Is(err, ErrNoMaterial) {
		if !leading {
			r.log.Info("waiting for the CA's leader to create the root", zap.String("store", store.String()))
			return r.opts.Resync
		}
		p, err = r.create(ctx)
	}
	if err != nil {
		r.log.Error("reading the CA's material failed; the current material stays", zap.String("store", store.String()), zap.Error(err))
		return retryAfterError
	}
	now := r.now()
	wake := now.Add(r.opts.Resync)
	if leading && !r.noRotation && len(bytes.TrimSpace(p.RootCert)) == 0 {
		planned, changed, at, err := r.plan(p, now)
		switch {
		case err != nil:
			r.log.Error("planning the CA root's rotation failed", zap.String("store", store.String()), zap.Error(err))
		case changed:
			if p, err = store.Update(ctx, planned); err != nil {
				return r.updateFailed(err)
			}
		}
		if !at.IsZero() && at.Before(wake) {
			wake = at
		}
	}
	m, err := ParseMaterial(p, now)
	if err != nil {
		r.log.Error("the stored CA material cannot sign; the current material stays", zap.Error(err))
		return retryAfterError
	}
	r.publish(m)
	if !m.changesAt.IsZero() && m.changesAt.Before(wake) {
		wake = m.changesAt
	}
	return max(wake.Sub(r.now()), 0)
}

// create makes the first self-signed root and stores it unless another
// replica was first.
func (r *Roots) create(ctx context.Context) (KeyCertPEM, error) {
	fresh, err := NewSelfSignedRoot(r.opts.Root)
	if err != nil {
		return KeyCertPEM{}, err
	}
	p, err := r.opts.Store.CreateIfAbsent(ctx, fresh)
	if err != nil {
		return KeyCertPEM{}, fmt.Errorf("storing a new root in %s: %w", r.opts.Store, err)
	}
	if bytes.Equal(p.CAKey, fresh.CAKey) {
		r.log.Info("created a new CA root", zap.String("store", r.opts.Store.String()), zap.String("key_type", string(r.opts.Root.KeyType)))
	}
	return p, nil
}

// updateFailed reports a refused write and says when to sync again: at
// once after a conflict (the store changed: read it again), never again
// for a store that cannot rotate.
func (r *Roots) updateFailed(err error) time.Duration {
	switch {
	case errors.Is(err, ErrConflict):
		r.log.Info("the CA's material changed while the leader was writing it; reading it again")
		return 0
	case errors.Is(err, errors.ErrUnsupported):
		r.noRotation = true
		r.log.Warn("the CA's root cannot be rotated where it is kept; replace it before it expires", zap.Error(err))
		return 0
	}
	r.log.Error("writing the CA's material failed", zap.Error(err))
	return retryAfterError
}

// plan returns what the leader should store at time now in place of p
// (a self-signed CA's material), whether that differs from p, and the
// next time the plan will change.
func (r *Roots) plan(p KeyCertPEM, now time.Time) (KeyCertPEM, bool, time.Time, error) {
	active, err := firstCert(p.CACert, fileCACert)
	if err != nil {
		return p, false, time.Time{}, err
	}
	var next *x509.Certificate
	if len(p.NextCACert) > 0 {
		if next, err = firstCert(p.NextCACert, fileNextCACert); err != nil {
			return p, false, time.Time{}, err
		}
	}
	var previous []*x509.Certificate
	if len(bytes.TrimSpace(p.PreviousRoots)) > 0 {
		if previous, err = certutil.ParseCertsPEM(p.PreviousRoots); err != nil {
			return p, false, time.Time{}, fmt.Errorf("%s: %w", filePreviousRoots, err)
		}
	}
	q := p
	changed := false
	var wake time.Time
	later := func(t time.Time) {
		if wake.IsZero() || t.Before(wake) {
			wake = t
		}
	}
	// Step 2: the next root signs from its activation.
	if next != nil {
		if now.Before(Activation(next)) {
			later(Activation(next))
		} else {
			previous = append(previous, active)
			q.CACert, q.CAKey, q.NextCACert, q.NextCAKey = p.NextCACert, p.NextCAKey, nil, nil
			active, next, changed = next, nil, true
			r.log.Info("the CA's next root signs from now on", zap.String("serial", fmtSerial(active)), zap.Time("expires", active.NotAfter))
		}
	}
	// Step 3: a previous root leaves once what it signed has expired.
	// Previous roots are kept oldest first, each followed by the one
	// that took over from it.
	var kept []*x509.Certificate
	for i, old := range previous {
		successor := active
		if i+1 < len(previous) {
			successor = previous[i+1]
		}
		retire := Activation(successor).Add(r.opts.Authority.MaxTTL)
		if old.NotAfter.Before(retire) {
			retire = old.NotAfter
		}
		if now.Before(retire) {
			kept = append(kept, old)
			later(retire)
		} else {
			changed = true
			r.log.Info("a previous CA root left the trust bundle: every certificate it signed has expired", zap.String("serial", fmtSerial(old)))
		}
	}
	q.PreviousRoots = nil
	for _, c := range kept {
		q.PreviousRoots = append(q.PreviousRoots, encodeCertPEM(c)...)
	}
	// Step 1: the next root is made with RotationGrace of the active
	// one's life left.
	if next == nil {
		life := active.NotAfter.Sub(active.NotBefore)
		rotateAt := active.NotAfter.Add(-time.Duration(r.opts.RotationGrace * float64(life)))
		if now.Before(rotateAt) {
			later(rotateAt)
		} else {
			o := r.opts.Root
			o.ActivateAt = now.Add(r.opts.ActivationDelay)
			fresh, err := NewSelfSignedRoot(o)
			if err != nil {
				return p, false, time.Time{}, err
			}
			q.NextCACert, q.NextCAKey, changed = fresh.CACert, fresh.CAKey, true
			later(o.ActivateAt)
			r.rotations.Inc()
			r.log.Info("created the CA's next root; it is in the trust bundle now and signs from its activation",
				zap.Time("activation", o.ActivateAt), zap.Time("current_root_expires", active.NotAfter))
		}
	}
	return q, changed, wake, nil
}

// publish hands m to the Authority, creating it on the first call.
func (r *Roots) publish(m *Material) {
	if r.authority == nil {
		// The options were checked by NewRoots: New cannot fail.
		r.authority, _ = New(m, r.opts.Authority)
		close(r.ready)
		return
	}
	if r.authority.setMaterial(m) {
		r.log.Info("the CA's material changed",
			zap.String("source", m.Source),
			zap.String("signer_serial", fmtSerial(m.Cert)),
			zap.Int("bundle_roots", len(m.Roots)))
	}
}

// firstCert parses the first certificate of a PEM file.
func firstCert(pemBytes []byte, file string) (*x509.Certificate, error) {
	certs, err := certutil.ParseCertsPEM(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return certs[0], nil
}
