// Package authz translates Istio AuthorizationPolicies into the filters
// that enforce them on a workload's inbound side: Envoy's HTTP and network
// RBAC filters (and ext_authz for CUSTOM policies) for sidecars, and the
// RBAC subset gRPC implements (gRFC A41) for proxyless servers.
//
// Semantics are Istio's: DENY is checked before ALLOW; a workload with no
// ALLOW policy allows what is not denied, and one with any ALLOW policy
// allows only what some ALLOW rule matches (a policy without rules matches
// nothing). A condition a target cannot check errs on the side of denying:
// an ALLOW rule that needs it is left out, a DENY rule checks everything
// else (Unenforceable lists them for analyze).
//
// Like all of translate, this package is pure: it reads the Snapshot.
package authz

import (
	"fmt"
	"strconv"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/translate/model"
)

// DryRunAnnotation, set to "true" on a policy, has Envoy evaluate and log
// the policy without enforcing it.
const DryRunAnnotation = "istio.io/dry-run"

// Policies are the authorization policies that apply to one workload, by
// action, each sorted by namespace and name.
type Policies struct {
	Allow, Deny, Audit, Custom []*model.Config
}

// Empty reports whether no policy applies.
func (p Policies) Empty() bool {
	return len(p.Allow)+len(p.Deny)+len(p.Audit)+len(p.Custom) == 0
}

// For returns the policies that apply to a workload in namespace ns with
// labels: those in the root namespace and in ns whose selector matches.
func For(snap *model.Snapshot, ns string, labels map[string]string) Policies {
	var p Policies
	for _, c := range snap.WorkloadPoliciesFor(model.KindAuthorizationPolicy, ns, labels) {
		switch AsAuthorizationPolicy(c).GetAction() {
		case securityv1beta1.AuthorizationPolicy_ALLOW:
			p.Allow = append(p.Allow, c)
		case securityv1beta1.AuthorizationPolicy_DENY:
			p.Deny = append(p.Deny, c)
		case securityv1beta1.AuthorizationPolicy_AUDIT:
			p.Audit = append(p.Audit, c)
		case securityv1beta1.AuthorizationPolicy_CUSTOM:
			p.Custom = append(p.Custom, c)
		}
	}
	return p
}

// AsAuthorizationPolicy returns the config's spec, or an empty one if the
// config is of another kind.
func AsAuthorizationPolicy(c *model.Config) *securityv1beta1.AuthorizationPolicy {
	if ap, ok := c.Spec.(*securityv1beta1.AuthorizationPolicy); ok {
		return ap
	}
	return &securityv1beta1.AuthorizationPolicy{}
}

// policyName names an RBAC policy after the rule it comes from, as istiod
// does, so that Envoy's RBAC logs and stats read the same.
func policyName(c *model.Config, rule int) string {
	return fmt.Sprintf("ns[%s]-policy[%s]-rule[%d]", c.Namespace, c.Name, rule)
}

func isDryRun(c *model.Config) bool {
	v, err := strconv.ParseBool(c.Annotations[DryRunAnnotation])
	return err == nil && v
}

// matchNever is the policy of an AuthorizationPolicy without rules: under
// ALLOW it allows nothing, under DENY it denies nothing.
func matchNever() *rbacv3.Policy {
	return &rbacv3.Policy{
		Permissions: []*rbacv3.Permission{{Rule: &rbacv3.Permission_NotRule{NotRule: &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}}}}},
		Principals:  []*rbacv3.Principal{{Identifier: &rbacv3.Principal_NotId{NotId: &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}}}},
	}
}

// trustDomains are the mesh's trust domain, then its aliases.
func trustDomains(snap *model.Snapshot) []string {
	return append([]string{snap.Mesh().GetTrustDomain()}, snap.Mesh().GetTrustDomainAliases()...)
}

// rules compiles policies into RBAC policy sets for one target: the
// enforced ones and the dry-run ones. prefix goes before every policy
// name (CUSTOM policies are named after their provider). A set is nil
// when no policy goes into it, and empty (matching nothing) when policies
// do but none of their rules can be enforced.
func rules(snap *model.Snapshot, configs []*model.Config, action rbacv3.RBAC_Action, t Target, prefix string) (enforced, dryRun *rbacv3.RBAC) {
	tds := trustDomains(snap)
	for _, c := range configs {
		set := &enforced
		if isDryRun(c) && action != rbacv3.RBAC_LOG {
			set = &dryRun
		}
		if *set == nil {
			*set = &rbacv3.RBAC{Action: action, Policies: map[string]*rbacv3.Policy{}}
		}
		spec := AsAuthorizationPolicy(c)
		if len(spec.GetRules()) == 0 {
			(*set).Policies[prefix+policyName(c, 0)] = matchNever()
			continue
		}
		for i, r := range spec.GetRules() {
			got := compileRule(r, fmt.Sprintf("spec.rules[%d]", i), c.Namespace, tds, t, action == rbacv3.RBAC_ALLOW)
			if got.policy != nil {
				(*set).Policies[prefix+policyName(c, i)] = got.policy
			}
		}
	}
	return enforced, dryRun
}

// Unenforced lists what of one policy a target leaves out, for analyze.
func Unenforced(snap *model.Snapshot, c *model.Config, t Target) []Unenforceable {
	spec := AsAuthorizationPolicy(c)
	allow := spec.GetAction() == securityv1beta1.AuthorizationPolicy_ALLOW
	var out []Unenforceable
	for i, r := range spec.GetRules() {
		out = append(out, compileRule(r, fmt.Sprintf("spec.rules[%d]", i), c.Namespace, trustDomains(snap), t, allow).dropped...)
	}
	return out
}
