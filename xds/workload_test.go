package xds

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// optedIn is n's node asking for its workload secrets over ADS.
func optedIn(n xdstest.Node) *corev3.Node {
	node := n.Proto()
	node.Metadata.Fields[model.MetaWorkloadSDS] = structpb.NewStringValue("true")
	return node
}

// workloadIdentity is what a proxy received as "default" and "ROOTCA":
// the certificate (checked to match the key) and the trust bundle.
type workloadIdentity struct {
	cert   *x509.Certificate
	keyPEM string
	roots  string
}

func receivedIdentity(t *testing.T, u client.Update) workloadIdentity {
	t.Helper()
	cert, ok1 := u.Resources[workloadCertName].(*tlsv3.Secret)
	root, ok2 := u.Resources[workloadRootName].(*tlsv3.Secret)
	if !ok1 || !ok2 {
		t.Fatalf("got %s %v, want secrets default and ROOTCA", u.TypeURL, slices.Sorted(maps.Keys(u.Resources)))
	}
	tc := cert.GetTlsCertificate()
	pair, err := tls.X509KeyPair(tc.GetCertificateChain().GetInlineBytes(), tc.GetPrivateKey().GetInlineBytes())
	if err != nil {
		t.Fatalf("default is not a usable key pair: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return workloadIdentity{cert: leaf, keyPEM: string(tc.GetPrivateKey().GetInlineBytes()),
		roots: string(root.GetValidationContext().GetTrustedCa().GetInlineBytes())}
}

// leafURI returns the SPIFFE id of the default secret in u.
func leafURI(t *testing.T, u client.Update) string {
	t.Helper()
	s, ok := u.Resources[workloadCertName].(*tlsv3.Secret)
	if !ok {
		t.Fatalf("no default secret in %v", slices.Sorted(maps.Keys(u.Resources)))
	}
	block, _ := pem.Decode(s.GetTlsCertificate().GetCertificateChain().GetInlineBytes())
	if block == nil {
		t.Fatal("the default secret's chain is not PEM")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil || len(leaf.URIs) != 1 {
		t.Fatalf("the default secret's leaf: %v, URIs %v", err, leaf.URIs)
	}
	return leaf.URIs[0].String()
}

// A plain Envoy that opted in and proved its identity on the TLS port
// gets a key pair minted for that identity and the trust bundle; two
// identities never see each other's; streams of one identity share one.
func TestWorkloadSecretsPerIdentity(t *testing.T) {
	h := newHarness(t)
	h.install(modeltest.Mesh{Services: 2, Endpoints: 1, Namespaces: 2}.Build())
	port := h.serveTLS()
	hour := time.Now().Add(time.Hour)
	got := map[string]workloadIdentity{}
	for i, who := range []struct{ ns, sa string }{{"ns-0", "ratings"}, {"ns-1", "reviews"}, {"ns-0", "ratings"}} {
		node := xdstest.Node{Pod: fmt.Sprintf("envoy-%d", i), Namespace: who.ns, IP: modeltest.PodIP(i), ServiceAccount: who.sa}
		c := port.dial(t, optedIn(node), creds{token: port.reviews.issue(who.ns, who.sa, hour, "istio-ca")}, client.Options{Delta: i == 1})
		subscribe(t, c, resource.SecretType, workloadCertName, workloadRootName)
		id := receivedIdentity(t, next(t, c))
		want := fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/%s", who.ns, who.sa)
		if len(id.cert.URIs) != 1 || id.cert.URIs[0].String() != want {
			t.Fatalf("%s/%s got a certificate for %v", who.ns, who.sa, id.cert.URIs)
		}
		if id.roots != string(port.issuer.TrustBundlePEM()) {
			t.Errorf("ROOTCA is not the trust bundle")
		}
		if prev, ok := got[want]; ok && prev.keyPEM != id.keyPEM {
			t.Errorf("two streams of %s got different keys", want)
		}
		got[want] = id
	}
	if len(got) != 2 {
		t.Fatalf("identities served: %v", slices.Sorted(maps.Keys(got)))
	}
	var keys []string
	for _, id := range got {
		keys = append(keys, id.keyPEM)
	}
	if keys[0] == keys[1] {
		t.Error("two identities share a key")
	}
	if n := h.metric("pilotlight_xds_workload_certificates_minted_total", map[string]string{"reason": mintFirst}); n != 2 {
		t.Errorf("minted %v times, want once per identity (2)", n)
	}

	// The key is in neither config_dump nor the logs.
	dump := configDump(t, h, optedIn(xdstest.Node{Pod: "envoy-0", Namespace: "ns-0", IP: modeltest.PodIP(0)}).GetId())
	if !strings.Contains(dump, `"default"`) || !strings.Contains(dump, "[redacted]") {
		t.Errorf("config_dump misses the redacted workload secret:\n%s", dump)
	}
	for _, id := range got {
		block, _ := pem.Decode([]byte(id.keyPEM))
		for _, form := range []string{id.keyPEM, base64.StdEncoding.EncodeToString([]byte(id.keyPEM)), base64.StdEncoding.EncodeToString(block.Bytes)} {
			if strings.Contains(dump, form) {
				t.Fatal("config_dump shows a minted private key")
			}
			for _, e := range h.logs.All() {
				if strings.Contains(e.Message+fmtFields(e.ContextMap()), form) {
					t.Fatalf("log line shows a minted private key: %s", e.Message)
				}
			}
		}
	}
}

// Workload secrets are never minted for a stream that did not opt in,
// nor for one that proved no identity, even where plaintext streams may
// have gateway secrets.
func TestWorkloadSecretsNeedOptInAndIdentity(t *testing.T) {
	h := newHarness(t, withOptions(func(o *Options) { o.ServeCredentials = true }))
	h.install(modeltest.Mesh{Services: 2, Endpoints: 1, Namespaces: 1}.Build())
	port := h.serveTLS()
	node := xdstest.Node{Pod: "envoy-0", Namespace: "ns-0", IP: modeltest.PodIP(0), ServiceAccount: "ratings"}
	tok := port.reviews.issue("ns-0", "ratings", time.Now().Add(time.Hour), "istio-ca")
	for name, c := range map[string]*client.Client{
		"authenticated, not opted in": port.dial(t, node.Proto(), creds{token: tok}, client.Options{}),
		"opted in over plaintext":     h.dial(optedIn(node), client.Options{}),
	} {
		subscribe(t, c, resource.SecretType, workloadCertName, workloadRootName)
		u := next(t, c)
		if u.TypeURL != resource.SecretType || len(u.Resources) != 0 {
			t.Errorf("%s: got %s with %v, want an empty secrets answer", name, u.TypeURL, slices.Sorted(maps.Keys(u.Resources)))
		}
	}
	if n := h.metric("pilotlight_xds_workload_certificates_minted_total", map[string]string{"reason": mintFirst}); n != 0 {
		t.Errorf("minted %v certificates, want none", n)
	}
	if h.logs.FilterMessageSnippet("asks for its workload certificate").Len() != 1 {
		t.Error("the plaintext node's request for its workload certificate is not logged once")
	}
}

// Minted secrets are pushed again, with a new key, at about half their
// life and when the trust bundle changes; a stream is pushed only its
// own identity's.
func TestWorkloadSecretsRenewal(t *testing.T) {
	h := newHarness(t, withOptions(func(o *Options) { o.WorkloadRenewCheck = time.Hour }))
	h.install(modeltest.Mesh{Services: 1, Endpoints: 1, Namespaces: 2}.Build())
	port := h.serveTLS()
	w := h.srv.cache.workload.Load()
	clock := time.Now()
	w.now = func() time.Time { return clock }
	hour := time.Now().Add(time.Hour)
	dial := func(ns string, delta bool) *client.Client {
		node := xdstest.Node{Pod: "envoy", Namespace: ns, IP: modeltest.PodIP(0), ServiceAccount: "web"}
		c := port.dial(t, optedIn(node), creds{token: port.reviews.issue(ns, "web", hour, "istio-ca")}, client.Options{Delta: delta})
		subscribe(t, c, resource.SecretType, workloadCertName, workloadRootName)
		return c
	}
	web0, web1 := dial("ns-0", false), dial("ns-1", true)
	first := receivedIdentity(t, next(t, web0))
	receivedIdentity(t, next(t, web1))
	life := first.cert.NotAfter.Sub(clock)

	// Before the earliest renewal (half life less a tenth): nothing.
	clock = clock.Add(life*2/5 - time.Minute)
	h.srv.cache.pushWorkloadSecrets()
	quiet(t, web0, 100*time.Millisecond)

	// Past half life: both are renewed, each with its own new key.
	clock = clock.Add(life / 10)
	h.srv.cache.pushWorkloadSecrets()
	renewed := receivedIdentity(t, next(t, web0))
	if renewed.keyPEM == first.keyPEM || renewed.cert.SerialNumber.Cmp(first.cert.SerialNumber) == 0 {
		t.Error("renewal kept the key or the certificate")
	}
	// Delta: only default changed.
	if u := next(t, web1); len(u.Resources) != 1 || leafURI(t, u) != "spiffe://cluster.local/ns/ns-1/sa/web" {
		t.Errorf("ns-1's stream was pushed %v, want only its own renewed default", slices.Sorted(maps.Keys(u.Resources)))
	}

	// A new root in the trust bundle: both secrets are pushed again at
	// once (the periodic check is an hour away), ROOTCA with the root.
	extra := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: foreignCert(t).Leaf.Raw})
	port.issuer.addRoot(extra)
	after := receivedIdentity(t, next(t, web0))
	if !strings.Contains(after.roots, string(extra)) {
		t.Error("ROOTCA misses the new root")
	}
	if after.keyPEM == renewed.keyPEM {
		t.Error("a trust bundle change did not reissue the certificate")
	}
	if u := next(t, web1); len(u.Resources) != 2 || leafURI(t, u) != "spiffe://cluster.local/ns/ns-1/sa/web" {
		t.Errorf("after the trust bundle changed ns-1's stream was pushed %v, want its new default and ROOTCA", slices.Sorted(maps.Keys(u.Resources)))
	}
	for reason, want := range map[string]float64{mintFirst: 2, mintHalfLife: 2, mintRoots: 2} {
		if n := h.metric("pilotlight_xds_workload_certificates_minted_total", map[string]string{"reason": reason}); n != want {
			t.Errorf("minted for %s: %v, want %v", reason, n, want)
		}
	}

	// The last stream of an identity takes its secrets with it.
	web1.Close()
	waitFor(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.byID) == 1
	})
}
