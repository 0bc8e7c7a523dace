package validate

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"

	certutil "k8s.io/client-go/util/cert"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/util/keyutil"

	"github.com/pilotlight/pilotlight/discovery/convert"
)

// secret checks a Secret that may hold a gateway credential: keys in
// pairs (a certificate needs its key), PEM that parses, and a key that
// belongs to its certificate. A broken credential is an error, so the
// Secret's last good version stays served rather than Envoy being handed
// a key it rejects. Opaque Secrets without any credential key are other
// applications' business and are not looked at.
//
// No message ever quotes a Secret's data: they name the key and say
// what is wrong with it.
func (r *report) secret(s *corev1.Secret) {
	// Keys are named under data whether the manifest wrote them there or
	// in stringData: the API server stores both as data.
	data := field.NewPath("data")
	if !convert.IsCredentialType(s.Type) {
		r.warnf(field.NewPath("type"), "Secrets of type %s are not read; only %s and %s hold gateway credentials",
			s.Type, corev1.SecretTypeTLS, corev1.SecretTypeOpaque)
		return
	}
	d := convert.SecretData(s)
	if !convert.HasCredentialKeys(d) {
		if s.Type == corev1.SecretTypeTLS {
			r.errorf(data, "a %s Secret needs %s and %s", s.Type, convert.SecretKeyTLSCert, convert.SecretKeyTLSKey)
		}
		return
	}
	// The same pairs convert reads, in its order of preference.
	var certKey, keyKey string
	for _, pair := range [][2]string{{convert.SecretKeyCert, convert.SecretKeyKey}, {convert.SecretKeyTLSCert, convert.SecretKeyTLSKey}} {
		_, hasCert := d[pair[0]]
		_, hasKey := d[pair[1]]
		switch {
		case hasCert && !hasKey:
			r.errorf(data.Key(pair[0]), "%s needs its private key in %s", pair[0], pair[1])
		case hasKey && !hasCert:
			r.errorf(data.Key(pair[1]), "%s needs its certificate in %s", pair[1], pair[0])
		case hasCert && certKey == "":
			certKey, keyKey = pair[0], pair[1]
		}
	}
	if certKey != "" {
		r.keyPair(data, d, certKey, keyKey)
	}
	for _, k := range []string{convert.SecretKeyCACert, convert.SecretKeyTLSCA} {
		if v, ok := d[k]; ok {
			if len(certificates(v)) == 0 {
				r.errorf(data.Key(k), "holds no PEM certificate")
			}
		}
	}
	for _, k := range []string{convert.SecretKeyCRL, convert.SecretKeyTLSCRL} {
		if v, ok := d[k]; ok {
			if !validCRL(v) {
				r.errorf(data.Key(k), "is not a PEM certificate revocation list")
			}
		}
	}
}

// keyPair checks that the certificate chain parses and that the private
// key is the one of its first (leaf) certificate.
func (r *report) keyPair(data *field.Path, d map[string][]byte, certKey, keyKey string) {
	certs := certificates(d[certKey])
	if len(certs) == 0 {
		r.errorf(data.Key(certKey), "holds no PEM certificate")
		return
	}
	key := privateKey(d[keyKey])
	if key == nil {
		r.errorf(data.Key(keyKey), "holds no PEM private key (PKCS #1, PKCS #8 or EC)")
		return
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(certs[0].PublicKey) {
		r.errorf(data.Key(keyKey), "is not the private key of the first certificate in %s", certKey)
	}
}

// certificates parses every CERTIFICATE block; nil if any fails or none
// is there.
func certificates(b []byte) []*x509.Certificate {
	certs, err := certutil.ParseCertsPEM(b)
	if err != nil {
		return nil
	}
	return certs
}

// privateKey parses the first private key; nil if there is none.
func privateKey(b []byte) crypto.Signer {
	key, err := keyutil.ParsePrivateKeyPEM(b)
	if err != nil {
		return nil
	}
	signer, _ := key.(crypto.Signer)
	return signer
}

func validCRL(b []byte) bool {
	found := false
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return found
		}
		if block.Type != "X509 CRL" {
			continue
		}
		if _, err := x509.ParseRevocationList(block.Bytes); err != nil {
			return false
		}
		found = true
	}
}
