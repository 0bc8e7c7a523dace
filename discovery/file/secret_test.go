package file

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pilotlight/pilotlight/discovery/convert"
	"github.com/pilotlight/pilotlight/translate/model"
)

// keyPair returns a PEM certificate and its PEM private key.
func keyPair(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "web.example.com"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

func tlsSecret(name, cert, key string) string {
	return fmt.Sprintf(`
apiVersion: v1
kind: Secret
metadata:
  name: %s
  namespace: istio-system
type: kubernetes.io/tls
stringData:
  tls.crt: |
%s
  tls.key: |
%s
`, name, indent(cert), indent(key))
}

// The bytes of a broken Secret never reach a problem or a log line,
// however it is broken: the message names the key and what is wrong.
func TestSecretBytesNeverInProblemsOrLogs(t *testing.T) {
	cert, key := keyPair(t)
	_, otherKey := keyPair(t)
	const marker = "SECRETMARKERQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo"
	garbledKey := "-----BEGIN PRIVATE KEY-----\n" + marker + "\n-----END PRIVATE KEY-----\n"
	docs := []string{
		// A key that is not PEM at all.
		tlsSecret("garbled", cert, garbledKey),
		// A valid key of another certificate.
		tlsSecret("mismatched", cert, otherKey),
		// A certificate without its key.
		fmt.Sprintf("\napiVersion: v1\nkind: Secret\nmetadata: {name: lonely, namespace: istio-system}\ntype: Opaque\ndata:\n  cert: %s\n",
			base64.StdEncoding.EncodeToString([]byte(marker))),
		// Data that is not base64.
		"\napiVersion: v1\nkind: Secret\nmetadata: {name: notbase64, namespace: istio-system}\ntype: Opaque\ndata:\n  tls.key: \"!" + marker + "!\"\n",
		// A key given twice.
		"\napiVersion: v1\nkind: Secret\nmetadata: {name: twice, namespace: istio-system}\ntype: Opaque\nstringData:\n  tls.key: " + marker + "1\n  tls.key: " + marker + "2\n",
		// A field Secrets do not have.
		"\napiVersion: v1\nkind: Secret\nmetadata: {name: unknown, namespace: istio-system}\ntype: Opaque\nsecretData: " + marker + "\n",
		// A type that is not read.
		"\napiVersion: v1\nkind: Secret\nmetadata: {name: token, namespace: istio-system}\ntype: kubernetes.io/service-account-token\nstringData: {token: " + marker + "}\n",
		// YAML that breaks on the secret's own line.
		"\napiVersion: v1\nkind: Secret\nmetadata: {name: broken, namespace: istio-system}\nstringData:\n  tls.key: \"" + marker + "\n  : [\n",
	}
	dir := t.TempDir()
	write(t, dir, "secrets.yaml", strings.Join(docs, "---"))

	core, logs := observer.New(zap.DebugLevel)
	src := New(dir, Options{Logger: zap.New(core)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rec recorder
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, rec.publish) }()
	last := rec.waitFor(t, "first load", func(published) bool { return true })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	for _, p := range last.problems {
		js, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s\n%s\n%+v\n", p, js, p)
	}
	for _, e := range logs.All() {
		fmt.Fprintf(&out, "%s %v\n", e.Message, e.ContextMap())
	}
	text := out.String()
	for _, secret := range []string{marker, keyBody(otherKey), keyBody(key)} {
		if strings.Contains(text, secret) {
			t.Fatalf("secret bytes in problems or logs:\n%s", text)
		}
	}
	// Every broken Secret was reported, by name.
	for _, name := range []string{"garbled", "mismatched", "lonely", "notbase64", "twice", "unknown", "token"} {
		if !strings.Contains(text, "istio-system/"+name) {
			t.Errorf("no problem names Secret %s:\n%s", name, text)
		}
	}
	for _, name := range []string{"garbled", "mismatched", "lonely"} {
		if last.snap.Credential("istio-system", name) != nil {
			t.Errorf("broken Secret %s became a credential", name)
		}
	}
}

// keyBody is the base64 body of a PEM key, the part that is secret.
func keyBody(keyPEM string) string {
	lines := strings.Split(strings.TrimSpace(keyPEM), "\n")
	return strings.Join(lines[1:len(lines)-1], "")[:40]
}

// A Secret whose new version is broken keeps serving its last good
// version, like every other object.
func TestBrokenSecretKeepsLastGoodVersion(t *testing.T) {
	cert, key := keyPair(t)
	_, otherKey := keyPair(t)
	dir := t.TempDir()
	write(t, dir, "secret.yaml", tlsSecret("web-cert", cert, key))
	src := New(dir, Options{})
	snap, problems, err := src.Load()
	if err != nil || len(problems) > 0 {
		t.Fatalf("load: %v %v", err, problems)
	}
	good := snap.Credential("istio-system", "web-cert")
	if good == nil || !good.HasCertificate() || string(good.PrivateKey) != key {
		t.Fatalf("credential not loaded: %v", good)
	}

	replace(t, dir, "secret.yaml", tlsSecret("web-cert", cert, otherKey))
	snap, problems, err = src.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || problems[0].Warning || problems[0].Field != "data[tls.key]" {
		t.Fatalf("problems = %v, want one error on data[tls.key]", problems)
	}
	if got := snap.Credential("istio-system", "web-cert"); got == nil || string(got.PrivateKey) != key {
		t.Errorf("the last good key is not served: %v", got)
	}
}

// A decoding message that quotes a Secret's value, as some library's
// might, is withheld; one that does not is kept.
func TestRedactSecretMessages(t *testing.T) {
	js := []byte(`{"kind":"Secret","data":{"tls.key":"` + base64.StdEncoding.EncodeToString([]byte("hunter2-private")) + `"},"stringData":{"k":"line one\nplain-value-42"}}`)
	it := item{key: convert.Key{Kind: convert.KindSecret, Namespace: "ns", Name: "s"}, problems: []model.Problem{
		{Message: "cannot parse hunter2-private here"},
		{Message: "bad: plain-value-42"},
		{Field: "data", Message: "unknown field"},
	}}
	got := redactSecret(it, js).problems
	for i, p := range got[:2] {
		if strings.Contains(p.Message, "hunter2") || strings.Contains(p.Message, "plain-value") {
			t.Errorf("problem %d not withheld: %s", i, p.Message)
		}
	}
	if got[2].Message != "unknown field" {
		t.Errorf("a message quoting nothing was changed: %s", got[2].Message)
	}
}
