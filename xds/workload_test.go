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

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"

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

// Every secret an opted-in plain Envoy's config names is served to it on
// its own stream: its clusters (auto mTLS, and an ISTIO_MUTUAL
// DestinationRule) and its STRICT inbound chains name "default" and
// "ROOTCA" over ADS, and subscribing to what they name yields its
// certificate and the trust bundle. The same workload without the
// opt-in (an istio-agent sidecar) names them through the agent's
// sds-grpc cluster.
func TestWorkloadSecretsNamedByConfigAreServed(t *testing.T) {
	h := newHarness(t)
	b := modeltest.Mesh{Services: 2, Endpoints: 1, Namespaces: 1}.Builder()
	b.AddConfig(&model.Config{Kind: model.KindPeerAuthentication, Namespace: "ns-0", Name: "default", Spec: &securityv1beta1.PeerAuthentication{
		Mtls: &securityv1beta1.PeerAuthentication_MutualTLS{Mode: securityv1beta1.PeerAuthentication_MutualTLS_STRICT},
	}})
	b.AddConfig(&model.Config{Kind: model.KindDestinationRule, Namespace: "ns-0", Name: "svc-1", Spec: &networkingv1alpha3.DestinationRule{
		Host:          "svc-1",
		TrafficPolicy: &networkingv1alpha3.TrafficPolicy{Tls: &networkingv1alpha3.ClientTLSSettings{Mode: networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL}},
	}})
	h.install(b.Build())
	port := h.serveTLS()
	// svc-0's endpoint: the workload has an inbound side.
	node := xdstest.Node{Pod: "svc-0-abc", Namespace: "ns-0", IP: modeltest.PodIP(0), ServiceAccount: "default"}
	tok := port.reviews.issue("ns-0", "default", time.Now().Add(time.Hour), "istio-ca")

	for _, tc := range []struct {
		name string
		node *corev3.Node
		ads  bool
	}{{"opted in", optedIn(node), true}, {"istio-agent sidecar", node.Proto(), false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := port.dial(t, tc.node, creds{token: tok}, client.Options{Delta: true})
			refs := map[string]*tlsv3.SdsSecretConfig{}
			for _, typ := range []string{resource.ClusterType, resource.ListenerType} {
				subscribe(t, c, typ)
				u := next(t, c)
				if u.TypeURL != typ {
					t.Fatalf("got %s, want %s", u.TypeURL, typ)
				}
				named := map[string]*tlsv3.SdsSecretConfig{}
				for _, m := range u.Resources {
					sdsRefs(t, m, named)
					sdsRefs(t, m, refs)
				}
				// Clusters by mTLS, listeners by the STRICT inbound chains.
				if len(named) != 2 {
					t.Fatalf("%s name secrets %v, want ROOTCA and default", typ, slices.Sorted(maps.Keys(named)))
				}
			}
			if got := slices.Sorted(maps.Keys(refs)); !slices.Equal(got, []string{workloadRootName, workloadCertName}) {
				t.Fatalf("config names secrets %v, want ROOTCA and default", got)
			}
			for name, sc := range refs {
				ads := sc.GetSdsConfig().GetAds() != nil
				services := sc.GetSdsConfig().GetApiConfigSource().GetGrpcServices()
				agent := len(services) == 1 && services[0].GetEnvoyGrpc().GetClusterName() == "sds-grpc"
				if ads != tc.ads || agent == tc.ads {
					t.Errorf("%s is fetched from %v, want ADS = %v", name, sc.GetSdsConfig(), tc.ads)
				}
			}
			if !tc.ads {
				return
			}
			subscribe(t, c, resource.SecretType, slices.Sorted(maps.Keys(refs))...)
			id := receivedIdentity(t, next(t, c))
			if len(id.cert.URIs) != 1 || id.cert.URIs[0].String() != "spiffe://cluster.local/ns/ns-0/sa/default" {
				t.Errorf("default is a certificate for %v", id.cert.URIs)
			}
			if id.roots != string(port.issuer.TrustBundlePEM()) {
				t.Error("ROOTCA is not the trust bundle")
			}
		})
	}
}

// sdsRefs adds to refs the SDS secrets a cluster's or listener's TLS
// names, by name; two references to one name must agree.
func sdsRefs(t *testing.T, m proto.Message, refs map[string]*tlsv3.SdsSecretConfig) {
	t.Helper()
	var sockets []*corev3.TransportSocket
	switch r := m.(type) {
	case *clusterv3.Cluster:
		sockets = append(sockets, r.GetTransportSocket())
		for _, match := range r.GetTransportSocketMatches() {
			sockets = append(sockets, match.GetTransportSocket())
		}
	case *listenerv3.Listener:
		for _, fc := range append(r.GetFilterChains(), r.GetDefaultFilterChain()) {
			sockets = append(sockets, fc.GetTransportSocket())
		}
	}
	for _, ts := range sockets {
		cfg := ts.GetTypedConfig()
		var common *tlsv3.CommonTlsContext
		up, down := &tlsv3.UpstreamTlsContext{}, &tlsv3.DownstreamTlsContext{}
		switch {
		case cfg.MessageIs(up):
			if err := cfg.UnmarshalTo(up); err != nil {
				t.Fatal(err)
			}
			common = up.GetCommonTlsContext()
		case cfg.MessageIs(down):
			if err := cfg.UnmarshalTo(down); err != nil {
				t.Fatal(err)
			}
			common = down.GetCommonTlsContext()
		default:
			continue
		}
		for _, sc := range append(slices.Clone(common.GetTlsCertificateSdsSecretConfigs()),
			common.GetValidationContextSdsSecretConfig(), common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig()) {
			if sc == nil {
				continue
			}
			if prev, ok := refs[sc.GetName()]; ok && !proto.Equal(prev, sc) {
				t.Fatalf("%s is named with two config sources: %v and %v", sc.GetName(), prev, sc)
			}
			refs[sc.GetName()] = sc
		}
	}
}
