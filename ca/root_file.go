package ca

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The file names of CA material, those of istiod's /etc/cacerts and of
// the keys of its Secrets.
const (
	fileCACert    = "ca-cert.pem"
	fileCAKey     = "ca-key.pem"
	fileCertChain = "cert-chain.pem"
	fileRootCert  = "root-cert.pem"
)

// The files (and Secret keys) of a self-signed CA's rotation, which only
// pilotlight writes; istiod ignores them.
const (
	fileNextCACert    = "next-ca-cert.pem"
	fileNextCAKey     = "next-ca-key.pem"
	filePreviousRoots = "previous-roots.pem"
)

// FileStore keeps material in a directory, for 'serve --config-dir'. An
// operator may plug an intermediate in by putting istiod's four cacerts
// files there (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem);
// otherwise the CA writes a self-signed root as ca-cert.pem and
// ca-key.pem. The directory is created private (0700) and the key file
// is readable by its owner only (0600).
type FileStore struct {
	dir string
	// settle is how long Load waits for a concurrent writer that has
	// written the key but not yet the certificate.
	settle time.Duration
}

// NewFileStore returns a store in dir; the directory is created when
// material is first stored.
func NewFileStore(dir string) *FileStore { return &FileStore{dir: dir, settle: 2 * time.Second} }

func (s *FileStore) String() string { return "directory " + s.dir }

// Load implements Store. ca-cert.pem is written last, so its presence is
// what says the material is complete.
func (s *FileStore) Load(ctx context.Context) (KeyCertPEM, error) {
	deadline := time.Now().Add(s.settle)
	for {
		p, err := s.load()
		if !errors.Is(err, errHalfWritten) || time.Now().After(deadline) {
			return p, err
		}
		select {
		case <-ctx.Done():
			return KeyCertPEM{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var errHalfWritten = errors.New("has ca-key.pem but no ca-cert.pem; remove the key or add its certificate")

func (s *FileStore) load() (KeyCertPEM, error) {
	cert, err := os.ReadFile(filepath.Join(s.dir, fileCACert))
	if errors.Is(err, fs.ErrNotExist) {
		if _, kerr := os.Stat(filepath.Join(s.dir, fileCAKey)); kerr == nil {
			return KeyCertPEM{}, fmt.Errorf("%s %w", s, errHalfWritten)
		}
		return KeyCertPEM{}, ErrNoMaterial
	}
	if err != nil {
		return KeyCertPEM{}, err
	}
	p := KeyCertPEM{CACert: cert, Source: s.String()}
	if p.CAKey, err = os.ReadFile(filepath.Join(s.dir, fileCAKey)); err != nil {
		return KeyCertPEM{}, err
	}
	for name, dst := range map[string]*[]byte{fileCertChain: &p.CertChain, fileRootCert: &p.RootCert} {
		b, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return KeyCertPEM{}, err
		}
		*dst = b
	}
	return p, nil
}

// CreateIfAbsent implements Store. Each file is written under a temporary
// name and then hard-linked into place, which fails if the name exists:
// of two processes creating a root at once, the one whose key lands first
// wins and the other reads the winner's material.
func (s *FileStore) CreateIfAbsent(ctx context.Context, p KeyCertPEM) (KeyCertPEM, error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return KeyCertPEM{}, err
	}
	if err := s.link(fileCAKey, p.CAKey, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return s.Load(ctx)
		}
		return KeyCertPEM{}, err
	}
	if err := s.link(fileCACert, p.CACert, 0o644); err != nil {
		return KeyCertPEM{}, err
	}
	p.Source = s.String()
	return p, nil
}

// Update implements Store: a directory is not rotated, as replacing
// several files cannot be made atomic. A root created there lives ten
// years by default; an operator replaces it (with the process stopped).
func (s *FileStore) Update(context.Context, KeyCertPEM) (KeyCertPEM, error) {
	return KeyCertPEM{}, fmt.Errorf("%s: rotating a root kept in a directory: %w", s, errors.ErrUnsupported)
}

// Watch implements Store: a directory is not watched; only this process
// writes it.
func (s *FileStore) Watch(context.Context) <-chan struct{} { return nil }

// link writes data to a temporary file in the directory and links it as
// name, failing with fs.ErrExist if name exists.
func (s *FileStore) link(name string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(s.dir, "."+name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), filepath.Join(s.dir, name))
}
