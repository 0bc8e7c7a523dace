package xds

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	// The envoy packages that register every resource type a generator
	// may emit, so config_dump can render them (and the Anys inside them).
	_ "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/debugapi"
)

// SourcezPath serves the config source's health as a SourceStatus.
const SourcezPath = "/debug/sourcez"

// DebugHandler serves /ready and the /debug endpoints; debugapi defines
// their JSON.
//
// /ready is 503 until the first snapshot is installed. After that it stays
// 200 even when the config source has lost its source of truth: the server
// still serves the last good state, and taking the replica out of its
// Service would only move its proxies to replicas in the same situation,
// or to none. The body then says the replica is degraded, and why.
func (s *Server) DebugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(debugapi.ReadyPath, func(w http.ResponseWriter, _ *http.Request) {
		if !s.Ready() {
			http.Error(w, "no configuration yet", http.StatusServiceUnavailable)
			return
		}
		if st := s.SourceStatus(); !st.Healthy {
			fmt.Fprintf(w, "ready (degraded: %s)\n", st.Message)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc(SourcezPath, func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, s.SourceStatus())
	})
	mux.HandleFunc(debugapi.SynczPath, func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, s.cache.Syncz())
	})
	mux.HandleFunc(debugapi.ConfigDumpPath, func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get(debugapi.ProxyIDParam)
		dump, ok := s.cache.ConfigDump(id)
		if !ok {
			http.Error(w, fmt.Sprintf("proxy %q is not connected", id), http.StatusNotFound)
			return
		}
		s.writeJSON(w, dump)
	})
	mux.HandleFunc(debugapi.ProblemzPath, func(w http.ResponseWriter, _ *http.Request) {
		p := s.Problems()
		if p == nil {
			p = []debugapi.Problem{}
		}
		s.writeJSON(w, p)
	})
	return mux
}

func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		s.log.Debug("debug response not written", zap.Error(err))
	}
}

// connected returns the streams whose proxy is known, oldest first.
func (c *Cache) connected() []*proxyStream {
	c.mu.Lock()
	out := make([]*proxyStream, 0, len(c.streams))
	for _, st := range c.streams {
		if st.proxy != nil {
			out = append(out, st)
		}
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b *proxyStream) int {
		return cmp.Or(cmp.Compare(a.proxy.ID, b.proxy.ID), a.connectedAt.Compare(b.connectedAt))
	})
	return out
}

// Syncz reports, per connected proxy and type, what was sent and what was
// acknowledged.
func (c *Cache) Syncz() []debugapi.SyncStatus {
	out := []debugapi.SyncStatus{}
	for _, st := range c.connected() {
		ss := debugapi.SyncStatus{
			Proxy:        st.proxy.ID,
			Namespace:    st.proxy.Namespace,
			Flavor:       string(st.ov.Flavor),
			ClusterID:    st.proxy.ClusterID,
			IstioVersion: st.proxy.IstioVersion,
			Protocol:     "sotw",
			ConnectedAt:  st.connectedAt,
			Types:        map[string]debugapi.TypeStatus{},
		}
		if st.key.delta {
			ss.Protocol = "delta"
		}
		if st.caller != nil {
			ss.Identity, ss.AuthenticatedBy = st.caller.ID.String(), st.caller.Method
		}
		st.mu.Lock()
		for typeURL, ts := range st.types {
			var nack *debugapi.NACK
			if ts.nack != nil {
				n := *ts.nack
				nack = &n
			}
			ss.Types[typeURL] = debugapi.TypeStatus{
				Status:       ts.status(),
				SentVersion:  ts.sentVersion,
				AckedVersion: ts.ackedVersion,
				SentNonce:    ts.sentNonce,
				LastNACK:     nack,
				Resources:    len(ts.state),
			}
		}
		st.mu.Unlock()
		out = append(out, ss)
	}
	return out
}

// ConfigDump renders what a proxy was last sent, per type. With several
// streams for one proxy id, the newest wins. ok is false for a proxy that
// is not connected.
func (c *Cache) ConfigDump(proxyID string) (debugapi.ConfigDump, bool) {
	var st *proxyStream
	for _, s := range c.connected() {
		if s.proxy.ID == proxyID {
			st = s
		}
	}
	if st == nil {
		return debugapi.ConfigDump{}, false
	}
	dump := debugapi.ConfigDump{Proxy: proxyID, Resources: map[string][]json.RawMessage{}}
	st.mu.Lock()
	states := map[string][]*built{}
	for typeURL, ts := range st.types {
		if ts.seq > 0 {
			states[typeURL] = ts.state
		}
	}
	st.mu.Unlock()
	for typeURL, items := range states {
		list := make([]json.RawMessage, 0, len(items))
		for _, b := range items {
			render := protojson.Marshal
			if typeURL == resource.SecretType {
				render = redactedSecret
			}
			js, err := render(b.any)
			if err != nil {
				// A type this binary cannot render still shows up, by name.
				js, _ = json.Marshal(map[string]string{"@type": b.any.GetTypeUrl(), "name": b.name, "error": err.Error()})
			}
			list = append(list, js)
		}
		dump.Resources[typeURL] = list
	}
	return dump, true
}
