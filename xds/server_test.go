package xds

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
	"github.com/pilotlight/pilotlight/xds/debugapi"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// streamError waits for the client's stream to end and returns its code.
func streamError(t *testing.T, c *client.Client) codes.Code {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(patience):
		t.Fatalf("stream still open after %v", patience)
	}
	return status.Code(c.Err())
}

func TestRefusedUntilFirstSnapshot(t *testing.T) {
	h := newHarness(t)
	if h.srv.Ready() {
		t.Fatal("ready before any snapshot")
	}
	if code, body := h.get(t, debugapi.ReadyPath); code != http.StatusServiceUnavailable {
		t.Errorf("/ready = %d %q, want 503", code, body)
	}
	node := sidecarNode("early", "ns-0", "10.200.0.1").Proto()
	for _, delta := range []bool{false, true} {
		c := h.dial(node, client.Options{Delta: delta})
		// The server may end the stream before this request is sent: then
		// Send reports io.EOF and the stream's status tells why.
		if err := c.Subscribe(resource.ClusterType); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		if code := streamError(t, c); code != codes.Unavailable {
			t.Errorf("delta=%v: stream ended with %v, want Unavailable", delta, code)
		}
	}

	h.install(modeltest.Mesh{Services: 2, Endpoints: 1}.Build())
	if code, body := h.get(t, debugapi.ReadyPath); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/ready = %d %q, want 200 ready", code, body)
	}
	c := h.dial(node, client.Options{})
	subscribe(t, c, resource.ClusterType)
	if u := next(t, c); len(u.Resources) == 0 {
		t.Error("served an empty config")
	}
}

func TestBadNodesAreRejected(t *testing.T) {
	h := newHarness(t)
	h.install(modeltest.Mesh{Services: 2, Endpoints: 1}.Build())
	liar := sidecarNode("liar", "ns-0", "10.200.0.1")
	liar.MetaNamespace = "istio-system"
	for name, n := range map[string]xdstest.Node{
		"namespace in id differs from metadata": liar,
		"unknown proxy type":                    {Type: "mystery", Pod: "x", Namespace: "ns-0", IP: "10.200.0.2"},
	} {
		for _, delta := range []bool{false, true} {
			c := h.dial(n.Proto(), client.Options{Delta: delta})
			subscribe(t, c, resource.ClusterType)
			if code := streamError(t, c); code != codes.InvalidArgument {
				t.Errorf("%s (delta=%v): stream ended with %v, want InvalidArgument", name, delta, code)
			}
		}
	}
	if n := h.logs.FilterMessage("refusing stream: bad node").Len(); n != 4 {
		t.Errorf("%d bad-node log lines, want one per stream (4)", n)
	}
	if got := h.metric("pilotlight_xds_connected_proxies", nil); got != 0 {
		t.Errorf("connected proxies = %v after refusals, want 0", got)
	}
}

func TestDebugEndpoints(t *testing.T) {
	h := newHarness(t)
	snap := modeltest.Mesh{Services: 3, Endpoints: 1}.Build()
	problems := []model.Problem{{Source: "kubernetes", Index: -1, Kind: "VirtualService", Namespace: "ns-0", Name: "broken", Message: "no hosts"}}
	h.install(snap)
	h.srv.Update(snap, problems)
	node := sidecarNode("dumped", "ns-0", "10.200.0.1")
	c := h.dial(node.Proto(), client.Options{})
	subscribe(t, c, resource.ClusterType)
	cds := next(t, c)
	id := node.Proto().GetId()

	waitFor(t, func() bool { return typeStatus(t, h, id, resource.ClusterType).Status == debugapi.StatusSynced })
	var syncz []debugapi.SyncStatus
	h.getJSON(t, debugapi.SynczPath, &syncz)
	if len(syncz) != 1 || syncz[0].Proxy != id || syncz[0].Namespace != "ns-0" || syncz[0].Flavor != "sidecar" {
		t.Fatalf("syncz = %+v", syncz)
	}
	ts := syncz[0].Types[resource.ClusterType]
	if ts.Status != debugapi.StatusSynced || ts.SentVersion != cds.Version || ts.AckedVersion != cds.Version ||
		ts.SentNonce != cds.Nonce || ts.LastNACK != nil || ts.Resources != len(cds.Resources) {
		t.Errorf("syncz clusters = %+v, want SYNCED at %s/%s with %d resources", ts, cds.Version, cds.Nonce, len(cds.Resources))
	}

	var dump debugapi.ConfigDump
	h.getJSON(t, debugapi.ConfigDumpPath+"?"+debugapi.ProxyIDParam+"="+url.QueryEscape(id), &dump)
	if dump.Proxy != id || len(dump.Resources[resource.ClusterType]) != len(cds.Resources) {
		t.Fatalf("config_dump has %d clusters, want %d", len(dump.Resources[resource.ClusterType]), len(cds.Resources))
	}
	for _, raw := range dump.Resources[resource.ClusterType] {
		var cl clusterv3.Cluster
		var typed struct {
			Type string `json:"@type"`
		}
		if err := json.Unmarshal(raw, &typed); err != nil || typed.Type != resource.ClusterType {
			t.Errorf("dumped resource has @type %q (%v)", typed.Type, err)
		}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(stripType(t, raw), &cl); err != nil {
			t.Errorf("dumped cluster does not parse: %v", err)
		}
		if _, ok := cds.Resources[cl.GetName()]; !ok {
			t.Errorf("dumped cluster %q was not sent", cl.GetName())
		}
	}
	if code, _ := h.get(t, debugapi.ConfigDumpPath+"?"+debugapi.ProxyIDParam+"=nobody"); code != http.StatusNotFound {
		t.Errorf("config_dump of an unknown proxy = %d, want 404", code)
	}

	var got []model.Problem
	h.getJSON(t, debugapi.ProblemzPath, &got)
	if len(got) != 1 || got[0] != problems[0] {
		t.Errorf("problemz = %+v, want %+v", got, problems)
	}
	if n := h.metric("pilotlight_config_problems", map[string]string{"kind": "VirtualService", "severity": "error"}); n != 1 {
		t.Errorf("pilotlight_config_problems{VirtualService,error} = %v, want 1", n)
	}
	h.srv.Update(nil, nil)
	if n := h.metric("pilotlight_config_problems", map[string]string{"kind": "VirtualService", "severity": "error"}); n != 0 {
		t.Errorf("after the fix, pilotlight_config_problems{VirtualService,error} = %v, want 0", n)
	}
}

func stripType(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "@type")
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (h *harness) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(h.debug.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (h *harness) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	code, body := h.get(t, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

func TestMaxStreamAgeEndsStreamsWithUnavailable(t *testing.T) {
	h := newHarness(t, withOptions(func(o *Options) {
		o.MaxStreamAge = 300 * time.Millisecond
		o.MaxStreamAgeGrace = 100 * time.Millisecond
	}))
	h.install(modeltest.Mesh{Services: 2, Endpoints: 1}.Build())
	c := h.dial(sidecarNode("old", "ns-0", "10.200.0.1").Proto(), client.Options{})
	start := time.Now()
	subscribe(t, c, resource.ClusterType)
	next(t, c)
	if code := streamError(t, c); code != codes.Unavailable {
		t.Errorf("stream ended with %v, want Unavailable", code)
	}
	// Age ±10 % plus grace.
	if age := time.Since(start); age < 250*time.Millisecond || age > 2*time.Second {
		t.Errorf("stream lived %v, want about 300ms + 100ms grace", age)
	}
}

func TestRunEndEndsStreams(t *testing.T) {
	h := newHarness(t)
	h.install(modeltest.Mesh{Services: 2, Endpoints: 1}.Build())
	c := h.dial(sidecarNode("a", "ns-0", "10.200.0.1").Proto(), client.Options{})
	subscribe(t, c, resource.ClusterType)
	next(t, c)
	h.stop()
	select {
	case <-h.done:
	case <-time.After(patience):
		t.Fatal("Run did not return")
	}
	select {
	case <-c.Done():
	case <-time.After(patience):
		t.Fatal("stream still open after Run returned")
	}
}

func TestDebounceCoalescesUpdates(t *testing.T) {
	h := newHarness(t, withOptions(func(o *Options) {
		o.Debounce = 50 * time.Millisecond
		o.DebounceMax = 10 * time.Second
	}))
	var last *model.Snapshot
	for i := range 5 {
		last = modeltest.Mesh{Services: i + 1, Endpoints: 1}.Build()
		h.srv.Update(last, nil)
		time.Sleep(10 * time.Millisecond)
	}
	h.install(last)
	if got := h.metric("pilotlight_xds_debounce_seconds", nil); got != 1 {
		t.Errorf("%v installs, want the 5 updates debounced into 1", got)
	}
	if len(h.srv.cache.Snapshot().Services()) != 5 {
		t.Error("the newest snapshot was not the one installed")
	}
}

func TestDebounceMaxDelay(t *testing.T) {
	h := newHarness(t, withOptions(func(o *Options) {
		o.Debounce = 40 * time.Millisecond
		o.DebounceMax = 100 * time.Millisecond
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	// Updates every 10 ms never leave a quiet period; the maximum delay
	// still installs them.
	for i := 0; ctx.Err() == nil; i++ {
		h.srv.Update(modeltest.Mesh{Services: i%50 + 1, Endpoints: 1}.Build(), nil)
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.metric("pilotlight_xds_debounce_seconds", nil); got < 2 {
		t.Errorf("%v installs during 400ms of constant updates, want at least 2 (max delay 100ms)", got)
	}
}
