package convert

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/pilotlight/pilotlight/translate/model"
)

// The keys of a Secret that hold TLS material, as istiod reads them: the
// kubernetes.io/tls names, and the generic names Istio's own tooling
// writes into Opaque Secrets.
const (
	SecretKeyTLSCert    = corev1.TLSCertKey       // tls.crt
	SecretKeyTLSKey     = corev1.TLSPrivateKeyKey // tls.key
	SecretKeyTLSCA      = "ca.crt"
	SecretKeyTLSCRL     = "ca.crl"
	SecretKeyOCSPStaple = "tls.ocsp-staple"
	SecretKeyCert       = "cert"
	SecretKeyKey        = "key"
	SecretKeyCACert     = "cacert"
	SecretKeyCRL        = "crl"
)

// CredentialKeys are every Secret key a credential is read from. A Secret
// holding none of them is not a credential.
var CredentialKeys = []string{
	SecretKeyTLSCert, SecretKeyTLSKey, SecretKeyTLSCA, SecretKeyTLSCRL, SecretKeyOCSPStaple,
	SecretKeyCert, SecretKeyKey, SecretKeyCACert, SecretKeyCRL,
}

// CredentialSecretTypes are the Secret types that may hold gateway
// credentials. Other types (service account tokens, registry logins,
// Helm releases) are never read, and the Kubernetes source does not even
// watch them.
var CredentialSecretTypes = []corev1.SecretType{corev1.SecretTypeTLS, corev1.SecretTypeOpaque}

// IsCredentialType reports whether a Secret of this type may hold a
// credential; the empty type is Opaque.
func IsCredentialType(t corev1.SecretType) bool {
	return t == "" || slices.Contains(CredentialSecretTypes, t)
}

// HasCredentialKeys reports whether a Secret holds any credential key.
func HasCredentialKeys(data map[string][]byte) bool {
	for _, k := range CredentialKeys {
		if _, ok := data[k]; ok {
			return true
		}
	}
	return false
}

// convertSecret reads a TLS credential from a Secret, the way istiod
// does: the certificate and key from cert/key or, failing those,
// tls.crt/tls.key (with an OCSP staple); the CA bundle from cacert (with
// crl) or, failing that, ca.crt (with ca.crl). A half whose keys are
// missing or empty is left out; nil when the Secret has neither half or
// is not of a credential type. The bytes are copied: the Secret stays
// its owner's.
func convertSecret(s *corev1.Secret) *model.Credential {
	if !IsCredentialType(s.Type) {
		return nil
	}
	d := SecretData(s)
	c := &model.Credential{Namespace: s.Namespace, Name: s.Name}
	switch {
	case nonEmpty(d, SecretKeyCert, SecretKeyKey):
		c.Cert, c.PrivateKey = clone(d[SecretKeyCert]), model.SecretBytes(clone(d[SecretKeyKey]))
	case nonEmpty(d, SecretKeyTLSCert, SecretKeyTLSKey):
		c.Cert, c.PrivateKey = clone(d[SecretKeyTLSCert]), model.SecretBytes(clone(d[SecretKeyTLSKey]))
		c.Staple = clone(d[SecretKeyOCSPStaple])
	}
	switch {
	case nonEmpty(d, SecretKeyCACert):
		c.CACert, c.CRL = clone(d[SecretKeyCACert]), clone(d[SecretKeyCRL])
	case nonEmpty(d, SecretKeyTLSCA):
		c.CACert, c.CRL = clone(d[SecretKeyTLSCA]), clone(d[SecretKeyTLSCRL])
	}
	if !c.HasCertificate() && !c.HasCA() {
		return nil
	}
	return c
}

// SecretData is a Secret's data as the API server would store it:
// stringData, which only manifests carry, merged over data.
func SecretData(s *corev1.Secret) map[string][]byte {
	if len(s.StringData) == 0 {
		return s.Data
	}
	d := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		d[k] = v
	}
	for k, v := range s.StringData {
		d[k] = []byte(v)
	}
	return d
}

func nonEmpty(d map[string][]byte, keys ...string) bool {
	for _, k := range keys {
		if len(d[k]) == 0 {
			return false
		}
	}
	return true
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}
