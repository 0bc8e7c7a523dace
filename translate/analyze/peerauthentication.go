package analyze

import (
	"fmt"

	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/security/mtls"
)

// peerAuthentications reports PeerAuthentications that do not apply:
// losers of a competition at one level (istiod keeps the oldest; a
// snapshot has no creation times, so translate/security/mtls keeps the
// first by name), selectors in the root namespace, and port-level
// settings without a selector.
func peerAuthentications(snap *model.Snapshot) []model.Problem {
	policies := mtls.New(snap)
	var out []model.Problem
	for _, c := range policies.Conflicts() {
		level := "namespace " + c.Winner.Namespace
		if c.Winner.Namespace == policies.RootNamespace() {
			level = "the mesh (root namespace " + c.Winner.Namespace + ")"
		}
		for _, ignored := range c.Ignored {
			out = append(out, finding(ignored, CodeConflict, "spec.selector",
				"keep one PeerAuthentication without a selector per namespace",
				"%s already has PeerAuthentication %s without a selector, which applies (istiod keeps the oldest; pilotlight the first by name)",
				level, c.Winner.Name))
		}
	}
	out = append(out, selectorConflicts(snap, policies)...)
	for _, c := range snap.Configs(model.KindPeerAuthentication) {
		pa, ok := c.Spec.(*securityv1beta1.PeerAuthentication)
		if !ok {
			continue
		}
		hasSelector := len(pa.GetSelector().GetMatchLabels()) > 0
		if hasSelector && c.Namespace == policies.RootNamespace() {
			out = append(out, finding(c, CodeNotTranslated, "spec.selector",
				"move the policy to the namespace of the workloads it selects",
				"a selector in the root namespace is ignored, as by istiod: the policy applies to no workload"))
		}
		if !hasSelector && len(pa.GetPortLevelMtls()) > 0 {
			out = append(out, finding(c, CodeNotTranslated, "spec.portLevelMtls",
				"add a selector for the workloads whose ports it names",
				"port-level mTLS needs a selector; without one it is ignored"))
		}
	}
	return out
}

// selectorConflicts reports workload-level policies that select a
// workload another one already selects. Workloads are known by the
// endpoints of the snapshot's services; each losing pair is reported
// once, naming one workload.
func selectorConflicts(snap *model.Snapshot, policies *mtls.Policies) []model.Problem {
	type pair struct{ winner, ignored model.ConfigKey }
	seen := map[pair]bool{}
	var out []model.Problem
	for _, svc := range snap.Services() {
		for _, e := range snap.Endpoints(svc.Hostname) {
			c, ok := policies.SelectorConflict(e.Namespace, e.Labels)
			if !ok {
				continue
			}
			for _, ignored := range c.Ignored {
				k := pair{c.Winner.Key(), ignored.Key()}
				if seen[k] {
					continue
				}
				seen[k] = true
				out = append(out, finding(ignored, CodeConflict, "spec.selector",
					"make the selectors of a namespace's PeerAuthentications disjoint",
					"selects workload %s, which PeerAuthentication %s also selects and which applies (istiod keeps the oldest; pilotlight the first by name)",
					workloadName(e), c.Winner.Name))
			}
		}
	}
	return out
}

func workloadName(e *model.Endpoint) string {
	if e.WorkloadName != "" {
		return fmt.Sprintf("%s/%s", e.Namespace, e.WorkloadName)
	}
	return fmt.Sprintf("%s/%s", e.Namespace, e.Address)
}
