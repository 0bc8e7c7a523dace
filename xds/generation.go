package xds

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"slices"
	"sync"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// built is one generated resource, validated and serialized once. It is
// shared, read-only, by every stream that is sent it.
type built struct {
	name string
	// version is a content hash of the serialized bytes: equal bytes,
	// equal version, whichever snapshot or view produced them.
	version string
	any     *anypb.Any
	// hash folds name and content; stateVersion sums it.
	hash uint64
	// from is the entry that built it.
	from *entry
}

// entryKey names a cache entry: one part of one view's resources of one
// type.
type entryKey struct {
	// view is an OutboundView or InboundView key; the two never collide
	// (their keys carry "out:" and "in:" prefixes).
	view    string
	typeURL string
	// name is empty for the view's whole set of the type, or the name of
	// a single resource that exists only when asked for by name.
	name string
}

// entry is a cache entry: the resources of one part of one view, for one
// snapshot. The first caller builds it; others wait on done.
type entry struct {
	done  chan struct{}
	items []*built // sorted by name, unique names
	// byName indexes items; nil for single-resource entries.
	byName map[string]*built
	// failed is set when the generator panicked: watches that need this
	// entry are not answered, so the proxy keeps its last good config.
	failed bool
	// inboundIPs are the addresses of an inbound view; an endpoint change
	// at one of them invalidates the entry.
	inboundIPs []string
}

func (e *entry) lookup(name string) (*built, bool) {
	if e.byName != nil {
		b, ok := e.byName[name]
		return b, ok
	}
	for _, b := range e.items {
		if b.name == name {
			return b, true
		}
	}
	return nil, false
}

// generation is the cache for one installed snapshot.
type generation struct {
	snap    *model.Snapshot
	mu      sync.Mutex
	entries map[entryKey]*entry
}

func newGeneration(snap *model.Snapshot) *generation {
	return &generation{snap: snap, entries: map[entryKey]*entry{}}
}

// get returns the entry for key, building it with build if no one has.
// Concurrent callers for one key share a single build.
func (g *generation) get(key entryKey, build func(e *entry)) (e *entry, hit bool) {
	g.mu.Lock()
	if e, ok := g.entries[key]; ok {
		g.mu.Unlock()
		<-e.done
		return e, true
	}
	e = &entry{done: make(chan struct{})}
	g.entries[key] = e
	g.mu.Unlock()
	defer close(e.done)
	build(e)
	return e, false
}

// invalidation says which entries of the previous generation a new
// snapshot leaves valid.
type invalidation struct {
	// all: nothing survives.
	all bool
	// endpoints: every EDS entry is rebuilt.
	endpoints bool
	// ips: inbound entries of workloads at these addresses are rebuilt:
	// the services a workload serves come from the endpoints at its
	// address.
	ips map[string]struct{}
	// secrets: every SDS entry is rebuilt. Only secrets read credentials
	// (listeners name them, whatever their bytes), so a rotated
	// certificate rebuilds and pushes secrets alone.
	secrets bool
}

// invalidationFor decides what a diff invalidates. Correctness first: the
// generators' only dependence on endpoints that is not EDS is (a) the
// inbound side, through Snapshot.InstancesAt, (b) listeners and
// clusters of services that are not load balanced from EDS (headless
// services get a listener per endpoint), and (c) the identities clusters
// accept over Istio mTLS, from the endpoints' service accounts. So an
// endpoint-only diff keeps outbound CDS/LDS/RDS unless it touches such a
// service or changes a service's identities, and keeps inbound entries
// of workloads at other addresses. A credentials-only diff
// rebuilds secrets alone. Anything else rebuilds all.
func invalidationFor(old, cur *model.Snapshot, d model.Diff) invalidation {
	if d.CredentialsOnly() {
		return invalidation{secrets: true}
	}
	if !d.EndpointsOnly() {
		return invalidation{all: true}
	}
	inv := invalidation{endpoints: true, ips: map[string]struct{}{}}
	for host := range d.Endpoints {
		if !slices.Equal(old.ServiceIdentities(host), cur.ServiceIdentities(host)) {
			return invalidation{all: true}
		}
		for _, s := range []*model.Snapshot{old, cur} {
			if svc := s.Service(host); svc != nil && svc.Resolution != model.ClientSideLB {
				return invalidation{all: true}
			}
			for _, e := range s.Endpoints(host) {
				inv.ips[e.Address] = struct{}{}
			}
		}
	}
	return inv
}

// keeps reports whether an entry stays valid.
func (inv invalidation) keeps(k entryKey, e *entry) bool {
	if inv.all || e.failed {
		return false
	}
	if inv.endpoints && k.typeURL == resource.EndpointType {
		return false
	}
	if inv.secrets && k.typeURL == resource.SecretType {
		return false
	}
	return !inv.touchesIPs(e.inboundIPs)
}

func (inv invalidation) touchesIPs(ips []string) bool {
	for _, ip := range ips {
		if _, ok := inv.ips[ip]; ok {
			return true
		}
	}
	return false
}

// affects reports whether a watch may see a different state.
func (inv invalidation) affects(typeURL string, iv *model.InboundView) bool {
	return inv.all || (inv.endpoints && typeURL == resource.EndpointType) || (inv.secrets && typeURL == resource.SecretType) ||
		inv.touchesIPs(iv.IPs)
}

// carryOver copies into next the finished entries of prev that stay
// valid and belong to a view some open stream still uses.
func carryOver(prev, next *generation, inv invalidation, inUse func(view string) bool) (kept int) {
	prev.mu.Lock()
	defer prev.mu.Unlock()
	for k, e := range prev.entries {
		select {
		case <-e.done:
		default:
			continue
		}
		if inv.keeps(k, e) && inUse(k.view) {
			next.entries[k] = e
			kept++
		}
	}
	return kept
}

// builder turns generator output into cache entries. It is the one place
// resources are validated and serialized.
type builder struct {
	log     *zap.Logger
	metrics *metrics
}

// fill builds e from generator output, recovering from a generator panic
// so that one bad view costs that view, not the server.
func (b *builder) fill(e *entry, typeURL string, index bool, gen func() []translate.Resource) {
	var res []translate.Resource
	func() {
		defer func() {
			if r := recover(); r != nil {
				e.failed = true
				b.metrics.generationErrors.WithLabelValues(shortType(typeURL)).Inc()
				b.log.Error("generator panicked; affected proxies keep their last config",
					zap.String("type", typeURL), zap.Any("panic", r), zap.Stack("stack"))
			}
		}()
		res = gen()
	}()
	if e.failed {
		return
	}
	items := make([]*built, 0, len(res))
	for _, r := range res {
		if x := b.build(typeURL, r); x != nil {
			x.from = e
			items = append(items, x)
		}
	}
	slices.SortStableFunc(items, func(x, y *built) int { return cmp.Compare(x.name, y.name) })
	items = slices.CompactFunc(items, func(x, y *built) bool { return x.name == y.name })
	e.items = items
	if index {
		e.byName = make(map[string]*built, len(items))
		for _, x := range items {
			e.byName[x.name] = x
		}
	}
	b.metrics.generatedResources.WithLabelValues(shortType(typeURL)).Add(float64(len(items)))
}

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// build validates and serializes one resource; nil if it must not be sent.
func (b *builder) build(typeURL string, r translate.Resource) *built {
	if err := translate.Validate(r.Message); err != nil {
		b.metrics.invalidResources.WithLabelValues(shortType(typeURL)).Inc()
		b.log.Error("generated resource is invalid; not sent",
			zap.String("type", typeURL), zap.String("resource", r.Name), zap.Error(err))
		return nil
	}
	bytes, err := marshalOpts.Marshal(r.Message)
	if err != nil {
		b.metrics.invalidResources.WithLabelValues(shortType(typeURL)).Inc()
		b.log.Error("generated resource does not serialize; not sent",
			zap.String("type", typeURL), zap.String("resource", r.Name), zap.Error(err))
		return nil
	}
	msgURL := "type.googleapis.com/" + string(r.Message.ProtoReflect().Descriptor().FullName())
	if msgURL != typeURL {
		b.metrics.invalidResources.WithLabelValues(shortType(typeURL)).Inc()
		b.log.Error("generator returned a resource of the wrong type; not sent",
			zap.String("type", typeURL), zap.String("resource", r.Name), zap.String("got", msgURL))
		return nil
	}
	h := fnv.New64a()
	h.Write(bytes)
	content := h.Sum64()
	h.Reset()
	h.Write([]byte(r.Name))
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], content)
	h.Write(buf[:])
	return &built{
		name:    r.Name,
		version: hex.EncodeToString(buf[:]),
		any:     &anypb.Any{TypeUrl: typeURL, Value: bytes},
		hash:    h.Sum64(),
	}
}

// shortType is the metric label of a type URL: cds, eds, lds, rds, sds.
func shortType(typeURL string) string {
	switch typeURL {
	case resource.ClusterType:
		return "cds"
	case resource.EndpointType:
		return "eds"
	case resource.ListenerType:
		return "lds"
	case resource.RouteType:
		return "rds"
	case resource.SecretType:
		return "sds"
	}
	// Clients choose type URLs; a fixed label keeps them from inflating
	// the metric's cardinality.
	return "other"
}
