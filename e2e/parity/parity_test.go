// Package parity compares pilotlight with istiod on one mesh: both read
// the same API server (the test bed of package cluster) holding a mesh
// that uses Istio's traffic API — VirtualServices with every HTTP route
// feature and a TCP split, DestinationRules with subsets, load balancing,
// connection pools, outlier detection and TLS, ServiceEntries (DNS and
// STATIC), a Sidecar that scopes a namespace, and a Gateway with HTTP and
// HTTPS routes — and pilotlight's own ADS client fetches what each gives
// one sidecar and one ingress gateway. Both configurations are reduced to
// facts (what Envoy does, not what things are called; see facts_test.go)
// and compared. Every difference must be on the short list of accepted
// ones below, each with its reason.
//
// Run it alone with
//
//	cd e2e && go test ./parity -run Parity -v
//
// With PARITY_DUMP=DIR it also writes both sides' facts and resources
// there, for reading a difference in full.
package parity

import (
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/e2e/framework/cluster"
)

// allowed are the differences between istiod's and pilotlight's
// configurations that are understood and accepted. A real translation
// bug does not go here: it fails the test until it is fixed.
var allowed = []allowance{
	{"", `L \S+ (http|http \{.*\}) hcm http_filter FilterConfig`, onlyIstiod,
		"istio.alpn, an istio-proxy extension, rewrites the ALPN of upstream Istio mTLS to the downstream protocol (istio-h2...); pilotlight's clusters offer istio-peer-exchange and istio (and h2), which a PERMISSIVE server's mTLS chain matches all the same"},
	// Inbound: both terminate Istio mTLS per port by the PeerAuthentication
	// mode (PERMISSIVE here), but the chains are laid out differently.
	{"sidecar", `L 0\.0\.0\.0:15006 .*`, anyKind,
		"inbound listener: istiod also sniffs HTTP on the passthrough chains (protocol-detection chains, HTTP inspector per port, metadata-exchange and stats filters); pilotlight's passthrough chains are TCP only and its mTLS chains carry no istio-proxy extensions"},
	{"sidecar", `R 0\.0\.0\.0:15006 .*`, anyKind,
		"inbound routes: one table per inbound chain, mTLS or plaintext (the security issue compares inbound)"},
	{"sidecar", `C (inbound\|\S+|InboundPassthroughCluster) .*`, anyKind,
		"inbound clusters (the security issue compares inbound)"},

	// pilotlight does not sniff protocols (the lead's decision): a port
	// declared HTTP is served as HTTP.
	{"sidecar", `L 0\.0\.0\.0:[0-9]+ (listener_filters|\.listener_filters_timeout|\.continue_on_listener_filters_timeout|default .*)`, onlyIstiod,
		"istiod inspects traffic on outbound HTTP ports (http_inspector) and passes what is not HTTP through (a default chain to PassthroughCluster); pilotlight does not sniff: a declared HTTP port is served as HTTP, non-HTTP traffic on it is not passed through"},
	{"sidecar", `L 0\.0\.0\.0:[0-9]+ http match`, differs,
		"istiod's HTTP chain on an outbound HTTP port matches what the http_inspector detected (raw_buffer, http/1.1 or h2c); pilotlight's takes every connection on the port (no sniffing, see above)"},

	// Both fail the same requests.
	{"sidecar", `R 0\.0\.0\.0:80 vhost (details|ratings|reviews)\.shop\.svc\.cluster\.local .*`, onlyIstiod,
		"istiod gives VirtualService hosts a virtual host on every HTTP port, also ports their Service lacks (80 here), routing to clusters outbound|80|… that do not exist (503); pilotlight sends such requests to the original destination (the ClusterIP on port 80), where nothing listens"},

	// Written differently, read alike.
	{"", `R \S+ \.ignore_port_in_host_matching`, onlyIstiod,
		"istiod tells Envoy to ignore the Host port; pilotlight lists each domain with and without the port (domain facts compare the hosts without ports)"},
	{"", `L \S+ \.max_connections_to_accept_per_socket_event`, onlyIstiod,
		"accept-loop tuning (connections accepted per wakeup); connections are handled the same"},
	{"sidecar", `C PassthroughCluster \.cleanup_interval`, onlyPilotlight,
		"how often an original-destination cluster forgets unused hosts: housekeeping, not routing"},
	{"gateway", `C PassthroughCluster .*`, onlyPilotlight,
		"pilotlight also sends PassthroughCluster to gateways; no gateway route refers to it"},
	{"", `C \S+ \.(dns_jitter|typed_dns_resolver_config)`, onlyIstiod,
		"DNS refresh jitter and an explicit c-ares resolver (Envoy's default resolver) for DNS clusters: same addresses"},
	{"", `C \S+ \.dns_lookup_family`, differs,
		"istiod resolves IPv4 only (V4_ONLY) for this IPv4-only proxy; pilotlight prefers IPv4 (V4_PREFERRED), the same addresses for names with A records"},
}

func TestParity(t *testing.T) {
	start := time.Now()
	l, bins := binaries(t)
	built := time.Since(start)

	c := cluster.Start(t, bins, cluster.Options{})
	kubeconfig := deployPilotlight(t, l, c)
	createMesh(t, c)
	t.Logf("mesh: %s; %d Pods", meshObjects(t), len(pods))

	ist, istiodStart := startIstiod(t, bins, c)
	t.Logf("istiod ready %v after start", istiodStart.Round(time.Millisecond))
	pl, pilotlightStart := startPilotlight(t, bins, c, kubeconfig)
	t.Logf("pilotlight ready %v after start", pilotlightStart.Round(time.Millisecond))

	proxies := []struct {
		name string
		pod  pod
		typ  string
	}{
		{"sidecar", sidecarPod, sidecarNode},
		{"gateway", gatewayPod, routerNode},
	}
	var diffs []difference
	for _, p := range proxies {
		node := proxyNode(t, p.pod, p.typ)
		fromIstiod := fetch(t, ist.GRPCAddr, node)
		fromPilotlight := fetch(t, pl.GRPCAddr, node)
		t.Logf("%s %s: istiod sent %s", p.name, node.GetId(), fromIstiod.summary())
		t.Logf("%s %s: pilotlight sent %s", p.name, node.GetId(), fromPilotlight.summary())
		want, got := reduce(fromIstiod.config), reduce(fromPilotlight.config)
		dump(t, p.name, fromIstiod, fromPilotlight, want, got)
		checkCoverage(t, p.name, "istiod", want)
		checkCoverage(t, p.name, "pilotlight", got)
		diffs = append(diffs, compare(p.name, want, got)...)
	}
	for _, cp := range []struct {
		name string
		rss  func() (int64, error)
	}{{"istiod", ist.PeakRSS}, {"pilotlight", pl.PeakRSS}} {
		b, err := cp.rss()
		if err != nil {
			t.Errorf("%s peak RSS: %v", cp.name, err)
			continue
		}
		t.Logf("%s peak RSS (VmHWM) on this mesh: %.1f MiB", cp.name, float64(b)/(1<<20))
	}

	j := judge(diffs, allowed)
	for i, a := range allowed {
		if len(j.accepted[i]) == 0 {
			t.Errorf("allowance matches no difference any more; remove it: %s %q (%s): %s", a.proxy, a.key, a.kind, a.why)
			continue
		}
		proxy := a.proxy
		if proxy == "" {
			proxy = "sidecar and gateway"
		}
		t.Logf("accepted %d difference(s) (%s, %s): %s", len(j.accepted[i]), proxy, a.kind, a.why)
	}
	if len(j.unexplained) > 0 {
		t.Errorf("%d difference(s) between istiod and pilotlight that no allowance explains:\n%s",
			len(j.unexplained), report(j.unexplained))
	}
	t.Logf("binaries ready in %v, whole test %v", built.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// checkCoverage fails the test if a side's facts lack what the mesh must
// produce, so that two empty or truncated configurations cannot agree
// their way to a pass.
func checkCoverage(t *testing.T, proxy, side string, f facts) {
	t.Helper()
	var want, unwanted []string
	switch proxy {
	case "sidecar":
		want = []string{
			"vhost reviews.shop.svc.cluster.local route#6 route .weighted_clusters",
			"vhost ratings.shop.svc.cluster.local route#1 route .timeout",
			"vhost details.shop.svc.cluster.local route#0 route .request_mirror_policies",
			"vhost httpbin.example.com route#0 route .retry_policy",
			"C outbound|9080|v3|reviews.shop.svc.cluster.local eds endpoint 10.244.130.3:9080",
			"C outbound|3306||legacy-db.internal",
			"tcp_proxy .weighted_clusters",
		}
		// The web namespace's Sidecar leaves namespace other out.
		unwanted = []string{"legacy.other.svc.cluster.local"}
	case "gateway":
		want = []string{
			"vhost shop.example.com route#2",
			"C outbound|9080|v1|reviews.shop.svc.cluster.local eds endpoint 10.244.130.1:9080",
		}
	}
	for _, w := range want {
		if !anyKeyContains(f, w) {
			t.Errorf("%s %s: no fact %q: the configuration misses part of the mesh", side, proxy, w)
		}
	}
	for _, u := range unwanted {
		if anyKeyContains(f, u) {
			t.Errorf("%s %s: has %q, which its Sidecar puts out of scope", side, proxy, u)
		}
	}
}

func anyKeyContains(f facts, s string) bool {
	for k := range f {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}
