package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// serviceAccountKeys are the PEM files of the key pair that signs and
// verifies ServiceAccount tokens.
type serviceAccountKeys struct {
	private, public string
}

// writeServiceAccountKeys generates the key pair the API server signs
// ServiceAccount tokens with (ES256: quick to generate, supported by the
// API server and every token verifier).
func writeServiceAccountKeys(t testing.TB, dir string) serviceAccountKeys {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return serviceAccountKeys{
		private: writeFile(t, dir, "sa.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: priv})),
		public:  writeFile(t, dir, "sa.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
	}
}
