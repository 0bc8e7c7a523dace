// Package mtls decides which peer authentication mode — STRICT,
// PERMISSIVE or DISABLE — a workload enforces on each of its ports, from
// the snapshot's PeerAuthentication objects, with istiod's precedence:
//
//   - a policy without a selector in the mesh root namespace applies to
//     the whole mesh;
//   - one without a selector in any other namespace applies to that
//     namespace and replaces the mesh policy there;
//   - one with a selector (outside the root namespace, where selectors are
//     ignored) applies to the workloads it selects in its namespace and
//     replaces the namespace policy for them; its portLevelMtls replaces
//     the workload's mode on the ports it names, which are the ports the
//     workload listens on (container ports), not service ports;
//   - a mode left UNSET inherits from the level above, and with no policy
//     at all a workload is PERMISSIVE.
//
// When several policies compete at one level istiod takes the oldest.
// Snapshots carry no creation times, so here the first by name wins;
// Conflicts lists the losers so that translate/analyze can say so.
//
// The package owns only this resolution. It is pure, and it builds no
// Envoy config: the generators turn a Mode into filter chains and
// transport sockets.
package mtls

import (
	"cmp"
	"slices"

	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/translate/model"
)

// Mode is a peer authentication mode.
type Mode uint8

const (
	// Permissive accepts both Istio mTLS and plaintext: the default.
	Permissive Mode = iota
	// Strict accepts Istio mTLS only.
	Strict
	// Disable accepts plaintext only.
	Disable
)

func (m Mode) String() string {
	switch m {
	case Strict:
		return "STRICT"
	case Disable:
		return "DISABLE"
	}
	return "PERMISSIVE"
}

// TLSModeLabel is the workload label that says whether a workload
// speaks Istio mTLS: injected sidecars (and proxyless workloads that
// opt in) carry TLSModeIstio. Clients use it to pick mTLS per endpoint.
const (
	TLSModeLabel = "security.istio.io/tlsMode"
	TLSModeIstio = "istio"
)

// SpeaksMTLS reports whether workload labels declare Istio mTLS.
func SpeaksMTLS(labels map[string]string) bool { return labels[TLSModeLabel] == TLSModeIstio }

// ForGRPCServer maps a mode onto what a proxyless gRPC server can
// enforce. gRPC cannot tell TLS from plaintext on one port (gRFC A36
// matches raw_buffer only), so PERMISSIVE becomes, as with istiod, STRICT
// for a workload labelled for Istio mTLS — its clients will use mTLS —
// and DISABLE for any other.
func ForGRPCServer(m Mode, labels map[string]string) Mode {
	if m != Permissive {
		return m
	}
	if SpeaksMTLS(labels) {
		return Strict
	}
	return Disable
}

// Workload is the effective peer authentication of one workload.
type Workload struct {
	// Mode applies to every port without an entry in Ports.
	Mode Mode
	// Ports are the workload-level policy's port-level modes, by the port
	// the workload listens on, with UNSET already resolved.
	Ports map[uint32]Mode
}

// ForPort returns the mode of one port the workload listens on.
func (w Workload) ForPort(port uint32) Mode {
	if m, ok := w.Ports[port]; ok {
		return m
	}
	return w.Mode
}

// PortLevel returns the ports with a port-level mode, sorted.
func (w Workload) PortLevel() []uint32 {
	ports := make([]uint32, 0, len(w.Ports))
	for p := range w.Ports {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	return ports
}

// Policies indexes a snapshot's PeerAuthentications by namespace. Build it
// once per generation pass with New; lookups do not scan other namespaces.
type Policies struct {
	root string
	// scoped holds, per namespace, the winning policy without a selector
	// (for the root namespace: the mesh policy).
	scoped map[string]*model.Config
	// selecting holds, per namespace outside the root, the policies with a
	// selector, sorted by name.
	selecting map[string][]*model.Config
	conflicts []Conflict
}

// Conflict is a set of policies competing at one level: Winner applies,
// Ignored do not.
type Conflict struct {
	Winner  *model.Config
	Ignored []*model.Config
}

// New indexes the snapshot's PeerAuthentications.
func New(snap *model.Snapshot) *Policies {
	p := &Policies{
		root:      snap.Mesh().GetRootNamespace(),
		scoped:    map[string]*model.Config{},
		selecting: map[string][]*model.Config{},
	}
	// Configs come sorted by namespace and name, so the first seen at a
	// level is the winner.
	losers := map[string][]*model.Config{}
	for _, c := range snap.Configs(model.KindPeerAuthentication) {
		if len(spec(c).GetSelector().GetMatchLabels()) == 0 {
			if _, taken := p.scoped[c.Namespace]; taken {
				losers[c.Namespace] = append(losers[c.Namespace], c)
				continue
			}
			p.scoped[c.Namespace] = c
			continue
		}
		if c.Namespace != p.root {
			p.selecting[c.Namespace] = append(p.selecting[c.Namespace], c)
		}
	}
	for ns, ignored := range losers {
		p.conflicts = append(p.conflicts, Conflict{Winner: p.scoped[ns], Ignored: ignored})
	}
	slices.SortFunc(p.conflicts, func(a, b Conflict) int { return cmp.Compare(a.Winner.Namespace, b.Winner.Namespace) })
	return p
}

// RootNamespace is the namespace whose policy without a selector is the
// mesh policy.
func (p *Policies) RootNamespace() string { return p.root }

// NamespaceMode returns the mode of namespace ns as set by its policy
// without a selector, else the mesh policy, else PERMISSIVE. A client uses
// it to guess whether a destination service accepts mTLS: a service has
// many workloads, so workload-level policies do not count, as in istiod.
func (p *Policies) NamespaceMode(ns string) Mode {
	mode := Permissive
	if mesh := p.scoped[p.root]; mesh != nil {
		mode = inherit(mode, spec(mesh).GetMtls())
	}
	if ns != p.root {
		if c := p.scoped[ns]; c != nil {
			mode = inherit(mode, spec(c).GetMtls())
		}
	}
	return mode
}

// ForWorkload returns the peer authentication of a workload in namespace
// ns with these labels.
func (p *Policies) ForWorkload(ns string, labels map[string]string) Workload {
	w := Workload{Mode: p.NamespaceMode(ns)}
	c := p.selectorFor(ns, labels)
	if c == nil {
		return w
	}
	pa := spec(c)
	w.Mode = inherit(w.Mode, pa.GetMtls())
	if len(pa.GetPortLevelMtls()) > 0 {
		w.Ports = make(map[uint32]Mode, len(pa.GetPortLevelMtls()))
		for port, m := range pa.GetPortLevelMtls() {
			w.Ports[port] = inherit(w.Mode, m)
		}
	}
	return w
}

func (p *Policies) selectorFor(ns string, labels map[string]string) *model.Config {
	for _, c := range p.selecting[ns] {
		if model.Selects(spec(c).GetSelector().GetMatchLabels(), labels) {
			return c
		}
	}
	return nil
}

// Conflicts returns the mesh and namespace levels where several policies
// without a selector compete, sorted by namespace. Selector conflicts
// depend on the workloads; see SelectorConflict.
func (p *Policies) Conflicts() []Conflict { return p.conflicts }

// SelectorConflict reports whether several workload-level policies select
// a workload, and which one applies.
func (p *Policies) SelectorConflict(ns string, labels map[string]string) (Conflict, bool) {
	var all []*model.Config
	for _, c := range p.selecting[ns] {
		if model.Selects(spec(c).GetSelector().GetMatchLabels(), labels) {
			all = append(all, c)
		}
	}
	if len(all) < 2 {
		return Conflict{}, false
	}
	return Conflict{Winner: all[0], Ignored: all[1:]}, true
}

// inherit resolves a level's setting over its parent's mode: UNSET (or
// no setting) keeps the parent's.
func inherit(parent Mode, m *securityv1beta1.PeerAuthentication_MutualTLS) Mode {
	switch m.GetMode() {
	case securityv1beta1.PeerAuthentication_MutualTLS_STRICT:
		return Strict
	case securityv1beta1.PeerAuthentication_MutualTLS_PERMISSIVE:
		return Permissive
	case securityv1beta1.PeerAuthentication_MutualTLS_DISABLE:
		return Disable
	}
	return parent
}

// spec returns the config's PeerAuthentication, or an empty one if the
// config is of another kind, so that bad input never panics.
func spec(c *model.Config) *securityv1beta1.PeerAuthentication {
	if pa, ok := c.Spec.(*securityv1beta1.PeerAuthentication); ok {
		return pa
	}
	return &securityv1beta1.PeerAuthentication{}
}
