package validate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func problemsOf(t *testing.T, obj runtime.Object, wanted []want) ([]want, []want) {
	t.Helper()
	var got []want
	for _, p := range Object(obj) {
		got = append(got, want{Field: p.Field, Warning: p.Warning, Message: p.Message})
	}
	var matched []want
	for i, w := range wanted {
		matched = append(matched, w)
		for _, g := range got {
			if g.Field == w.Field && g.Warning == w.Warning && strings.Contains(g.Message, w.Message) {
				matched[i].Message = g.Message
				break
			}
		}
	}
	return sortedWants(matched), sortedWants(got)
}

func TestGateway(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []want
	}{
		{
			name: "every mode, valid",
			yaml: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["./*.example.com", "*/api.example.com", "other/x.example.com"]
    tls: {httpsRedirect: true}
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: web-cert}
  - port: {number: 443, name: https-mutual, protocol: HTTPS}
    hosts: [api.example.com]
    tls: {mode: MUTUAL, credentialName: api-cert}
  - port: {number: 8443, name: https-files, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: MUTUAL, serverCertificate: /c, privateKey: /k, caCertificates: /ca}
  - port: {number: 9443, name: tls, protocol: TLS}
    hosts: ["*"]
    tls: {mode: PASSTHROUGH}
  - port: {number: 15443, name: tls-auto, protocol: TLS}
    hosts: ["*.local"]
    tls: {mode: AUTO_PASSTHROUGH}
  - port: {number: 15444, name: mesh, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: ISTIO_MUTUAL}
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
    bind: 10.0.0.1
`,
		},
		{
			name: "ports, hosts and TLS",
			yaml: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  servers:
  - port: {number: 80, name: http, protocol: HTTQ}
    hosts: ["Bad_NS/x.example.com", "/x", "ns/"]
  - port: {number: 443, name: http, protocol: HTTPS}
    hosts: [web.example.com]
  - port: {number: 444, name: simple, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE}
  - port: {number: 445, name: both, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: c, serverCertificate: /c, privateKey: /k}
  - port: {number: 446, name: mutual-files, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: MUTUAL, serverCertificate: /c, privateKey: /k}
  - port: {number: 447, name: auto, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: AUTO_PASSTHROUGH}
  - port: {number: 448, name: istio, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: ISTIO_MUTUAL, credentialName: c}
  - port: {number: 81, name: plain-tls, protocol: HTTP}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: c}
  - port: {number: 82, name: udp, protocol: UDP}
    hosts: ["*"]
    bind: unix:///var/run/sock
  - port: {number: 449, name: ca, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: MUTUAL, credentialName: c, caCertCredentialName: c-ca}
`,
			want: []want{
				{Field: "spec.servers[0].port.protocol", Message: `unknown protocol "HTTQ"`},
				{Field: "spec.servers[0].hosts[0]", Message: "Bad_NS"},
				{Field: "spec.servers[0].hosts[1]", Message: "namespace before / must not be empty"},
				{Field: "spec.servers[0].hosts[2]", Message: "host must not be empty"},
				{Field: "spec.servers[1].port.name", Message: "used by servers[0] too"},
				{Field: "spec.servers[1].tls", Message: "a HTTPS server needs tls settings"},
				{Field: "spec.servers[2].tls", Message: "SIMPLE needs credentialName"},
				{Field: "spec.servers[3].tls", Message: "either credentialName or certificate files"},
				{Field: "spec.servers[4].tls.caCertificates", Message: "needs caCertificates"},
				{Field: "spec.servers[5].tls.mode", Message: "AUTO_PASSTHROUGH needs protocol TLS"},
				{Field: "spec.servers[6].tls", Message: "ISTIO_MUTUAL uses the workload certificate"},
				{Field: "spec.servers[7].tls", Message: "cannot have TLS settings other than httpsRedirect"},
				{Field: "spec.servers[8].port.protocol", Warning: true, Message: "UDP servers are not supported"},
				{Field: "spec.servers[8].bind", Warning: true, Message: "unix domain socket"},
				{Field: "spec.servers[9].tls.caCertCredentialName", Warning: true, Message: "not supported"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, _, err := decoder.Decode([]byte(strings.TrimSpace(tt.yaml)), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, got := problemsOf(t, obj, tt.want)
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func testPair(t *testing.T) (certPEM, keyPEM []byte) {
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
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func TestSecret(t *testing.T) {
	cert, key := testPair(t)
	_, otherKey := testPair(t)
	secret := func(typ corev1.SecretType, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cert", Namespace: "ns"}, Type: typ, Data: data}
	}
	tests := []struct {
		name   string
		secret *corev1.Secret
		want   []want
	}{
		{name: "tls with CA", secret: secret(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": cert})},
		{name: "generic", secret: secret(corev1.SecretTypeOpaque, map[string][]byte{"cert": cert, "key": key, "cacert": cert})},
		{name: "someone else's opaque secret", secret: secret(corev1.SecretTypeOpaque, map[string][]byte{"password": []byte("x")})},
		{name: "tls without keys", secret: secret(corev1.SecretTypeTLS, map[string][]byte{"other": cert}),
			want: []want{{Field: "data", Message: "needs tls.crt and tls.key"}}},
		{name: "mismatched key", secret: secret(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": cert, "tls.key": otherKey}),
			want: []want{{Field: "data[tls.key]", Message: "not the private key of the first certificate"}}},
		{name: "not PEM", secret: secret(corev1.SecretTypeOpaque, map[string][]byte{"cert": []byte("x"), "key": key, "cacert": []byte("y"), "crl": cert}),
			want: []want{
				{Field: "data[cert]", Message: "holds no PEM certificate"},
				{Field: "data[cacert]", Message: "holds no PEM certificate"},
				{Field: "data[crl]", Message: "not a PEM certificate revocation list"},
			}},
		{name: "halves", secret: secret(corev1.SecretTypeOpaque, map[string][]byte{"key": key, "tls.crt": cert}),
			want: []want{
				{Field: "data[key]", Message: "needs its certificate in cert"},
				{Field: "data[tls.crt]", Message: "needs its private key in tls.key"},
			}},
		{name: "other type", secret: secret(corev1.SecretTypeBasicAuth, map[string][]byte{"username": []byte("u")}),
			want: []want{{Field: "type", Warning: true, Message: "are not read"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, got := problemsOf(t, tt.secret, tt.want)
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
