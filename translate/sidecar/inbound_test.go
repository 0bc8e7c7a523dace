package sidecar

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// The TLS inspector runs exactly where some chain matches on TLS: ports
// that take plaintext only must see every connection as raw_buffer.
func TestTLSInspectorPorts(t *testing.T) {
	port := func(p int32) *listenerv3.ListenerFilterChainMatchPredicate {
		return &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_DestinationPortRange{
			DestinationPortRange: &typev3.Int32Range{Start: p, End: p + 1},
		}}
	}
	anyOf := func(ps ...*listenerv3.ListenerFilterChainMatchPredicate) *listenerv3.ListenerFilterChainMatchPredicate {
		return &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_OrMatch{
			OrMatch: &listenerv3.ListenerFilterChainMatchPredicate_MatchSet{Rules: ps},
		}}
	}
	for _, tc := range []struct {
		name    string
		inspect map[uint32]bool
		// present says whether there is an inspector at all.
		present  bool
		disabled *listenerv3.ListenerFilterChainMatchPredicate
	}{
		{name: "nothing matches TLS", inspect: map[uint32]bool{0: false, 8080: false}},
		{name: "everything matches TLS", inspect: map[uint32]bool{0: true, 8080: true}, present: true},
		{
			name:    "plaintext-only ports are left out",
			inspect: map[uint32]bool{0: true, 8080: true, 9090: false, 15090: false},
			present: true, disabled: anyOf(port(9090), port(15090)),
		},
		{
			name:    "only the ports that match TLS are inspected",
			inspect: map[uint32]bool{0: false, 8080: true, 9090: false},
			present: true, disabled: &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_NotMatch{NotMatch: port(8080)}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tlsInspector(tc.inspect)
			if (f != nil) != tc.present {
				t.Fatalf("inspector present = %v, want %v", f != nil, tc.present)
			}
			if diff := cmp.Diff(tc.disabled, f.GetFilterDisabled(), protocmp.Transform()); diff != "" {
				t.Errorf("filter_disabled (-want +got):\n%s", diff)
			}
		})
	}
}

// A wildcard defaultEndpoint is the workload's own address of that
// family, loopback when it has none.
func TestIngressAddress(t *testing.T) {
	ips := []string{"10.0.0.5", "fd00::5"}
	for _, tc := range []struct {
		endpoint string
		ips      []string
		want     string
	}{
		{"0.0.0.0:9000", ips, "10.0.0.5"},
		{"[::]:9000", ips, "fd00::5"},
		{"[::]:9000", ips[:1], "::1"},
		{"0.0.0.0:9000", nil, "127.0.0.1"},
		{"127.0.0.1:9000", ips, "127.0.0.1"},
	} {
		addr, ok := ingressAddress(tc.endpoint, tc.ips)
		if !ok || addr.GetSocketAddress().GetAddress() != tc.want || addr.GetSocketAddress().GetPortValue() != 9000 {
			t.Errorf("ingressAddress(%q, %v) = %v, %v; want %s:9000", tc.endpoint, tc.ips, addr, ok, tc.want)
		}
	}
	if addr, ok := ingressAddress("", ips); !ok || addr != nil {
		t.Errorf(`ingressAddress("") = %v, %v; want nil (pass through), true`, addr, ok)
	}
	if _, ok := ingressAddress("10.0.0.1:80", ips); ok {
		t.Error("ingressAddress accepted an address istiod does not")
	}
}
