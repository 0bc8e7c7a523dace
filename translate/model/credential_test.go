package model_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pilotlight/pilotlight/translate/model"
)

const keyMarker = "PRIVATE-KEY-MATERIAL-0123456789"

func testCredential() *model.Credential {
	return &model.Credential{
		Namespace:  "istio-system",
		Name:       "web-cert",
		Cert:       []byte("CERT"),
		PrivateKey: model.SecretBytes(keyMarker),
		CACert:     []byte("CA"),
	}
}

// However a credential reaches fmt, encoding/json or zap, its private key
// does not.
func TestCredentialNeverPrintsItsKey(t *testing.T) {
	c := testCredential()
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		out = append(out, fmt.Sprintf(verb, c), fmt.Sprintf(verb, *c), fmt.Sprintf(verb, c.PrivateKey))
	}
	js, err := json.Marshal(map[string]any{"c": c, "v": *c, "k": c.PrivateKey, "list": []*model.Credential{c}})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(js))

	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	log.Info("x", zap.Any("credential", c), zap.Any("value", *c), zap.Stringer("s", c), zap.Any("key", c.PrivateKey),
		zap.Reflect("r", c))
	var buf bytes.Buffer
	for _, e := range logs.All() {
		fmt.Fprintf(&buf, "%v", e.ContextMap())
	}
	out = append(out, buf.String())

	for _, s := range out {
		if strings.Contains(s, keyMarker) || strings.Contains(s, fmt.Sprintf("%x", keyMarker)) {
			t.Fatalf("private key printed: %s", s)
		}
	}
	if got := c.String(); !strings.Contains(got, "istio-system/web-cert") || !strings.Contains(got, "[redacted]") {
		t.Errorf("String() = %q, want the name and a redaction marker", got)
	}
}

// Credential bytes are content: changing any of them changes the
// Snapshot version and shows in the diff, by name only.
func TestCredentialsAreHashedAndDiffed(t *testing.T) {
	build := func(mutate func(*model.Credential)) *model.Snapshot {
		b := model.NewBuilder()
		c := testCredential()
		if mutate != nil {
			mutate(c)
		}
		b.AddCredential(c)
		return b.Build()
	}
	base := build(nil)
	if got := base.Credential("istio-system", "web-cert"); got == nil || !got.HasCertificate() || !got.HasCA() {
		t.Fatalf("credential not found or incomplete: %v", got)
	}
	if base.Credential("default", "web-cert") != nil {
		t.Fatal("credential found in another namespace")
	}
	if same := build(nil); same.Version != base.Version || !model.DiffSnapshots(base, same).Empty() {
		t.Fatal("equal credentials give different versions")
	}
	for name, mutate := range map[string]func(*model.Credential){
		"key":    func(c *model.Credential) { c.PrivateKey = model.SecretBytes("other") },
		"cert":   func(c *model.Credential) { c.Cert = []byte("other") },
		"ca":     func(c *model.Credential) { c.CACert = nil },
		"crl":    func(c *model.Credential) { c.CRL = []byte("crl") },
		"staple": func(c *model.Credential) { c.Staple = []byte("ocsp") },
		// Bytes moved from one part to the next are a change too.
		"shift": func(c *model.Credential) { c.Cert, c.PrivateKey = []byte("CERTP"), model.SecretBytes(keyMarker[1:]) },
	} {
		changed := build(mutate)
		if changed.Version == base.Version {
			t.Errorf("%s: version unchanged", name)
		}
		d := model.DiffSnapshots(base, changed)
		if _, ok := d.Credentials[model.CredentialKey{Namespace: "istio-system", Name: "web-cert"}]; !ok || d.Empty() || d.EndpointsOnly() {
			t.Errorf("%s: diff %+v does not name the credential", name, d)
		}
	}
}
