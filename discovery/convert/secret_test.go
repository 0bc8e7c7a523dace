package convert

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestConvertSecret(t *testing.T) {
	secret := func(typ corev1.SecretType, data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cert", Namespace: "ns"}, Type: typ, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	for _, tc := range []struct {
		name                       string
		secret                     *corev1.Secret
		none                       bool
		cert, key, staple, ca, crl string
	}{
		{name: "tls", secret: secret(corev1.SecretTypeTLS, map[string]string{"tls.crt": "C", "tls.key": "K", "tls.ocsp-staple": "S", "ca.crt": "A", "ca.crl": "R"}),
			cert: "C", key: "K", staple: "S", ca: "A", crl: "R"},
		{name: "generic keys win", secret: secret(corev1.SecretTypeOpaque, map[string]string{"cert": "C1", "key": "K1", "tls.crt": "C2", "tls.key": "K2", "cacert": "A1", "crl": "R1", "ca.crt": "A2"}),
			cert: "C1", key: "K1", ca: "A1", crl: "R1"},
		{name: "untyped is opaque", secret: secret("", map[string]string{"tls.crt": "C", "tls.key": "K"}), cert: "C", key: "K"},
		{name: "CA only", secret: secret(corev1.SecretTypeOpaque, map[string]string{"cacert": "A"}), ca: "A"},
		{name: "empty key falls back", secret: secret(corev1.SecretTypeOpaque, map[string]string{"cert": "C1", "key": "", "tls.crt": "C2", "tls.key": "K2"}), cert: "C2", key: "K2"},
		{name: "half a pair", secret: secret(corev1.SecretTypeTLS, map[string]string{"tls.crt": "C"}), none: true},
		{name: "no credential keys", secret: secret(corev1.SecretTypeOpaque, map[string]string{"password": "p"}), none: true},
		{name: "other type", secret: secret(corev1.SecretTypeDockerConfigJson, map[string]string{"tls.crt": "C", "tls.key": "K"}), none: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := convertSecret(tc.secret)
			if tc.none {
				if c != nil {
					t.Fatalf("got %v, want no credential", c)
				}
				return
			}
			if c == nil {
				t.Fatal("no credential")
			}
			if c.Namespace != "ns" || c.Name != "cert" || string(c.Cert) != tc.cert || string(c.PrivateKey) != tc.key ||
				string(c.Staple) != tc.staple || string(c.CACert) != tc.ca || string(c.CRL) != tc.crl {
				t.Errorf("got %s/%s cert %q key %q staple %q ca %q crl %q", c.Namespace, c.Name, c.Cert, []byte(c.PrivateKey), c.Staple, c.CACert, c.CRL)
			}
			// The credential owns its bytes.
			for _, v := range tc.secret.Data {
				if len(v) > 0 {
					v[0] = 'x'
				}
			}
			if tc.cert != "" && string(c.Cert) != tc.cert {
				t.Error("the credential aliases the Secret's data")
			}
		})
	}
}

func TestSecretStringData(t *testing.T) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cert", Namespace: "ns"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": []byte("old"), "tls.key": []byte("K")}, StringData: map[string]string{"tls.crt": "new"}}
	c := convertSecret(s)
	if c == nil || string(c.Cert) != "new" || string(c.PrivateKey) != "K" {
		t.Fatalf("stringData is not merged over data: %v", c)
	}
}
