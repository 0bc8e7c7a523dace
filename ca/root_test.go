package ca

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func mustParseMaterial(t testing.TB, p KeyCertPEM) *Material {
	t.Helper()
	m, err := ParseMaterial(p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pluggedMaterial returns an operator's cacerts: an intermediate signed
// by a fresh root, with istio's tools' cert-chain.pem (intermediate and
// root).
func pluggedMaterial(t testing.TB) (KeyCertPEM, *Material) {
	t.Helper()
	rootPEM, err := NewSelfSignedRoot(RootOptions{TrustDomain: testTD})
	if err != nil {
		t.Fatal(err)
	}
	root := mustParseMaterial(t, rootPEM)
	key := newKey(t, "ecdsa")
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{Organization: []string{"cluster.local"}, CommonName: "Intermediate CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(randReader, tmpl, root.Cert, key.Public(), root.Key)
	if err != nil {
		t.Fatal(err)
	}
	inter, _ := x509.ParseCertificate(der)
	keyPEM, _ := encodeKeyPEM(key)
	interPEM := encodeCertPEM(inter)
	p := KeyCertPEM{
		CACert:    interPEM,
		CAKey:     keyPEM,
		CertChain: append(bytes.Clone(interPEM), rootPEM.CACert...),
		RootCert:  rootPEM.CACert,
	}
	return p, root
}

func TestNewSelfSignedRoot(t *testing.T) {
	for _, tc := range []struct {
		kt      KeyType
		wantKey string
	}{{"", "ecdsa"}, {KeyECDSA, "ecdsa"}, {KeyRSA, "rsa"}} {
		t.Run(string(tc.kt), func(t *testing.T) {
			p, err := NewSelfSignedRoot(RootOptions{TrustDomain: testTD, KeyType: tc.kt})
			if err != nil {
				t.Fatal(err)
			}
			m := mustParseMaterial(t, p)
			c := m.Cert
			switch k := c.PublicKey.(type) {
			case *ecdsa.PublicKey:
				if tc.wantKey != "ecdsa" || k.Curve != elliptic.P256() {
					t.Errorf("key = ECDSA %s, want %s", k.Curve.Params().Name, tc.wantKey)
				}
			case *rsa.PublicKey:
				if tc.wantKey != "rsa" || k.N.BitLen() != 2048 {
					t.Errorf("key = RSA %d, want %s", k.N.BitLen(), tc.wantKey)
				}
			}
			if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
				t.Errorf("root is not a CA: IsCA=%v KeyUsage=%v", c.IsCA, c.KeyUsage)
			}
			if got := c.Subject.Organization; len(got) != 1 || got[0] != "cluster.local" {
				t.Errorf("organization = %v, want [cluster.local]", got)
			}
			if err := c.CheckSignatureFrom(c); err != nil {
				t.Errorf("root is not self-signed: %v", err)
			}
			if life := c.NotAfter.Sub(c.NotBefore); life < DefaultRootTTL || life > DefaultRootTTL+2*clockSkew {
				t.Errorf("validity = %s, want about %s", life, DefaultRootTTL)
			}
			if len(c.URIs) != 0 {
				t.Errorf("URIs = %v, want none by default", c.URIs)
			}
			if m.Plugged || len(m.Chain) != 1 || len(m.Roots) != 1 {
				t.Errorf("self-signed material: plugged=%v chain=%d roots=%d", m.Plugged, len(m.Chain), len(m.Roots))
			}
		})
	}
	p, err := NewSelfSignedRoot(RootOptions{TrustDomain: testTD, TrustDomainURI: true, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := mustParseMaterial(t, p).Cert
	if len(c.URIs) != 1 || c.URIs[0].String() != "spiffe://cluster.local" {
		t.Errorf("URIs = %v, want [spiffe://cluster.local]", c.URIs)
	}
	if life := c.NotAfter.Sub(c.NotBefore); life > time.Hour+2*clockSkew {
		t.Errorf("validity = %s, want about 1h", life)
	}
}

func TestParseMaterialRefusesUnusableMaterial(t *testing.T) {
	good, err := NewSelfSignedRoot(RootOptions{TrustDomain: testTD})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSelfSignedRoot(RootOptions{TrustDomain: testTD})
	plugged, _ := pluggedMaterial(t)
	leafCA := mustParseMaterial(t, good)
	leafKey := newKey(t, "ecdsa")
	a, _ := New(leafCA, Options{TrustDomain: testTD})
	leaf, err := a.SignServing(leafKey.Public(), []string{"x"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leafKeyPEM, _ := encodeKeyPEM(leafKey)
	for _, tc := range []struct {
		name string
		p    KeyCertPEM
		now  time.Time
		want string
	}{
		{"key of another root", KeyCertPEM{CACert: good.CACert, CAKey: other.CAKey}, time.Now(), "not the key of ca-cert.pem"},
		{"no key", KeyCertPEM{CACert: good.CACert}, time.Now(), "ca-key.pem"},
		{"garbage certificate", KeyCertPEM{CACert: []byte("junk"), CAKey: good.CAKey}, time.Now(), "ca-cert.pem"},
		{"not a CA", KeyCertPEM{CACert: []byte(leaf.ChainPEM[0]), CAKey: leafKeyPEM}, time.Now(), "not a CA certificate"},
		{"expired root", good, time.Now().Add(DefaultRootTTL + time.Hour), "does not chain"},
		{"intermediate under another root", KeyCertPEM{CACert: plugged.CACert, CAKey: plugged.CAKey, RootCert: other.CACert}, time.Now(), "does not chain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.Source = "Secret ns/test"
			_, err := ParseMaterial(tc.p, tc.now)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Secret ns/test") {
				t.Errorf("error = %v, want one naming the source and containing %q", err, tc.want)
			}
		})
	}
}

func TestPluggedMaterialChain(t *testing.T) {
	p, root := pluggedMaterial(t)
	m := mustParseMaterial(t, p)
	if !m.Plugged {
		t.Error("cacerts material not marked plugged")
	}
	if len(m.Chain) != 2 || !m.Chain[1].Equal(root.Cert) || !m.Chain[0].Equal(m.Cert) {
		t.Errorf("chain = %d certificates, want [intermediate, root]", len(m.Chain))
	}
	if !m.Root().Equal(root.Cert) {
		t.Error("Root() is not the plugged root")
	}
}

func TestMemoryStoreCreatesOnce(t *testing.T) {
	s := NewMemoryStore()
	m1, created, err := LoadOrCreate(context.Background(), s, RootOptions{TrustDomain: testTD})
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created=%v err=%v", created, err)
	}
	m2, created, err := LoadOrCreate(context.Background(), s, RootOptions{TrustDomain: testTD})
	if err != nil || created {
		t.Fatalf("second LoadOrCreate: created=%v err=%v", created, err)
	}
	if !m1.Cert.Equal(m2.Cert) {
		t.Error("the second load returned another root")
	}
}

func TestFileStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "ca")
	s := NewFileStore(dir)
	m1, created, err := LoadOrCreate(context.Background(), s, RootOptions{TrustDomain: testTD, KeyType: KeyRSA})
	if err != nil || !created {
		t.Fatalf("LoadOrCreate: created=%v err=%v", created, err)
	}
	if _, ok := m1.Cert.PublicKey.(*rsa.PublicKey); !ok {
		t.Errorf("root key is %T, want RSA", m1.Cert.PublicKey)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, fileCAKey): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s mode = %v, want %v", path, got, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want ca-cert.pem and ca-key.pem only", len(entries))
	}
	m2, created, err := LoadOrCreate(context.Background(), NewFileStore(dir), RootOptions{TrustDomain: testTD})
	if err != nil || created {
		t.Fatalf("reload: created=%v err=%v", created, err)
	}
	if !m1.Cert.Equal(m2.Cert) || m2.Source != "directory "+dir {
		t.Errorf("reload returned another root, or source %q", m2.Source)
	}
}

func TestFileStorePluggedFiles(t *testing.T) {
	dir := t.TempDir()
	p, root := pluggedMaterial(t)
	for name, data := range map[string][]byte{fileCACert: p.CACert, fileCAKey: p.CAKey, fileCertChain: p.CertChain, fileRootCert: p.RootCert} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m, created, err := LoadOrCreate(context.Background(), NewFileStore(dir), RootOptions{TrustDomain: testTD})
	if err != nil || created {
		t.Fatalf("LoadOrCreate: created=%v err=%v", created, err)
	}
	if !m.Plugged || !m.Root().Equal(root.Cert) {
		t.Error("the operator's intermediate was not adopted")
	}
}

func TestFileStoreHalfWritten(t *testing.T) {
	dir := t.TempDir()
	p, _ := NewSelfSignedRoot(RootOptions{TrustDomain: testTD})
	if err := os.WriteFile(filepath.Join(dir, fileCAKey), p.CAKey, 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewFileStore(dir)
	s.settle = 10 * time.Millisecond
	_, _, err := LoadOrCreate(context.Background(), s, RootOptions{TrustDomain: testTD})
	if err == nil || !strings.Contains(err.Error(), "no ca-cert.pem") {
		t.Errorf("error = %v, want one about the missing ca-cert.pem", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, fileCAKey)); !bytes.Equal(got, p.CAKey) {
		t.Error("an existing key was overwritten")
	}
}

func TestFileStoreConcurrentCreationMakesOneRoot(t *testing.T) {
	const creators = 8
	dir := t.TempDir()
	var arrived sync.WaitGroup
	arrived.Add(creators)
	roots := loadConcurrently(t, creators, func() Store {
		return barrierStore{Store: NewFileStore(dir), arrived: &arrived}
	})
	for _, r := range roots[1:] {
		if !r.Equal(roots[0]) {
			t.Fatal("concurrent creators ended with different roots")
		}
	}
}

// loadConcurrently runs n LoadOrCreate at once, each on its own Store,
// and returns the roots they ended with.
func loadConcurrently(t *testing.T, n int, store func() Store) []*x509.Certificate {
	t.Helper()
	roots := make([]*x509.Certificate, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var m *Material
			m, _, errs[i] = LoadOrCreate(context.Background(), store(), RootOptions{TrustDomain: testTD})
			if m != nil {
				roots[i] = m.Cert
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return roots
}

// istiodSecret is a Secret as istiod writes it.
func istiodSecret(name string, p KeyCertPEM) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system"},
		Type:       "istio.io/ca-root",
		Data: map[string][]byte{
			"ca-cert.pem":    p.CACert,
			"ca-key.pem":     p.CAKey,
			"cert-chain.pem": p.CertChain,
			"key.pem":        nil,
			"root-cert.pem":  p.RootCert,
		},
	}
}

func TestSecretStoreAdoptsIstiodRoot(t *testing.T) {
	p, _ := NewSelfSignedRoot(RootOptions{TrustDomain: testTD, KeyType: KeyRSA})
	client := fake.NewClientset(istiodSecret("istio-ca-secret", p))
	m, created, err := LoadOrCreate(context.Background(), NewSecretStore(client, "istio-system"), RootOptions{TrustDomain: testTD})
	if err != nil || created {
		t.Fatalf("LoadOrCreate: created=%v err=%v", created, err)
	}
	if want := mustParseMaterial(t, p); !m.Cert.Equal(want.Cert) {
		t.Error("istiod's root was not adopted")
	}
	if m.Source != "Secret istio-system/istio-ca-secret" {
		t.Errorf("source = %q", m.Source)
	}
}

func TestSecretStoreCacertsWins(t *testing.T) {
	self, _ := NewSelfSignedRoot(RootOptions{TrustDomain: testTD})
	plugged, root := pluggedMaterial(t)
	client := fake.NewClientset(istiodSecret("istio-ca-secret", self), istiodSecret("cacerts", plugged))
	m, _, err := LoadOrCreate(context.Background(), NewSecretStore(client, "istio-system"), RootOptions{TrustDomain: testTD})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Plugged || !m.Root().Equal(root.Cert) || m.Source != "Secret istio-system/cacerts" {
		t.Errorf("material from %q (plugged=%v), want cacerts' intermediate", m.Source, m.Plugged)
	}
}

func TestSecretStoreBrokenSecretIsNotReplaced(t *testing.T) {
	broken := istiodSecret("istio-ca-secret", KeyCertPEM{CACert: []byte("junk")})
	client := fake.NewClientset(broken)
	_, _, err := LoadOrCreate(context.Background(), NewSecretStore(client, "istio-system"), RootOptions{TrustDomain: testTD})
	if err == nil || !strings.Contains(err.Error(), "istio-system/istio-ca-secret has no ca-key.pem") {
		t.Errorf("error = %v, want one naming the Secret and the missing key", err)
	}
	got, _ := client.CoreV1().Secrets("istio-system").Get(context.Background(), "istio-ca-secret", metav1.GetOptions{})
	if string(got.Data["ca-cert.pem"]) != "junk" {
		t.Error("the broken Secret was replaced")
	}
}

func TestSecretStoreCreatesIstiodFormat(t *testing.T) {
	client := fake.NewClientset()
	m, created, err := LoadOrCreate(context.Background(), NewSecretStore(client, "istio-system"), RootOptions{TrustDomain: testTD})
	if err != nil || !created {
		t.Fatalf("LoadOrCreate: created=%v err=%v", created, err)
	}
	sec, err := client.CoreV1().Secrets("istio-system").Get(context.Background(), "istio-ca-secret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Type != "istio.io/ca-root" {
		t.Errorf("type = %q, want istio.io/ca-root", sec.Type)
	}
	for _, k := range []string{"ca-cert.pem", "ca-key.pem", "cert-chain.pem", "key.pem", "root-cert.pem"} {
		if _, ok := sec.Data[k]; !ok {
			t.Errorf("key %s missing", k)
		}
	}
	stored := mustParseMaterial(t, KeyCertPEM{CACert: sec.Data["ca-cert.pem"], CAKey: sec.Data["ca-key.pem"]})
	if !stored.Cert.Equal(m.Cert) {
		t.Error("the stored root is not the one returned")
	}
}

func TestSecretStoreConcurrentCreationMakesOneRoot(t *testing.T) {
	const replicas = 5
	client := fake.NewClientset()
	// Every replica finds no Secret and creates its own root before any
	// creation reaches the API server, the worst interleaving.
	var arrived sync.WaitGroup
	arrived.Add(replicas)
	roots := loadConcurrently(t, replicas, func() Store {
		return barrierStore{Store: NewSecretStore(client, "istio-system"), arrived: &arrived}
	})
	for _, r := range roots[1:] {
		if !r.Equal(roots[0]) {
			t.Fatal("replicas ended with different roots")
		}
	}
	list, _ := client.CoreV1().Secrets("istio-system").List(context.Background(), metav1.ListOptions{})
	if len(list.Items) != 1 {
		t.Errorf("%d Secrets stored, want 1", len(list.Items))
	}
}

// barrierStore holds every CreateIfAbsent until all replicas have called
// it. (A blocking fake-clientset reactor would deadlock: the fake holds
// its lock while reactors run.)
type barrierStore struct {
	Store
	arrived *sync.WaitGroup
}

func (b barrierStore) CreateIfAbsent(ctx context.Context, p KeyCertPEM) (KeyCertPEM, error) {
	b.arrived.Done()
	b.arrived.Wait()
	return b.Store.CreateIfAbsent(ctx, p)
}
