package model

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
)

// CredentialKey identifies a TLS credential: the Kubernetes Secret it was
// read from.
type CredentialKey struct {
	Namespace string
	Name      string
}

func (k CredentialKey) String() string { return k.Namespace + "/" + k.Name }

// Credential is a TLS credential a gateway may serve with: a server
// certificate chain and its private key, and the CA bundle (with an
// optional revocation list) that client certificates are checked
// against. A Secret may hold either half or both.
//
// The bytes are part of the Snapshot's content hash, so a rotated
// certificate is pushed like any other change, but they must never be
// printed: every way fmt, encoding/json and zap's reflection encoder can
// render a Credential shows sizes instead (a test enforces this).
type Credential struct {
	Namespace string
	Name      string
	// Cert is the PEM certificate chain, PrivateKey its PEM key; both
	// empty when the Secret holds only a CA bundle.
	Cert       []byte
	PrivateKey SecretBytes
	// Staple is an OCSP response to staple to handshakes (tls.ocsp-staple).
	Staple []byte
	// CACert is the PEM bundle client certificates are validated against
	// (MUTUAL servers), CRL an optional PEM revocation list for it.
	CACert []byte
	CRL    []byte
}

// Key returns the credential's identity.
func (c *Credential) Key() CredentialKey {
	return CredentialKey{Namespace: c.Namespace, Name: c.Name}
}

// HasCertificate reports whether the credential can serve as a server
// certificate.
func (c *Credential) HasCertificate() bool { return len(c.Cert) > 0 && len(c.PrivateKey) > 0 }

// HasCA reports whether the credential holds a CA bundle.
func (c *Credential) HasCA() bool { return len(c.CACert) > 0 }

// String names the credential and says what it holds, never the bytes.
func (c Credential) String() string {
	return fmt.Sprintf("credential %s/%s (cert %d bytes, key %s, ca %d bytes, crl %d bytes)",
		c.Namespace, c.Name, len(c.Cert), c.PrivateKey, len(c.CACert), len(c.CRL))
}

// GoString keeps %#v, which would otherwise print every field, as terse
// as %v.
func (c Credential) GoString() string { return c.String() }

// Format makes every verb (%v, %+v, %#v, %s, %x, %q...) print String.
func (c Credential) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// MarshalJSON renders the credential without its bytes, for debug
// endpoints and structured logs that reach it by reflection.
func (c Credential) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(c.String())), nil
}

// SecretBytes holds key material. It prints as its length whatever the
// formatting verb or encoder, so that a private key cannot leak through a
// log line or a debug dump by accident; code that needs the bytes
// converts it to []byte explicitly.
type SecretBytes []byte

const redacted = "[redacted]"

func (b SecretBytes) String() string {
	return redacted + " " + strconv.Itoa(len(b)) + " bytes"
}

// GoString: see String.
func (b SecretBytes) GoString() string { return b.String() }

// Format: see String.
func (b SecretBytes) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, b.String()) }

// MarshalJSON: see String.
func (b SecretBytes) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(b.String())), nil }

// MarshalText covers encoders that prefer text (map keys, YAML).
func (b SecretBytes) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// AddCredential records a TLS credential, replacing one with the same
// namespace and name.
func (b *Builder) AddCredential(c *Credential) { b.credentials[c.Key()] = c }

// Credential returns the credential read from Secret namespace/name, or
// nil. Generators look credentials up in the proxy's own namespace only,
// so a gateway can never be handed another namespace's keys.
func (s *Snapshot) Credential(namespace, name string) *Credential {
	return s.credentials[CredentialKey{Namespace: namespace, Name: name}]
}

// hashCredential hashes every byte of a credential, each part prefixed
// with its length so that moving bytes between parts changes the hash.
func hashCredential(c *Credential) uint64 {
	h := fnv.New64a()
	var n [8]byte
	for _, part := range [][]byte{[]byte(c.Namespace), []byte(c.Name), c.Cert, c.PrivateKey, c.Staple, c.CACert, c.CRL} {
		binary.LittleEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	return h.Sum64()
}
