package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"

	"k8s.io/client-go/util/keyutil"
)

// KeyType is the algorithm of a key the CA generates for itself: its root
// and the serving certificate of the port it is served on.
type KeyType string

const (
	// KeyECDSA is ECDSA on P-256, the default: small certificates and
	// fast signing.
	KeyECDSA KeyType = "ecdsa"
	// KeyRSA is 2048-bit RSA, istiod's default, for peers that still
	// need RSA.
	KeyRSA KeyType = "rsa"
)

// ParseKeyType reads a key type as a flag spells it.
func ParseKeyType(s string) (KeyType, error) {
	switch KeyType(s) {
	case KeyECDSA, KeyRSA:
		return KeyType(s), nil
	}
	return "", fmt.Errorf("unknown key type %q: want %q or %q", s, KeyECDSA, KeyRSA)
}

// generateKey makes a new private key of type t ("" is ECDSA).
func generateKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case KeyECDSA, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyRSA:
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("unknown key type %q", t)
}

// encodeKeyPEM writes a private key in the PEM form istiod writes and
// reads: PKCS #1 for RSA, SEC 1 for ECDSA. Keeping istiod's form means a
// mesh can switch back to istiod and keep the root pilotlight created.
func encodeKeyPEM(key crypto.Signer) ([]byte, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	}
	return nil, fmt.Errorf("unsupported private key type %T", key)
}

// parseKeyPEM reads the first private key in data, in any of the forms
// istiod and the usual tools write (PKCS #1, SEC 1, PKCS #8).
func parseKeyPEM(data []byte) (crypto.Signer, error) {
	key, err := keyutil.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
	return signer, nil
}

// samePublicKey tells whether a and b are the same public key.
func samePublicKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// serialLimit bounds certificate serial numbers to 128 bits, as the
// CA/Browser Forum's 64 bits of entropy require with room to spare.
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

// newSerial returns a random, positive, non-zero 128-bit serial number.
func newSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, serialLimit)
		if err != nil {
			return nil, fmt.Errorf("serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// encodeCertPEM writes one certificate as PEM.
func encodeCertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
