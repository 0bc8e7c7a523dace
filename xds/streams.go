package xds

import (
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/ca"
	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/xds/debugapi"
)

// streamKey identifies an ADS stream. go-control-plane numbers SotW and
// delta streams with separate counters, so the id alone is ambiguous.
type streamKey struct {
	delta bool
	id    int64
}

// proxyStream is what the server knows about one ADS stream: the proxy
// behind it and, per type, what it was sent and what it acknowledged.
type proxyStream struct {
	key         streamKey
	connectedAt time.Time
	// caller is the identity the stream proved (see auth.go); nil on a
	// plaintext stream.
	caller *ca.Caller
	// mintsSecrets: the node opted in to workload secrets over ADS and
	// the stream proved an identity to mint them for (workload.go). Set
	// with the identity.
	mintsSecrets bool

	// Identity, set once from the first request's node and read-only
	// afterwards (guarded by mu until set; see identify).
	node   *corev3.Node
	proxy  *model.Proxy
	err    error
	ov     model.OutboundView
	iv     model.InboundView
	outKey string
	inKey  string
	// scoped holds, per type, the outbound view key the stream's last
	// answer used: the full view's or the one translate.OutboundScope
	// narrowed it to, which depends on the snapshot. Each is counted in
	// Cache.viewRefs so that its entries survive snapshots while the
	// stream uses them. nil for a one-off REST fetch, which holds nothing.
	// Guarded by Cache.mu.
	scoped map[string]string
	gen    translate.Generator

	// pendingReq is the last request seen on the stream that has not
	// reached CreateWatch yet (guarded by Cache.mu).
	pendingReq any

	// types is guarded by mu.
	mu    sync.Mutex
	types map[string]*typeState
	// secretsRefused: the stream asked for secrets and was told no (once
	// in the log per stream). Guarded by mu.
	secretsRefused bool
	// credentialsReviewed and credentialsDenied: whether an
	// authenticated stream may have gateway certificates was asked, and
	// the answer (sds.go). Guarded by mu.
	credentialsReviewed, credentialsDenied bool
}

// sentRecord remembers one response, so that a later ACK or NACK, which
// names the response only by nonce, can be tied to its version.
type sentRecord struct {
	nonce   string
	version string
	seq     uint64
}

// recentResponses is how many responses per type are remembered for
// matching ACKs. SotW clients answer the latest; delta clients may answer
// a few in flight.
const recentResponses = 8

// typeState is one resource type of one stream.
type typeState struct {
	// seq counts responses sent; 0 means none.
	seq         uint64
	sentVersion string
	sentNonce   string
	// state is the full set of resources the proxy holds after the last
	// response, for config_dump.
	state  []*built
	recent []sentRecord

	ackedVersion string
	ackedSeq     uint64

	nack    *debugapi.NACK
	nackSeq uint64

	// inflight: responses handed to go-control-plane and not yet sent,
	// oldest first. A response go-control-plane drops (it discards a
	// type's queued response when a new request of that type arrives) is
	// forgotten when a younger one is sent.
	inflight []inflight
}

type inflight struct {
	out  proto.Message
	info *sendInfo
}

// sendInfo travels with a response from the cache to the send callback.
type sendInfo struct {
	reason    string
	pushStart time.Time
	state     []*built
}

func (s *proxyStream) typ(typeURL string) *typeState {
	ts := s.types[typeURL]
	if ts == nil {
		ts = &typeState{}
		s.types[typeURL] = ts
	}
	return ts
}

func (ts *typeState) find(nonce string) (sentRecord, bool) {
	for i := len(ts.recent) - 1; i >= 0; i-- {
		if ts.recent[i].nonce == nonce {
			return ts.recent[i], true
		}
	}
	return sentRecord{}, false
}

// status summarises the type for syncz.
func (ts *typeState) status() string {
	switch {
	case ts.seq == 0:
		return debugapi.StatusNotSent
	case ts.ackedSeq == ts.seq:
		return debugapi.StatusSynced
	}
	return debugapi.StatusStale
}

// openStream admits a new stream, or refuses it while there is no
// configuration: a reconnecting proxy must never be handed an empty one.
// caller is the identity the stream proved, nil if it proved none.
func (c *Cache) openStream(key streamKey, caller *ca.Caller) error {
	if !c.Ready() {
		return status.Error(codes.Unavailable, "no configuration yet")
	}
	st := &proxyStream{key: key, connectedAt: time.Now(), caller: caller, types: map[string]*typeState{}}
	c.mu.Lock()
	c.streams[key] = st
	c.mu.Unlock()
	c.metrics.connectedProxies.Inc()
	return nil
}

// closeStream forgets a stream. go-control-plane calls it for refused
// streams too, which were never registered.
func (c *Cache) closeStream(key streamKey) {
	c.mu.Lock()
	st, ok := c.streams[key]
	if ok {
		delete(c.streams, key)
		if st.pendingReq != nil {
			delete(c.pendingReqs, st.pendingReq)
		}
		if st.proxy != nil {
			c.unrefView(st.inKey)
			for _, key := range st.scoped {
				c.unrefView(key)
			}
		}
	}
	c.mu.Unlock()
	if ok && st.mintsSecrets {
		c.workload.Load().unref(st.caller.ID)
	}
	if !ok {
		return
	}
	c.metrics.connectedProxies.Dec()
	if st.proxy != nil {
		c.log.Info("proxy disconnected", zap.String("proxy", st.proxy.ID),
			zap.Int64("stream", st.key.id), zap.Duration("connected_for", time.Since(st.connectedAt)))
	}
}

// holdScope records that st's answers of typeURL come from the entries of
// view key, moving the stream's reference from the key it used before.
func (c *Cache) holdScope(st *proxyStream, typeURL, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.scoped == nil {
		return
	}
	old, held := st.scoped[typeURL]
	if held && old == key {
		return
	}
	if held {
		c.unrefView(old)
	}
	st.scoped[typeURL] = key
	c.viewRefs[key]++
}

func (c *Cache) unrefView(key string) {
	if c.viewRefs[key]--; c.viewRefs[key] <= 0 {
		delete(c.viewRefs, key)
	}
}

// noteRequest runs for every request before go-control-plane creates the
// watch for it. It remembers which stream the request came on (the watch
// API does not say) and parses the proxy from the first node.
func (c *Cache) noteRequest(key streamKey, req any, node *corev3.Node) *proxyStream {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.streams[key]
	if st == nil {
		return nil
	}
	// A request go-control-plane skipped (stale nonce) never reached
	// CreateWatch; drop it so the index holds one request per stream.
	if st.pendingReq != nil {
		delete(c.pendingReqs, st.pendingReq)
	}
	c.pendingReqs[req] = st
	st.pendingReq = req
	c.identify(st, node)
	return st
}

// identify parses the proxy from the stream's first node and rejects a
// node that changes mid-stream. Called with c.mu held.
func (c *Cache) identify(st *proxyStream, node *corev3.Node) {
	if st.err != nil {
		return
	}
	if st.proxy != nil {
		if node != nil && node != st.node && !proto.Equal(node, st.node) {
			st.err = status.Errorf(codes.InvalidArgument, "node %q changed mid-stream", st.proxy.ID)
			c.log.Warn("refusing stream: node changed mid-stream", zap.String("proxy", st.proxy.ID), zap.String("new_id", node.GetId()))
		}
		return
	}
	p, err := model.ParseProxy(node)
	if err != nil {
		st.err = status.Errorf(codes.InvalidArgument, "bad node: %v", err)
		c.log.Warn("refusing stream: bad node", zap.String("node", node.GetId()), zap.Error(err))
		return
	}
	if err := c.authorize(st, p); err != nil {
		st.err = err
		return
	}
	ov, iv := model.ViewsOf(p)
	gen, err := c.generatorFor(ov.Flavor)
	if err != nil {
		st.err = status.Errorf(codes.InvalidArgument, "proxy %q: %v", p.ID, err)
		c.log.Warn("refusing stream: no generator", zap.String("proxy", p.ID), zap.Error(err))
		return
	}
	if p.WorkloadSDS {
		if w := c.workload.Load(); w != nil && st.caller != nil {
			st.mintsSecrets = true
			w.ref(st.caller.ID)
		} else {
			c.log.Warn("the node asks for its workload certificate over ADS ("+model.MetaWorkloadSDS+
				"), which is served only on the TLS port to a stream that proved an identity; it gets none",
				zap.String("proxy", p.ID), zap.Bool("authenticated", st.caller != nil))
		}
	}
	st.node, st.proxy, st.ov, st.iv, st.gen = node, p, ov, iv, gen
	st.outKey, st.inKey = ov.Key(), iv.Key()
	st.scoped = map[string]string{}
	c.viewRefs[st.inKey]++
	fields := []zap.Field{zap.String("proxy", p.ID), zap.String("flavor", string(ov.Flavor)),
		zap.Bool("delta", st.key.delta), zap.Int64("stream", st.key.id)}
	if st.caller != nil {
		fields = append(fields, zap.Stringer("identity", st.caller.ID), zap.String("authenticated_by", st.caller.Method))
	}
	c.log.Info("proxy connected", fields...)
}

// streamFor returns the stream a request arrived on, as noted by
// noteRequest.
func (c *Cache) streamFor(req any) (*proxyStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.pendingReqs[req]
	if !ok {
		return nil, status.Error(codes.Internal, "request not tied to a stream")
	}
	delete(c.pendingReqs, req)
	st.pendingReq = nil
	if st.err != nil {
		return nil, st.err
	}
	if st.proxy == nil {
		return nil, status.Error(codes.InvalidArgument, "the first request must carry the node")
	}
	return st, nil
}

// trackReply records an ACK or NACK. acceptedVersion is the SotW
// version_info (the version the client runs), empty for delta.
func (c *Cache) trackReply(st *proxyStream, typeURL, nonce, acceptedVersion string, errMsg *string) {
	if st == nil || nonce == "" {
		return
	}
	st.mu.Lock()
	ts := st.typ(typeURL)
	rec, known := ts.find(nonce)
	if errMsg != nil {
		if ts.nack != nil && ts.nack.Nonce == nonce {
			// The same rejection repeated (clients resend it with later
			// subscription changes): logged and counted once.
			st.mu.Unlock()
			return
		}
		ts.nack = &debugapi.NACK{Version: rec.version, Nonce: nonce, Message: *errMsg, Time: time.Now()}
		ts.nackSeq = rec.seq
		st.mu.Unlock()
		c.metrics.nacks.WithLabelValues(shortType(typeURL)).Inc()
		c.log.Error("proxy rejected configuration",
			zap.String("proxy", st.proxy.ID), zap.String("type", typeURL), zap.String("nonce", nonce),
			zap.String("version", rec.version), zap.String("accepted_version", acceptedVersion),
			zap.String("error", *errMsg))
		return
	}
	defer st.mu.Unlock()
	if !known || (ts.nack != nil && ts.nack.Nonce == nonce) || rec.seq < ts.ackedSeq {
		// Not an ACK of anything newer: a request that carries the nonce
		// of a rejected response is not its acceptance.
		return
	}
	ts.ackedSeq = rec.seq
	ts.ackedVersion = rec.version
	if acceptedVersion != "" {
		ts.ackedVersion = acceptedVersion
	}
	if ts.nack != nil && rec.seq > ts.nackSeq {
		ts.nack = nil
	}
}

// trackSent records a response go-control-plane is about to send.
func (c *Cache) trackSent(st *proxyStream, typeURL string, out proto.Message, nonce, version string) {
	if st == nil {
		return
	}
	st.mu.Lock()
	ts := st.typ(typeURL)
	var info *sendInfo
	for i, f := range ts.inflight {
		if f.out == out {
			info = f.info
			// Clear before reslicing: the backing array would otherwise
			// keep every sent response alive.
			clear(ts.inflight[:i+1])
			ts.inflight = ts.inflight[i+1:]
			break
		}
	}
	ts.seq++
	ts.sentNonce = nonce
	ts.sentVersion = version
	ts.recent = append(ts.recent, sentRecord{nonce: nonce, version: version, seq: ts.seq})
	if len(ts.recent) > recentResponses {
		ts.recent = ts.recent[len(ts.recent)-recentResponses:]
	}
	if info != nil {
		ts.state = info.state
	}
	st.mu.Unlock()
	if info == nil {
		return
	}
	c.metrics.pushes.WithLabelValues(shortType(typeURL), info.reason).Inc()
	if info.reason != reasonInitial {
		c.metrics.pushDuration.Observe(time.Since(info.pushStart).Seconds())
	}
}

func (c *Cache) lookupStream(key streamKey) *proxyStream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[key]
}
