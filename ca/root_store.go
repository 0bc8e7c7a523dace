package ca

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrNoMaterial is what a Store's Load returns when it holds no CA
// material yet.
var ErrNoMaterial = errors.New("no CA material stored")

// Store keeps the CA's signing material. Several replicas of pilotlight
// may share one Store; CreateIfAbsent is what lets them agree on one root.
type Store interface {
	// Load returns the stored material, or ErrNoMaterial.
	Load(ctx context.Context) (KeyCertPEM, error)
	// CreateIfAbsent stores p unless material is already there, and
	// returns what is stored once it returns: p, or the material that
	// was there first. It never replaces existing material.
	CreateIfAbsent(ctx context.Context, p KeyCertPEM) (KeyCertPEM, error)
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
	mu sync.Mutex
	p  *KeyCertPEM
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
		p.Source = s.String()
		s.p = &p
	}
	return *s.p, nil
}

func (s *MemoryStore) String() string { return "memory" }

// nowFunc returns f, or time.Now when f is nil.
func nowFunc(f func() time.Time) func() time.Time {
	if f == nil {
		return time.Now
	}
	return f
}
