package networking

import (
	"github.com/pilotlight/pilotlight/translate/model"
)

// Subset is a named slice of a service's endpoints from a DestinationRule.
type Subset struct {
	Name   string
	Labels map[string]string
}

// ClusterPolicy is what a client workload applies to one service:
// the DestinationRule that wins for it, if any, and its subsets.
type ClusterPolicy struct {
	Rule    *model.Config
	Subsets []Subset
}

// PolicyFor looks up the DestinationRule for a service as seen from a
// client workload in namespace clientNS with these labels.
func PolicyFor(snap *model.Snapshot, hostname, clientNS string, clientLabels map[string]string) ClusterPolicy {
	c := snap.DestinationRuleFor(hostname, clientNS, clientLabels)
	if c == nil {
		return ClusterPolicy{}
	}
	dr := model.AsDestinationRule(c)
	p := ClusterPolicy{Rule: c}
	for _, s := range dr.GetSubsets() {
		p.Subsets = append(p.Subsets, Subset{Name: s.GetName(), Labels: s.GetLabels()})
	}
	return p
}
