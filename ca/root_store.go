package ca

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Errors of a Store.
var (
	// ErrNoMaterial is what Load returns when the store holds no CA
	// material yet.
	ErrNoMaterial = errors.New("no CA material stored")
	// ErrConflict is what Update returns when the stored material changed
	// since it was loaded.
	ErrConflict = errors.New("the stored CA material changed since it was loaded")
)

// Store keeps the CA's signing material. Several replicas of pilotlight
// may share one Store; CreateIfAbsent is what lets them agree on one
// root, and Update (guarded by a Lease, see Roots) is how it is rotated.
type Store interface {
	// Load returns the stored material, or ErrNoMaterial.
	Load(ctx context.Context) (KeyCertPEM, error)
	// CreateIfAbsent stores p unless material is already there, and
	// returns what is stored once it returns: p, or the material that
	// was there first. It never replaces existing material.
	CreateIfAbsent(ctx context.Context, p KeyCertPEM) (KeyCertPEM, error)
	// Update replaces a self-signed CA's material with p, p being what
	// Load returned with its fields changed, and returns what is stored.
	// It fails with ErrConflict if the material changed since that Load,
	// and with errors.ErrUnsupported if the store cannot replace material.
	Update(ctx context.Context, p KeyCertPEM) (KeyCertPEM, error)
	// Watch returns a channel that receives a value (coalesced) whenever
	// the stored material may have changed, until ctx ends; nil if the
	// store cannot tell, and must be read again from time to time.
	Watch(ctx context.Context) <-chan struct{}
	// String names the store for logs.
	String() string
}

// LoadOrCreate returns the store's material, creating a self-signed root
// from o when the store holds none. When several processes race, every
// one of them ends up with the material that was stored first.
func LoadOrCreate(ctx context.Context, s Store, o RootOptions) (*Material, bool, error) {
	now := nowFunc(o.Now)
	p, err := s.Load(ctx)
	created := false
	if errors.Is(err, ErrNoMaterial) {
		var fresh KeyCertPEM
		if fresh, err = NewSelfSignedRoot(o); err != nil {
			return nil, false, err
		}
		if p, err = s.CreateIfAbsent(ctx, fresh); err != nil {
			return nil, false, fmt.Errorf("storing a new root in %s: %w", s, err)
		}
		created = string(p.CAKey) == string(fresh.CAKey)
	}
	if err != nil {
		return nil, false, fmt.Errorf("loading the CA from %s: %w", s, err)
	}
	m, err := ParseMaterial(p, now())
	if err != nil {
		return nil, false, err
	}
	return m, created, nil
}

// MemoryStore keeps material in memory, for tests and for runs that need
// no persistence.
type MemoryStore struct {
	mu       sync.Mutex
	p        *KeyCertPEM
	version  int
	watchers []chan struct{}
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Load implements Store.
func (s *MemoryStore) Load(context.Context) (KeyCertPEM, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return KeyCertPEM{}, ErrNoMaterial
	}
	return *s.p, nil
}

// CreateIfAbsent implements Store.
func (s *MemoryStore) CreateIfAbsent(_ context.Context, p KeyCertPEM) (KeyCertPEM, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		s.storeLocked(p)
	}
	return *s.p, nil
}

// Update implements Store.
func (s *MemoryStore) Update(_ context.Context, p KeyCertPEM) (KeyCertPEM, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil || p.version != s.p.version {
		return KeyCertPEM{}, ErrConflict
	}
	s.storeLocked(p)
	return *s.p, nil
}

func (s *MemoryStore) storeLocked(p KeyCertPEM) {
	s.version++
	p.Source, p.version = s.String(), strconv.Itoa(s.version)
	s.p = &p
	for _, w := range s.watchers {
		notify(w)
	}
}

// Watch implements Store.
func (s *MemoryStore) Watch(ctx context.Context) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := make(chan struct{}, 1)
	s.watchers = append(s.watchers, w)
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.watchers = slices.DeleteFunc(s.watchers, func(c chan struct{}) bool { return c == w })
	}()
	return w
}

// notify sends on a channel of capacity one unless a value is already
// waiting there: signals coalesce.
func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (s *MemoryStore) String() string { return "memory" }

// nowFunc returns f, or time.Now when f is nil.
func nowFunc(f func() time.Time) func() time.Time {
	if f == nil {
		return time.Now
	}
	return f
}
