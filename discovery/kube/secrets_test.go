package kube

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func keyPair(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
}

func tlsSecret(ns, name string, cert, key []byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": cert, "tls.key": key}}
}

// Secrets are read only when asked for; then credentials enter the
// Snapshot, a broken update keeps the last good one, and the data never
// reaches a problem or a log line.
func TestSecrets(t *testing.T) {
	cert, key := keyPair(t)
	_, otherKey := keyPair(t)
	web := tlsSecret("istio-system", "web-cert", cert, key)
	db := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "db-password"}, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"password": []byte("hunter2-hunter2")}}

	off := newEnv(t, nil, web, db)
	off.start()
	if p := off.next(); p.snap.Credential("istio-system", "web-cert") != nil {
		t.Fatal("a Secret was read without Options.Secrets")
	}

	e := newEnv(t, func(o *Options) { o.Secrets = true }, web, db)
	e.start()
	p := e.next()
	c := p.snap.Credential("istio-system", "web-cert")
	if c == nil || string(c.PrivateKey) != string(key) || len(p.problems) != 0 {
		t.Fatalf("credential %v, problems %v; want web-cert and no problems", c, p.problems)
	}
	if p.snap.Credential("istio-system", "db-password") != nil {
		t.Error("an Opaque Secret without credential keys became a credential")
	}

	secrets := e.kube.CoreV1().Secrets("istio-system")
	if _, err := secrets.Update(t.Context(), tlsSecret("istio-system", "web-cert", cert, otherKey), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p = e.until("broken Secret reported", func(p published) error {
		if len(p.problems) != 1 || p.problems[0].Name != "web-cert" || p.problems[0].Field != "data[tls.key]" {
			return fmt.Errorf("problems = %v", p.problems)
		}
		return nil
	})
	if c := p.snap.Credential("istio-system", "web-cert"); c == nil || string(c.PrivateKey) != string(key) {
		t.Error("the last good key is not served after a broken update")
	}

	var out strings.Builder
	for _, pr := range p.problems {
		js, _ := json.Marshal(pr)
		fmt.Fprintf(&out, "%s %s\n", pr, js)
	}
	for _, l := range e.logs.All() {
		fmt.Fprintf(&out, "%s %v\n", l.Message, l.ContextMap())
	}
	for _, k := range [][]byte{key, otherKey} {
		body := strings.Split(string(k), "\n")[1]
		if strings.Contains(out.String(), body) {
			t.Fatalf("key bytes in problems or logs:\n%s", out.String())
		}
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Fatalf("another Secret's data in problems or logs:\n%s", out.String())
	}
}

// The informer cache keeps a Secret's identity and credential keys only:
// other applications' secrets, and kubectl's copy of the whole object in
// an annotation, never stay in memory.
func TestSlimSecret(t *testing.T) {
	in := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", ResourceVersion: "7",
			Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: "{...data...}"}, Labels: map[string]string{"a": "b"}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"password": []byte("p"), "tls.crt": []byte("c"), "tls.key": []byte("k"), "cacert": []byte("a")},
	}
	out, err := slim(in)
	if err != nil {
		t.Fatal(err)
	}
	s := out.(*corev1.Secret)
	if s.Name != "s" || s.Namespace != "ns" || s.ResourceVersion != "7" || s.Type != corev1.SecretTypeOpaque {
		t.Errorf("identity lost: %+v", s.ObjectMeta)
	}
	if len(s.Annotations) != 0 || len(s.Data) != 3 || s.Data["password"] != nil || string(s.Data["tls.key"]) != "k" {
		t.Errorf("slimmed Secret keeps annotations %v and data keys %d", s.Annotations, len(s.Data))
	}
	again, _ := slim(s)
	if len(again.(*corev1.Secret).Data) != 3 {
		t.Error("slim is not idempotent")
	}
	if out, _ := slim(&corev1.Secret{Data: map[string][]byte{"password": []byte("p")}}); out.(*corev1.Secret).Data != nil {
		t.Error("a Secret without credential keys keeps data")
	}
}
