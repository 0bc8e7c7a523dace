package eds

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
)

// LocalityLB is the locality-aware load balancing one client applies to
// one cluster's endpoints, as Istio shapes a load assignment for the
// proxy asking: either traffic distributed over localities by weight, or
// endpoints ranked in priorities, nearest first, so that the client fails
// over to the next priority only when the nearer ones are unhealthy. The
// zero value leaves the assignment alone.
type LocalityLB struct {
	// Setting is the effective setting, nil when locality load
	// balancing is off for the cluster.
	Setting *networkingv1alpha3.LocalityLoadBalancerSetting
	// Failover: the cluster has outlier detection, without which a
	// client never notices that nearer endpoints failed, so Istio ranks
	// endpoints only then.
	Failover bool
	// The client's locality and labels.
	ClientLocality model.Locality
	ClientLabels   map[string]string
}

// Topology labels: Istio adds them to every workload's labels from its
// locality, so failover priorities may name them.
const (
	labelRegion  = "topology.kubernetes.io/region"
	labelZone    = "topology.kubernetes.io/zone"
	labelSubzone = "topology.istio.io/subzone"
	labelNetwork = "topology.istio.io/network"
)

// workloadLabel reads a label of a workload, its topology labels taken
// from its locality unless set.
func workloadLabel(labels map[string]string, loc model.Locality, key string) string {
	if v, ok := labels[key]; ok {
		return v
	}
	switch key {
	case labelRegion:
		return loc.Region
	case labelZone:
		return loc.Zone
	case labelSubzone:
		return loc.SubZone
	}
	return ""
}

// localityGroup is one locality's share of a load assignment, with the
// model endpoints behind its LbEndpoints (same order) when failover
// priorities need their labels.
type localityGroup struct {
	lle       *endpointv3.LocalityLbEndpoints
	endpoints []*model.Endpoint
}

// readsEndpointLabels reports whether apply ranks endpoints by label,
// and so needs the groups' endpoints.
func (lb LocalityLB) readsEndpointLabels() bool {
	return lb.Setting != nil && lb.Failover && len(lb.Setting.GetDistribute()) == 0 && len(lb.Setting.GetFailoverPriority()) > 0
}

// apply shapes the assignment's localities (out, in the order of groups)
// for the client.
func (lb LocalityLB) apply(out []*endpointv3.LocalityLbEndpoints, groups []localityGroup) []*endpointv3.LocalityLbEndpoints {
	s := lb.Setting
	switch {
	case len(s.GetDistribute()) > 0:
		return lb.distribute(out)
	case lb.Failover && len(s.GetFailoverPriority()) > 0:
		// Istio ranks by labels only for a client it knows labels of.
		if len(lb.ClientLabels) > 0 || lb.ClientLocality != (model.Locality{}) {
			out = lb.failoverPriorities(groups)
		}
		if len(s.GetFailover()) > 0 {
			lb.failover(out)
		}
	case lb.Failover:
		lb.failover(out)
	}
	return out
}

// distribute applies the first rule whose from covers the client: each
// to entry's weight is shared among the localities it covers in
// proportion to their own weights (rounded up, so none drops to zero);
// localities no entry covers get no traffic and are left out. A locality
// two entries cover belongs to the first in sorted order.
func (lb LocalityLB) distribute(all []*endpointv3.LocalityLbEndpoints) []*endpointv3.LocalityLbEndpoints {
	for _, d := range lb.Setting.GetDistribute() {
		if !localityMatches(lb.ClientLocality, d.GetFrom()) {
			continue
		}
		taken := make([]bool, len(all))
		var out []*endpointv3.LocalityLbEndpoints
		to := d.GetTo()
		for _, pattern := range slices.Sorted(maps.Keys(to)) {
			var members []int
			var total uint64
			for i, l := range all {
				if !taken[i] && localityMatches(localityOf(l), pattern) {
					taken[i] = true
					members = append(members, i)
					total += uint64(l.GetLoadBalancingWeight().GetValue())
				}
			}
			for _, i := range members {
				w := math.Ceil(float64(uint64(all[i].GetLoadBalancingWeight().GetValue())*uint64(to[pattern])) / float64(total))
				if w > 0 {
					all[i].LoadBalancingWeight = wrapperspb.UInt32(uint32(w))
					out = append(out, all[i])
				}
			}
		}
		slices.SortFunc(out, compareLocalities)
		return out
	}
	return all
}

// failoverPriorities splits each locality by how many of the listed
// labels, in order, an endpoint shares with the client: all of them is
// priority 0, failing the first is the lowest. A network label first
// only pushes endpoints of other networks below all the rest. Priorities
// are then numbered from 0 without gaps, as Envoy requires.
func (lb LocalityLB) failoverPriorities(groups []localityGroup) []*endpointv3.LocalityLbEndpoints {
	prios := lb.Setting.GetFailoverPriority()
	n := len(prios)
	keys := make([]string, n)
	want := make([]string, n)
	for j, p := range prios {
		k, v, override := strings.Cut(p, "=")
		keys[j] = k
		if override {
			want[j] = v
		} else {
			want[j] = workloadLabel(lb.ClientLabels, lb.ClientLocality, k)
		}
	}
	var out []*endpointv3.LocalityLbEndpoints
	for _, g := range groups {
		byPriority := map[uint32]*endpointv3.LocalityLbEndpoints{}
		for i, e := range g.endpoints {
			prio, adjust := 0, 0
			for j, k := range keys {
				if workloadLabel(e.Labels, e.Locality, k) == want[j] {
					continue
				}
				if j == 0 && k == labelNetwork {
					adjust = n
					continue
				}
				prio = n - j
				break
			}
			p := uint32(prio + adjust)
			l, ok := byPriority[p]
			if !ok {
				l = &endpointv3.LocalityLbEndpoints{Locality: g.lle.GetLocality(), Priority: p, LoadBalancingWeight: wrapperspb.UInt32(0)}
				byPriority[p] = l
			}
			l.LbEndpoints = append(l.LbEndpoints, g.lle.GetLbEndpoints()[i])
			l.LoadBalancingWeight.Value += g.lle.GetLbEndpoints()[i].GetLoadBalancingWeight().GetValue()
		}
		for _, p := range slices.Sorted(maps.Keys(byPriority)) {
			out = append(out, byPriority[p])
		}
	}
	renumber(out)
	return out
}

// failover ranks localities by nearness to the client, on top of any
// ranking already there: same subzone, same zone, same region, then
// other regions, where a failover rule for the client's region puts its
// target region before the others.
func (lb LocalityLB) failover(all []*endpointv3.LocalityLbEndpoints) {
	c := lb.ClientLocality
	for _, l := range all {
		loc := localityOf(l)
		var near uint32
		switch {
		case loc.Region != c.Region:
			near = 3
			for _, f := range lb.Setting.GetFailover() {
				if f.GetFrom() == c.Region {
					if loc.Region != f.GetTo() {
						near = 4
					}
					break
				}
			}
		case loc.Zone != c.Zone:
			near = 2
		case loc.SubZone != c.SubZone:
			near = 1
		}
		l.Priority = l.Priority*5 + near
	}
	renumber(all)
}

// renumber maps the priorities in use onto 0, 1, 2, ... in order.
func renumber(all []*endpointv3.LocalityLbEndpoints) {
	var used []uint32
	for _, l := range all {
		used = append(used, l.GetPriority())
	}
	slices.Sort(used)
	used = slices.Compact(used)
	for _, l := range all {
		p, _ := slices.BinarySearch(used, l.GetPriority())
		l.Priority = uint32(p)
	}
}

// localityMatches reports whether a locality falls under an Istio
// locality pattern REGION[/ZONE[/SUBZONE]], where "*" (or an omitted
// part) matches anything.
func localityMatches(l model.Locality, pattern string) bool {
	p := model.ParseLocality(pattern)
	part := func(want, got string, omittable bool) bool {
		return want == "*" || (omittable && want == "") || want == got
	}
	return part(p.Region, l.Region, false) && part(p.Zone, l.Zone, true) && part(p.SubZone, l.SubZone, true)
}

func localityOf(l *endpointv3.LocalityLbEndpoints) model.Locality {
	return model.Locality{Region: l.GetLocality().GetRegion(), Zone: l.GetLocality().GetZone(), SubZone: l.GetLocality().GetSubZone()}
}

func compareLocalities(a, b *endpointv3.LocalityLbEndpoints) int {
	la, lb := localityOf(a), localityOf(b)
	return cmp.Or(cmp.Compare(la.Region, lb.Region), cmp.Compare(la.Zone, lb.Zone), cmp.Compare(la.SubZone, lb.SubZone))
}
