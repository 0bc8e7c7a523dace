package xds

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
	"github.com/pilotlight/pilotlight/xds/debugapi"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

const keyMarker = "PRIVATEKEYBYTES-do-not-print"

// gatewayMesh: a Gateway in shop terminating TLS with web-cert, and a
// web-cert Secret in two namespaces with different bytes.
func gatewayMesh(keyVersion string) *model.Snapshot {
	b := model.NewBuilder()
	b.AddConfig(&model.Config{Kind: model.KindGateway, Namespace: "shop", Name: "web", Spec: &networkingv1alpha3.Gateway{
		Selector: map[string]string{"istio": "ingressgateway"},
		Servers: []*networkingv1alpha3.Server{{
			Port:  &networkingv1alpha3.Port{Number: 443, Name: "https", Protocol: "HTTPS"},
			Hosts: []string{"*"},
			Tls:   &networkingv1alpha3.ServerTLSSettings{Mode: networkingv1alpha3.ServerTLSSettings_SIMPLE, CredentialName: "web-cert"},
		}},
	}})
	for _, ns := range []string{"istio-system", "shop"} {
		b.AddCredential(&model.Credential{Namespace: ns, Name: "web-cert",
			Cert: []byte("cert of " + ns), PrivateKey: model.SecretBytes(keyMarker + " " + keyVersion + " of " + ns)})
	}
	return b.Build()
}

func gatewayNode(pod, ns string) xdstest.Node {
	return xdstest.Node{Type: "router", Pod: pod, Namespace: ns, IP: "10.244.0.5", ServiceAccount: "ingress",
		Labels: map[string]string{"istio": "ingressgateway"}}
}

func privateKey(t *testing.T, u client.Update, name string) string {
	t.Helper()
	s, ok := u.Resources[name].(*tlsv3.Secret)
	if !ok {
		t.Fatalf("no secret %s in %v", name, slices.Sorted(maps.Keys(u.Resources)))
	}
	return string(s.GetTlsCertificate().GetPrivateKey().GetInlineBytes())
}

// With secrets allowed, the cache serves SDS like any other type: a
// named subscription resolves against the router's Outbound set, which
// holds the Secret of the router's own namespace only; a rotated Secret
// is pushed; config_dump never shows the key.
func TestSecretsServedFromTheGeneratorsOutboundSet(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(map[bool]string{false: "sotw", true: "delta"}[delta], func(t *testing.T) {
			h := newHarness(t, withOptions(func(o *Options) { o.ServeCredentials = true }))
			h.install(gatewayMesh("v1"))
			name := gateway0SDSName

			ingress := h.dial(gatewayNode("ingress", "istio-system").Proto(), client.Options{Delta: delta})
			subscribe(t, ingress, resource.SecretType, name)
			u := next(t, ingress)
			if got := privateKey(t, u, name); got != keyMarker+" v1 of istio-system" {
				t.Fatalf("ingress got key %q", got)
			}
			if diff := cmp.Diff(reference(t, h.srv.cache.Snapshot(), gatewayNode("ingress", "istio-system"), resource.SecretType, []string{name}),
				u.Resources, protocmp.Transform()); diff != "" {
				t.Errorf("served secret differs from the generator's (-want +got):\n%s", diff)
			}

			// A router elsewhere, asking for the same name, gets its own
			// namespace's Secret and never istio-system's.
			other := h.dial(gatewayNode("rogue", "shop").Proto(), client.Options{Delta: delta})
			subscribe(t, other, resource.SecretType, name)
			if got := privateKey(t, next(t, other), name); got != keyMarker+" v1 of shop" {
				t.Fatalf("shop router got key %q", got)
			}

			// Rotation: the new bytes are pushed, and nothing but secrets
			// is rebuilt.
			subscribe(t, ingress, resource.ListenerType)
			if u := next(t, ingress); u.TypeURL != resource.ListenerType {
				t.Fatalf("got %s, want listeners", u.TypeURL)
			}
			full := h.metric("pilotlight_xds_full_pushes_total", nil)
			lds := h.metric("pilotlight_xds_generated_resources_total", map[string]string{"type": "lds"})
			h.install(gatewayMesh("v2"))
			if got := privateKey(t, next(t, ingress), name); got != keyMarker+" v2 of istio-system" {
				t.Fatalf("after rotation ingress got key %q", got)
			}
			quiet(t, ingress, 100*time.Millisecond)
			if got := h.metric("pilotlight_xds_full_pushes_total", nil); got != full {
				t.Errorf("a rotated certificate caused a full push (%v -> %v)", full, got)
			}
			if got := h.metric("pilotlight_xds_generated_resources_total", map[string]string{"type": "lds"}); got != lds {
				t.Errorf("a rotated certificate rebuilt listeners (%v -> %v)", lds, got)
			}

			dump := configDump(t, h, gatewayNode("ingress", "istio-system").Proto().GetId())
			if !strings.Contains(dump, name) || strings.Contains(dump, "UFJJVkFURUtFWUJZVEVT") || strings.Contains(dump, keyMarker) {
				t.Errorf("config_dump shows the key or misses the secret:\n%s", dump)
			}
		})
	}
}

const gateway0SDSName = "kubernetes://web-cert"

// By default no secret is ever served: the subscription is refused (no
// answer, a metric, one log line per stream) while the rest of the
// router's config keeps flowing on the same stream.
func TestSecretsRefusedUnlessAllowed(t *testing.T) {
	h := newHarness(t)
	h.install(gatewayMesh("v1"))
	for _, delta := range []bool{false, true} {
		c := h.dial(gatewayNode("ingress", "istio-system").Proto(), client.Options{Delta: delta})
		subscribe(t, c, resource.SecretType, gateway0SDSName)
		subscribe(t, c, resource.SecretType, gateway0SDSName, "kubernetes://other")
		subscribe(t, c, resource.ListenerType)
		if u := next(t, c); u.TypeURL != resource.ListenerType || len(u.Resources) != 1 {
			t.Fatalf("got %s with %d resources, want the router's listener", u.TypeURL, len(u.Resources))
		}
		quiet(t, c, 300*time.Millisecond)
	}
	if got := h.metric("pilotlight_xds_refused_secret_requests_total", nil); got < 4 {
		t.Errorf("refused secret requests counted %v, want at least 4", got)
	}
	refusals := h.logs.FilterMessageSnippet("refusing secrets").All()
	if len(refusals) != 2 {
		t.Errorf("%d refusal log lines, want one per stream (2)", len(refusals))
	}
	for _, e := range h.logs.All() {
		if strings.Contains(e.Message, keyMarker) || strings.Contains(fmtFields(e.ContextMap()), keyMarker) {
			t.Errorf("log line shows a key: %s %v", e.Message, e.ContextMap())
		}
	}
}

func fmtFields(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func configDump(t *testing.T, h *harness, id string) string {
	t.Helper()
	resp, err := http.Get(h.debug.URL + debugapi.ConfigDumpPath + "?" + debugapi.ProxyIDParam + "=" + url.QueryEscape(id))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("config_dump: %v %s %s", err, resp.Status, b)
	}
	return string(b)
}
