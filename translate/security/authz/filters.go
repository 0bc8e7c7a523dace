package authz

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	extauthzhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	extauthznetworkv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetworkv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// Stat prefixes Envoy reports RBAC decisions under, istiod's, so that
// dashboards built for it keep working.
const (
	tcpStatPrefix            = "tcp."
	dryRunAllowStatPrefix    = "istio_dry_run_allow_"
	dryRunDenyStatPrefix     = "istio_dry_run_deny_"
	extAuthzShadowStatPrefix = "istio_ext_authz_"
)

// Names of gRPC's RBAC filters: gRPC wants every filter of a connection
// manager named differently.
const (
	grpcDenyFilter   = wellknown.HTTPRoleBasedAccessControl + ".DENY"
	grpcCustomFilter = wellknown.HTTPRoleBasedAccessControl + ".CUSTOM"
	grpcAllowFilter  = wellknown.HTTPRoleBasedAccessControl
)

func shadowStatPrefix(action rbacv3.RBAC_Action) string {
	if action == rbacv3.RBAC_DENY {
		return dryRunDenyStatPrefix
	}
	return dryRunAllowStatPrefix
}

// CustomHTTPFilters are the filters of CUSTOM policies, which go first in
// an inbound HTTP connection manager: an RBAC filter that only marks the
// requests a policy matches, then ext_authz, which asks the provider about
// marked requests.
func CustomHTTPFilters(snap *model.Snapshot, p Policies) []*hcmv3.HttpFilter {
	if len(p.Custom) == 0 {
		return nil
	}
	c := customFor(snap, p.Custom, HTTP)
	if c.err != nil {
		return []*hcmv3.HttpFilter{httpFilter(wellknown.HTTPRoleBasedAccessControl, &rbachttpv3.RBAC{Rules: c.denyAll})}
	}
	ext := proto.Clone(c.provider.http).(*extauthzhttpv3.ExtAuthz)
	ext.FilterEnabledMetadata = extAuthzEnabled(wellknown.HTTPRoleBasedAccessControl, c.name)
	return []*hcmv3.HttpFilter{
		httpFilter(wellknown.HTTPRoleBasedAccessControl, &rbachttpv3.RBAC{ShadowRules: c.marks, ShadowRulesStatPrefix: extAuthzShadowStatPrefix}),
		httpFilter(wellknown.HTTPExternalAuthorization, ext),
	}
}

// HTTPFilters are the RBAC filters of AUDIT, DENY and ALLOW policies, in
// that order, which go after authentication in an inbound HTTP connection
// manager.
func HTTPFilters(snap *model.Snapshot, p Policies) []*hcmv3.HttpFilter {
	var out []*hcmv3.HttpFilter
	for _, s := range ruleSets(snap, p, HTTP) {
		f := &rbachttpv3.RBAC{Rules: s.enforced, ShadowRules: s.dryRun, ShadowRulesStatPrefix: s.statPrefix}
		out = append(out, httpFilter(wellknown.HTTPRoleBasedAccessControl, f))
	}
	return out
}

// ruleSet is the rules of one action for one filter.
type ruleSet struct {
	enforced, dryRun *rbacv3.RBAC
	statPrefix       string // of the dry-run rules
}

// ruleSets compiles AUDIT, DENY and ALLOW policies, in the order their
// filters run; an action without policies has no filter.
func ruleSets(snap *model.Snapshot, p Policies, t Target) []ruleSet {
	var out []ruleSet
	for _, a := range []struct {
		configs []*model.Config
		action  rbacv3.RBAC_Action
	}{{p.Audit, rbacv3.RBAC_LOG}, {p.Deny, rbacv3.RBAC_DENY}, {p.Allow, rbacv3.RBAC_ALLOW}} {
		if len(a.configs) == 0 {
			continue
		}
		var s ruleSet
		s.enforced, s.dryRun = rules(snap, a.configs, a.action, t, "")
		if s.dryRun != nil {
			s.statPrefix = shadowStatPrefix(a.action)
		}
		out = append(out, s)
	}
	return out
}

// NetworkFilters are the filters of an inbound TCP filter chain, before
// the TCP proxy: CUSTOM (with a gRPC provider; an HTTP provider cannot
// judge a TCP connection and is not asked, as in Istio), then AUDIT, DENY
// and ALLOW.
func NetworkFilters(snap *model.Snapshot, p Policies) []*listenerv3.Filter {
	var out []*listenerv3.Filter
	if len(p.Custom) > 0 {
		c := customFor(snap, p.Custom, TCP)
		switch {
		case c.err != nil:
			out = append(out, networkFilter(wellknown.RoleBasedAccessControl, &rbacnetworkv3.RBAC{Rules: c.denyAll, StatPrefix: tcpStatPrefix}))
		case c.provider.tcp != nil:
			ext := proto.Clone(c.provider.tcp).(*extauthznetworkv3.ExtAuthz)
			ext.FilterEnabledMetadata = extAuthzEnabled(wellknown.RoleBasedAccessControl, c.name)
			out = append(out,
				networkFilter(wellknown.RoleBasedAccessControl, &rbacnetworkv3.RBAC{ShadowRules: c.marks, StatPrefix: tcpStatPrefix, ShadowRulesStatPrefix: extAuthzShadowStatPrefix}),
				networkFilter(wellknown.ExternalAuthorization, ext))
		}
	}
	for _, s := range ruleSets(snap, p, TCP) {
		f := &rbacnetworkv3.RBAC{Rules: s.enforced, ShadowRules: s.dryRun, ShadowRulesStatPrefix: s.statPrefix, StatPrefix: tcpStatPrefix}
		out = append(out, networkFilter(wellknown.RoleBasedAccessControl, f))
	}
	return out
}

// GRPCFilters are the RBAC filters of a proxyless gRPC server, before its
// router. gRPC enforces DENY and ALLOW only. It cannot call an ext_authz
// provider, so the requests a CUSTOM policy would send to one are denied;
// it does not log, so AUDIT and dry-run policies are left out (they
// change no decision).
func GRPCFilters(snap *model.Snapshot, p Policies) []*hcmv3.HttpFilter {
	var out []*hcmv3.HttpFilter
	if len(p.Custom) > 0 {
		enforced, dryRun := rules(snap, p.Custom, rbacv3.RBAC_DENY, GRPC, "")
		out = append(out, httpFilter(grpcCustomFilter, &rbachttpv3.RBAC{Rules: merge(enforced, dryRun, rbacv3.RBAC_DENY)}))
	}
	if enforced, _ := rules(snap, p.Deny, rbacv3.RBAC_DENY, GRPC, ""); enforced != nil {
		out = append(out, httpFilter(grpcDenyFilter, &rbachttpv3.RBAC{Rules: enforced}))
	}
	if enforced, _ := rules(snap, p.Allow, rbacv3.RBAC_ALLOW, GRPC, ""); enforced != nil {
		out = append(out, httpFilter(grpcAllowFilter, &rbachttpv3.RBAC{Rules: enforced}))
	}
	return out
}

// merge joins two policy sets of one action; either may be nil.
func merge(a, b *rbacv3.RBAC, action rbacv3.RBAC_Action) *rbacv3.RBAC {
	out := &rbacv3.RBAC{Action: action, Policies: map[string]*rbacv3.Policy{}}
	for _, set := range []*rbacv3.RBAC{a, b} {
		for k, v := range set.GetPolicies() {
			out.Policies[k] = v
		}
	}
	return out
}

func httpFilter(name string, m proto.Message) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: resource.Any(m)}}
}

func networkFilter(name string, m proto.Message) *listenerv3.Filter {
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: resource.Any(m)}}
}
