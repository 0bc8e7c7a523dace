package xds

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
	"github.com/pilotlight/pilotlight/xds/debugapi"
)

func TestNACKIsLoggedOnceAndNotResent(t *testing.T) {
	for _, delta := range []bool{false, true} {
		name := "sotw"
		if delta {
			name = "delta"
		}
		t.Run(name, func(t *testing.T) { testNACK(t, delta) })
	}
}

func testNACK(t *testing.T, delta bool) {
	h := newHarness(t)
	mesh := modeltest.Mesh{Services: 5, Endpoints: 1}
	h.install(mesh.Build())
	bad := resource.OutboundClusterName(8080, "", modeltest.Hostname("svc-2", "ns-0"))
	var rejecting atomic.Bool
	rejecting.Store(true)
	node := sidecarNode("picky", "ns-0", "10.200.0.1")
	c := h.dial(node.Proto(), client.Options{Delta: delta, Reject: func(_, name string, _ *anypb.Any) error {
		if rejecting.Load() && name == bad {
			return errors.New("cluster not to my taste")
		}
		return nil
	}})
	subscribe(t, c, resource.ClusterType)
	u := next(t, c)
	if u.Rejected == nil {
		t.Fatal("the client did not reject the response")
	}

	// No re-send loop: the server holds the rejected version.
	quiet(t, c, 300*time.Millisecond)
	if got := c.Stats().Responses; got != 1 {
		t.Errorf("client received %d responses, want 1", got)
	}
	nacks := h.logs.FilterMessage("proxy rejected configuration")
	if nacks.Len() != 1 {
		t.Fatalf("%d NACK log lines, want 1", nacks.Len())
	}
	fields := nacks.All()[0].ContextMap()
	for key, want := range map[string]string{"proxy": node.Proto().GetId(), "type": resource.ClusterType, "nonce": u.Nonce, "version": u.Version} {
		if fields[key] != want {
			t.Errorf("NACK log field %s = %v, want %q", key, fields[key], want)
		}
	}
	if msg, _ := fields["error"].(string); msg == "" {
		t.Error("NACK log line has no error message")
	}
	if got := h.metric("pilotlight_xds_nacks_total", map[string]string{"type": "cds"}); got != 1 {
		t.Errorf("nacks counter = %v, want 1", got)
	}
	ts := typeStatus(t, h, node.Proto().GetId(), resource.ClusterType)
	if ts.LastNACK == nil || ts.LastNACK.Nonce != u.Nonce || ts.Status != debugapi.StatusStale {
		t.Errorf("syncz after NACK: %+v, want STALE with the NACK of nonce %s", ts, u.Nonce)
	}

	// An endpoint change does not touch clusters: still nothing.
	b := mesh.Builder()
	b.AddEndpoints(modeltest.Endpoint(modeltest.Hostname("svc-2", "ns-0"), "ns-0", "10.250.0.1", 0))
	h.install(b.Build())
	quiet(t, c, 200*time.Millisecond)

	// A fixed version that the client accepts clears the NACK.
	rejecting.Store(false)
	b = mesh.Builder()
	b.AddService(modeltest.Mesh{Services: 6}.Build().Service(modeltest.Hostname("svc-5", "ns-0")))
	h.install(b.Build())
	u = next(t, c)
	if u.Rejected != nil {
		t.Fatalf("rejected again: %v", u.Rejected)
	}
	waitFor(t, func() bool {
		ts := typeStatus(t, h, node.Proto().GetId(), resource.ClusterType)
		return ts.LastNACK == nil && ts.Status == debugapi.StatusSynced
	})
	if n := h.logs.FilterMessage("proxy rejected configuration").Len(); n != 1 {
		t.Errorf("%d NACK log lines, want 1", n)
	}
}

func typeStatus(t *testing.T, h *harness, proxy, typeURL string) debugapi.TypeStatus {
	t.Helper()
	for _, s := range h.srv.cache.Syncz() {
		if s.Proxy == proxy {
			return s.Types[typeURL]
		}
	}
	t.Fatalf("proxy %s not in syncz", proxy)
	return debugapi.TypeStatus{}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", patience)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
