package xds

import (
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// watch is one open subscription of one stream to one type, between two
// requests. It answers at most once: go-control-plane creates a new watch
// for every request, and its response channels hold one response per type.
type watch struct {
	c       *Cache
	st      *proxyStream
	typeURL string
	// sub is go-control-plane's subscription state. Its maps are not
	// changed while the watch is open, and the watch reads them only then
	// (under mu, which cancel takes).
	sub cachev3.Subscription
	// first: nothing of this type was sent on the stream yet, so even an
	// empty answer is owed (Envoy waits for it to finish initialising).
	first bool

	sotwReq  *discoveryv3.DiscoveryRequest
	sotwCh   chan cachev3.Response
	deltaReq *discoveryv3.DeltaDiscoveryRequest
	deltaCh  chan cachev3.DeltaResponse

	mu     sync.Mutex
	closed bool
	fired  bool
}

// cancel closes the watch. Once it returns, the watch never sends:
// go-control-plane edits the subscription and, for delta, closes the
// channel right after.
func (w *watch) cancel() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.c.mu.Lock()
	delete(w.c.watches, w)
	w.c.mu.Unlock()
}

// evaluate answers the watch if the client's state differs from what its
// subscription should hold now, and otherwise leaves it open. Every
// evaluation reads the newest generation under the watch's lock, so the
// last one to run for a watch always sees the newest snapshot: a push can
// never be lost to a concurrent request.
func (w *watch) evaluate(reason string, pushStart time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.fired {
		return
	}
	g := w.c.current.Load()
	items, hits, ok := w.c.resolve(g, w.st, w.typeURL, w.sub)
	if !ok {
		return
	}
	info := &sendInfo{reason: reason, pushStart: pushStart, state: items}
	var sent []*built
	if w.deltaCh != nil {
		sent = w.answerDelta(items, info)
	} else {
		sent = w.answerSotw(items, info)
	}
	// Resources sent that this evaluation did not have to generate: the
	// proof that proxies with equal views share.
	n := 0
	for _, b := range sent {
		if hits[b.from] {
			n++
		}
	}
	if n > 0 {
		w.c.metrics.cacheHits.WithLabelValues(shortType(w.typeURL)).Add(float64(n))
	}
}

// answerSotw sends the whole subscribed state if the client's differs,
// and returns what it sent.
func (w *watch) answerSotw(items []*built, info *sendInfo) []*built {
	returned := w.sub.ReturnedResources()
	if !w.first && sameState(items, returned) {
		return nil
	}
	next := make(map[string]string, len(items))
	anys := make([]*anypb.Any, 0, len(items))
	for _, b := range items {
		next[b.name] = b.version
		anys = append(anys, b.any)
	}
	resp := &sotwResponse{
		req: w.sotwReq,
		out: &discoveryv3.DiscoveryResponse{
			VersionInfo: stateVersion(items),
			Resources:   anys,
			TypeUrl:     w.typeURL,
		},
		returned: next,
	}
	w.st.addInflight(w.typeURL, resp.out, info)
	select {
	case w.sotwCh <- resp:
		w.fired = true
		return items
	default:
		w.dropped()
		return nil
	}
}

// answerDelta sends what changed and what was removed, if anything, and
// returns the resources it sent.
func (w *watch) answerDelta(items []*built, info *sendInfo) []*built {
	returned := w.sub.ReturnedResources()
	// Decide first, without allocating: most watches a push wakes hold
	// nothing new.
	var sent []*built
	held := 0
	for _, b := range items {
		v, ok := returned[b.name]
		if ok {
			held++
		}
		if !ok || v != b.version {
			sent = append(sent, b)
		}
	}
	var removed []string
	if held < len(returned) {
		present := make(map[string]struct{}, len(items))
		for _, b := range items {
			present[b.name] = struct{}{}
		}
		for name := range returned {
			if _, ok := present[name]; !ok {
				removed = append(removed, name)
			}
		}
	}
	if len(sent) == 0 && len(removed) == 0 && !w.first {
		return nil
	}
	next := make(map[string]string, len(items))
	for _, b := range items {
		next[b.name] = b.version
	}
	changed := make([]*discoveryv3.Resource, 0, len(sent))
	for _, b := range sent {
		changed = append(changed, &discoveryv3.Resource{Name: b.name, Version: b.version, Resource: b.any})
	}
	slices.Sort(removed)
	resp := &deltaResponse{
		req: w.deltaReq,
		out: &discoveryv3.DeltaDiscoveryResponse{
			SystemVersionInfo: stateVersion(items),
			Resources:         changed,
			RemovedResources:  removed,
			TypeUrl:           w.typeURL,
		},
		next: next,
	}
	w.st.addInflight(w.typeURL, resp.out, info)
	select {
	case w.deltaCh <- resp:
		w.fired = true
		return sent
	default:
		w.dropped()
		return nil
	}
}

// dropped handles a full response channel. It cannot happen while each
// watch answers at most once and go-control-plane sizes its channels per
// type; if it does, the watch stays open and the next change retries.
func (w *watch) dropped() {
	w.c.log.Error("response channel full; response dropped",
		zap.String("proxy", w.st.proxy.ID), zap.String("type", w.typeURL))
}

func (s *proxyStream) addInflight(typeURL string, out proto.Message, info *sendInfo) {
	s.mu.Lock()
	ts := s.typ(typeURL)
	ts.inflight = append(ts.inflight, inflight{out: out, info: info})
	s.mu.Unlock()
}

// sameState reports whether the client already holds exactly items.
func sameState(items []*built, returned map[string]string) bool {
	if len(items) != len(returned) {
		return false
	}
	for _, b := range items {
		if v, ok := returned[b.name]; !ok || v != b.version {
			return false
		}
	}
	return true
}

// stateVersion is the version of a set of resources: a combination of
// their (name, content version) hashes. Equal sets, equal versions. It is
// informational (clients echo it, syncz shows it); what a client holds is
// tracked per resource, so a collision could not suppress a push.
func stateVersion(items []*built) string {
	var sum uint64
	for _, b := range items {
		sum += b.hash
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], sum^uint64(len(items)))
	return hex.EncodeToString(buf[:])
}

// resolve returns what a subscription holds now, sorted by name: for a
// wildcard subscription the view's outbound and inbound sets, plus any
// names it asked for explicitly; otherwise the subscribed names that
// exist, looked up in those sets and then built by name. hits marks the
// entries that were already built by someone else. ok is false if a
// needed entry could not be generated; the watch then stays unanswered.
func (c *Cache) resolve(g *generation, st *proxyStream, typeURL string, sub cachev3.Subscription) (items []*built, hits map[*entry]bool, ok bool) {
	out, outHit := c.entry(g, st, typeURL, true, "")
	in, inHit := c.entry(g, st, typeURL, false, "")
	if out.failed || in.failed {
		return nil, nil, false
	}
	hits = map[*entry]bool{out: outHit, in: inHit}
	subscribed := sub.SubscribedResources()
	var missing []string
	switch {
	case sub.IsWildcard():
		items = mergeSorted(out.items, in.items)
		for n := range subscribed {
			if !out.has(n) && !in.has(n) {
				missing = append(missing, n)
			}
		}
	case len(subscribed)*8 < len(out.items)+len(in.items):
		// A few names out of many (a gRPC client): look each up.
		for n := range subscribed {
			if b, ok := out.lookup(n); ok {
				items = append(items, b)
			} else if b, ok := in.lookup(n); ok {
				items = append(items, b)
			} else {
				missing = append(missing, n)
			}
		}
		slices.SortFunc(items, func(a, b *built) int { return strings.Compare(a.name, b.name) })
	default:
		// Most of the sets (Envoy's EDS): walk them in order, which also
		// keeps the result sorted without sorting the names.
		for _, b := range mergeSorted(out.items, in.items) {
			if _, ok := subscribed[b.name]; ok {
				items = append(items, b)
			}
		}
		if len(items) < len(subscribed) {
			for n := range subscribed {
				if !out.has(n) && !in.has(n) {
					missing = append(missing, n)
				}
			}
		}
	}
	// Names outside both sets are a plain Envoy's workload secrets, or
	// exist only when built by name.
	if len(missing) > 0 {
		slices.Sort(missing)
		extra, rest, ok := c.workloadSecretsFor(st, missing)
		if !ok {
			return nil, nil, false
		}
		for _, n := range rest {
			b, hit, ok := c.named(g, st, typeURL, n)
			if !ok {
				return nil, nil, false
			}
			if b != nil {
				extra = append(extra, b)
				hits[b.from] = hit
			}
		}
		slices.SortFunc(extra, func(a, b *built) int { return strings.Compare(a.name, b.name) })
		items = mergeSorted(items, extra)
	}
	if typeURL == resource.SecretType && st.caller != nil {
		items = c.withoutCredentials(st, items)
	}
	return items, hits, true
}

// entry returns the outbound or inbound set of a stream's view.
func (c *Cache) entry(g *generation, st *proxyStream, typeURL string, outbound bool, name string) (*entry, bool) {
	key := entryKey{view: st.inKey, typeURL: typeURL, name: name}
	var ov model.OutboundView
	if outbound {
		// Only the outbound side is narrowed; the inbound one is keyed
		// and built by the stream's inbound view.
		var narrowed bool
		ov, narrowed = translate.OutboundScope(g.snap, st.ov, typeURL)
		key.view = st.outKey
		if narrowed {
			// Key by the narrowed view itself, so the key stays complete
			// whatever translate narrows.
			key.view = ov.Key()
		}
		c.holdScope(st, typeURL, key.view)
	}
	return g.get(key, func(e *entry) {
		if !outbound {
			e.inboundIPs = st.iv.IPs
		}
		c.builder.fill(e, typeURL, name == "", func() []translate.Resource {
			switch {
			case outbound && name == "":
				return st.gen.Outbound(g.snap, ov, typeURL)
			case name == "":
				return st.gen.Inbound(g.snap, st.iv, typeURL)
			case outbound:
				return optional(st.gen.OutboundNamed(g.snap, ov, typeURL, name))
			default:
				return optional(st.gen.InboundNamed(g.snap, st.iv, typeURL, name))
			}
		})
	})
}

// named returns a resource that exists only when asked for by name, from
// the outbound side and then the inbound side; b is nil when neither has
// it.
func (c *Cache) named(g *generation, st *proxyStream, typeURL, name string) (b *built, hit, ok bool) {
	for _, outbound := range []bool{true, false} {
		e, hit := c.entry(g, st, typeURL, outbound, name)
		if e.failed {
			return nil, false, false
		}
		if len(e.items) > 0 {
			return e.items[0], hit, true
		}
	}
	return nil, false, true
}

func (e *entry) has(name string) bool {
	_, ok := e.lookup(name)
	return ok
}

func optional(r translate.Resource, ok bool) []translate.Resource {
	if !ok {
		return nil
	}
	return []translate.Resource{r}
}

// mergeSorted merges two name-sorted lists; on a name in both, a wins.
func mergeSorted(a, b []*built) []*built {
	switch {
	case len(b) == 0:
		return a
	case len(a) == 0:
		return b
	}
	out := make([]*built, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].name < b[j].name:
			out = append(out, a[i])
			i++
		case a[i].name > b[j].name:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
