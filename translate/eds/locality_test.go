package eds

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
)

const host = "svc.shop.svc.cluster.local"

// snapshotWith holds one service whose endpoints sit in the given
// localities (one endpoint each, weight 1, labelled as given).
func snapshotWith(eps ...*model.Endpoint) *model.Snapshot {
	b := model.NewBuilder()
	b.AddService(&model.Service{Hostname: host, Name: "svc", Namespace: "shop", Ports: []model.Port{{Name: "http", Number: 80, Protocol: model.HTTP}}})
	for _, e := range eps {
		e.ServiceHostname, e.ServicePortName, e.Port = host, "http", 8080
	}
	b.AddEndpoints(eps...)
	return b.Build()
}

func ep(addr, locality string, labels map[string]string) *model.Endpoint {
	return &model.Endpoint{Address: addr, Locality: model.ParseLocality(locality), Labels: labels}
}

// shape is a load assignment reduced to locality, priority, weight and
// addresses, in order.
type shape struct {
	Locality string
	Priority uint32
	Weight   uint32
	Addrs    string
}

func shapes(snap *model.Snapshot, lb LocalityLB) []shape {
	var out []shape
	for _, l := range LoadAssignment(snap, "c", host, "http", nil, lb).GetEndpoints() {
		s := shape{Locality: localityOf(l).String(), Priority: l.GetPriority(), Weight: l.GetLoadBalancingWeight().GetValue()}
		for _, e := range l.GetLbEndpoints() {
			s.Addrs += e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress() + " "
		}
		out = append(out, s)
	}
	return out
}

func TestLocalityFailover(t *testing.T) {
	snap := snapshotWith(ep("1", "east/a", nil), ep("2", "east/a/x", nil), ep("3", "east/b", nil), ep("4", "west/a", nil), ep("5", "eu/a", nil))
	client := model.Locality{Region: "east", Zone: "a"}
	setting := &networkingv1alpha3.LocalityLoadBalancerSetting{Failover: []*networkingv1alpha3.LocalityLoadBalancerSetting_Failover{
		{From: "east", To: "west"}, {From: "east", To: "eu"}, // only the first rule for a region counts
	}}
	got := shapes(snap, LocalityLB{Setting: setting, Failover: true, ClientLocality: client})
	// In locality order; ranked same zone, same region (subzone, then
	// zone), the failover region, the rest.
	want := []shape{
		{"east/a", 0, 1, "1 "}, {"east/a/x", 1, 1, "2 "}, {"east/b", 2, 1, "3 "}, {"eu/a", 4, 1, "5 "}, {"west/a", 3, 1, "4 "},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("failover (-want +got):\n%s", diff)
	}
	// Without outlier detection (Failover false) nothing is ranked, and
	// without a setting nothing changes either.
	plain := shapes(snap, LocalityLB{})
	for _, lb := range []LocalityLB{{Setting: setting, ClientLocality: client}, {Failover: true, ClientLocality: client}} {
		if diff := cmp.Diff(plain, shapes(snap, lb)); diff != "" {
			t.Errorf("%+v changed the assignment:\n%s", lb, diff)
		}
	}
}

func TestLocalityDistribute(t *testing.T) {
	a := ep("1", "east/a", nil)
	a.Weight = 3
	snap := snapshotWith(a, ep("2", "east/a", nil), ep("3", "east/b", nil), ep("4", "west/a", nil), ep("5", "west/b", nil), ep("6", "eu/a", nil))
	setting := &networkingv1alpha3.LocalityLoadBalancerSetting{Distribute: []*networkingv1alpha3.LocalityLoadBalancerSetting_Distribute{
		{From: "north/*", To: map[string]uint32{"north/*": 100}},
		{From: "east/a/*", To: map[string]uint32{"east/a": 70, "west/*": 29, "eu/*": 1}},
	}}
	got := shapes(snap, LocalityLB{Setting: setting, Failover: true, ClientLocality: model.Locality{Region: "east", Zone: "a", SubZone: "s"}})
	want := []shape{
		{"east/a", 0, 70, "1 2 "},
		{"eu/a", 0, 1, "6 "},
		{"west/a", 0, 15, "4 "}, // 29 shared by two localities of weight 1, rounded up
		{"west/b", 0, 15, "5 "},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("distribute (-want +got):\n%s", diff)
	}
	// A client no rule is from keeps the plain assignment.
	if diff := cmp.Diff(shapes(snap, LocalityLB{}), shapes(snap, LocalityLB{Setting: setting, ClientLocality: model.Locality{Region: "west"}})); diff != "" {
		t.Errorf("unmatched client (-plain +got):\n%s", diff)
	}
}

func TestLocalityFailoverPriority(t *testing.T) {
	gold, silver := map[string]string{"tier": "gold"}, map[string]string{"tier": "silver"}
	snap := snapshotWith(ep("1", "east/a", gold), ep("2", "east/a", silver), ep("3", "west/a", gold), ep("4", "west/a", silver),
		ep("5", "east/b", map[string]string{"tier": "gold", "topology.kubernetes.io/region": "west"}))
	client := model.Locality{Region: "east", Zone: "a"}
	for _, tt := range []struct {
		name     string
		prios    []string
		failover []*networkingv1alpha3.LocalityLoadBalancerSetting_Failover
		labels   map[string]string
		want     []shape
	}{
		{"tier then region", []string{"tier", "topology.kubernetes.io/region"}, nil, gold, []shape{
			{"east/a", 0, 1, "1 "}, {"east/a", 2, 1, "2 "},
			{"east/b", 1, 1, "5 "}, // its own region label wins over its locality
			{"west/a", 1, 1, "3 "}, {"west/a", 2, 1, "4 "},
		}},
		{"a value to compare with instead of the client's", []string{"tier=silver"}, nil, gold, []shape{
			{"east/a", 0, 1, "2 "}, {"east/a", 1, 1, "1 "}, {"east/b", 1, 1, "5 "}, {"west/a", 0, 1, "4 "}, {"west/a", 1, 1, "3 "},
		}},
		{"then by locality", []string{"tier"}, []*networkingv1alpha3.LocalityLoadBalancerSetting_Failover{{From: "east", To: "west"}}, gold, []shape{
			{"east/a", 0, 1, "1 "}, {"east/a", 3, 1, "2 "}, {"east/b", 1, 1, "5 "}, {"west/a", 2, 1, "3 "}, {"west/a", 4, 1, "4 "},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setting := &networkingv1alpha3.LocalityLoadBalancerSetting{FailoverPriority: tt.prios, Failover: tt.failover}
			got := shapes(snap, LocalityLB{Setting: setting, Failover: true, ClientLocality: client, ClientLabels: tt.labels})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLocalityMatches(t *testing.T) {
	l := model.Locality{Region: "east", Zone: "a", SubZone: "s"}
	for pattern, want := range map[string]bool{
		"east": true, "east/a": true, "east/a/s": true, "east/*": true, "*": true, "east/a/*": true,
		"west": false, "east/b": false, "east/a/t": false, "*/b": false,
	} {
		if got := localityMatches(l, pattern); got != want {
			t.Errorf("localityMatches(%v, %q) = %v, want %v", l, pattern, got, want)
		}
	}
}
