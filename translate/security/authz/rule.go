package authz

import (
	"fmt"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	securityv1beta1 "istio.io/api/security/v1beta1"
)

// Target is where a rule is enforced; each enforces a different subset of
// what a rule can say.
type Target int

const (
	// HTTP is Envoy's HTTP RBAC filter: everything.
	HTTP Target = iota
	// TCP is Envoy's network RBAC filter: no request attributes (methods,
	// paths, hosts, headers, JWT claims).
	TCP
	// GRPC is a proxyless gRPC server's RBAC filter (gRFC A41): no JWT
	// claims (gRPC has no jwt_authn, so its metadata never matches), no
	// SNI, no URI templates, no grpc-* or :scheme headers.
	GRPC
)

func (t Target) String() string {
	switch t {
	case TCP:
		return "TCP ports"
	case GRPC:
		return "proxyless gRPC servers"
	}
	return "HTTP ports"
}

// Names Envoy's jwt_authn filter writes a verified token's claims under
// (its payload_in_metadata), and that request.auth.* conditions read.
const (
	JWTFilterName      = "envoy.filters.http.jwt_authn"
	JWTPayloadMetadata = "payload"
)

// condition is one attribute a rule tests: any of values must match and
// none of notValues may. Every condition of a rule must hold.
type condition struct {
	field             string // where it is written, for reports
	key               string // the attribute, e.g. source.ip
	values, notValues []string
}

// Unenforceable is a condition a target cannot carry out, reported by
// analyze. For an ALLOW rule the whole rule is left out (it allows
// nothing); for DENY, AUDIT and CUSTOM rules only the condition is left
// out (the rule matches more). Either way the error is on the side of
// denying, as Istio does for HTTP conditions on TCP ports.
type Unenforceable struct {
	Field  string
	Reason string
}

// compiled is a rule in Envoy's terms.
type compiled struct {
	policy  *rbacv3.Policy
	dropped []Unenforceable // conditions left out
	skipped bool            // the rule as a whole was left out
}

// compileRule turns one rule into an RBAC policy for a target. ns is the
// policy's namespace (the default of serviceAccounts); trustDomains are
// the mesh's trust domain and its aliases, first the trust domain.
func compileRule(r *securityv1beta1.Rule, field, ns string, trustDomains []string, t Target, allow bool) compiled {
	var out compiled
	// when conditions apply to every from and every to.
	var whenPrincipals, whenPermissions []condition
	for i, w := range r.GetWhen() {
		c := condition{field: fmt.Sprintf("%s.when[%d]", field, i), key: w.GetKey(), values: w.GetValues(), notValues: w.GetNotValues()}
		if isPermissionKey(w.GetKey()) {
			whenPermissions = append(whenPermissions, c)
		} else {
			whenPrincipals = append(whenPrincipals, c)
		}
	}
	pb := builder{ns: ns, trustDomains: trustDomains, target: t, allow: allow}

	var principals []*rbacv3.Principal
	froms := r.GetFrom()
	if len(froms) == 0 {
		froms = []*securityv1beta1.Rule_From{{}}
	}
	for i, f := range froms {
		s, sf := f.GetSource(), fmt.Sprintf("%s.from[%d].source", field, i)
		conds := []condition{
			{sf + ".principals", attrSrcPrincipal, s.GetPrincipals(), s.GetNotPrincipals()},
			{sf + ".requestPrincipals", attrRequestPrincipal, s.GetRequestPrincipals(), s.GetNotRequestPrincipals()},
			{sf + ".serviceAccounts", attrSrcServiceAccount, s.GetServiceAccounts(), s.GetNotServiceAccounts()},
			{sf + ".trustDomains", attrSrcTrustDomain, s.GetTrustDomains(), s.GetNotTrustDomains()},
			{sf + ".namespaces", attrSrcNamespace, s.GetNamespaces(), s.GetNotNamespaces()},
			{sf + ".remoteIpBlocks", attrRemoteIP, s.GetRemoteIpBlocks(), s.GetNotRemoteIpBlocks()},
			{sf + ".ipBlocks", attrSrcIP, s.GetIpBlocks(), s.GetNotIpBlocks()},
		}
		p, ok := pb.principal(append(conds, whenPrincipals...))
		if !ok {
			out.skipped = true
		}
		principals = append(principals, p)
	}

	var permissions []*rbacv3.Permission
	tos := r.GetTo()
	if len(tos) == 0 {
		tos = []*securityv1beta1.Rule_To{{}}
	}
	for i, to := range tos {
		o, of := to.GetOperation(), fmt.Sprintf("%s.to[%d].operation", field, i)
		conds := []condition{
			{of + ".hosts", attrHost, o.GetHosts(), o.GetNotHosts()},
			{of + ".methods", attrMethod, o.GetMethods(), o.GetNotMethods()},
			{of + ".paths", attrPath, o.GetPaths(), o.GetNotPaths()},
			{of + ".ports", attrDestPort, o.GetPorts(), o.GetNotPorts()},
		}
		p, ok := pb.permission(append(conds, whenPermissions...))
		if !ok {
			out.skipped = true
		}
		permissions = append(permissions, p)
	}
	out.dropped = pb.dropped
	if !out.skipped {
		out.policy = &rbacv3.Policy{Permissions: permissions, Principals: principals}
	}
	return out
}

// Attributes, as written in when conditions; from and to fields map onto
// the same names.
const (
	attrSrcIP             = "source.ip"
	attrRemoteIP          = "remote.ip"
	attrSrcNamespace      = "source.namespace"
	attrSrcPrincipal      = "source.principal"
	attrSrcServiceAccount = "source.serviceAccount"
	attrSrcTrustDomain    = "source.trustDomain"
	attrRequestPrincipal  = "request.auth.principal"
	attrRequestAudiences  = "request.auth.audiences"
	attrRequestPresenter  = "request.auth.presenter"
	attrRequestClaims     = "request.auth.claims"
	attrRequestHeaders    = "request.headers"
	attrDestIP            = "destination.ip"
	attrDestPort          = "destination.port"
	attrConnSNI           = "connection.sni"
	// Attributes of to.operation with no when form.
	attrHost   = "to.operation.hosts"
	attrMethod = "to.operation.methods"
	attrPath   = "to.operation.paths"
)

// isPermissionKey says whether an attribute is about the destination
// (an RBAC permission) rather than the source (a principal).
func isPermissionKey(key string) bool {
	switch key {
	case attrDestIP, attrDestPort, attrConnSNI:
		return true
	}
	return false
}

// builder turns conditions into principals and permissions, recording the
// ones it leaves out.
type builder struct {
	ns           string
	trustDomains []string
	target       Target
	allow        bool
	dropped      []Unenforceable
}

// principal ANDs conditions; ok is false when an ALLOW rule must be left
// out.
func (b *builder) principal(conds []condition) (*rbacv3.Principal, bool) {
	and, ok := conjunction(b, conds, b.principalFor, orIDs, func(p *rbacv3.Principal) *rbacv3.Principal {
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_NotId{NotId: p}}
	})
	if !ok {
		return nil, false
	}
	if len(and) == 0 {
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}, true
	}
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_AndIds{AndIds: &rbacv3.Principal_Set{Ids: and}}}, true
}

// permission is principal's twin for the destination side.
func (b *builder) permission(conds []condition) (*rbacv3.Permission, bool) {
	and, ok := conjunction(b, conds, b.permissionFor, orRules, func(p *rbacv3.Permission) *rbacv3.Permission {
		return &rbacv3.Permission{Rule: &rbacv3.Permission_NotRule{NotRule: p}}
	})
	if !ok {
		return nil, false
	}
	if len(and) == 0 {
		return &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}}, true
	}
	return &rbacv3.Permission{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{Rules: and}}}, true
}

// conjunction builds the terms every one of which must hold: per
// condition, any of its values and none of its not-values. A condition
// with an unenforceable value is recorded and, for ALLOW, fails the rule
// (ok false); otherwise it is left out.
func conjunction[T any](b *builder, conds []condition, build func(key, value string) (T, error), or func([]T) T, not func(T) T) (and []T, ok bool) {
	for _, c := range conds {
		if len(c.values) == 0 && len(c.notValues) == 0 {
			continue
		}
		terms, err := each(b, c, build)
		if err != nil {
			if b.allow {
				b.dropped = append(b.dropped, Unenforceable{c.field, err.Error() + "; the rule allows nothing"})
				return nil, false
			}
			b.dropped = append(b.dropped, Unenforceable{c.field, err.Error() + "; the condition is left out, so the rule matches more"})
			continue
		}
		if len(terms[0]) > 0 {
			and = append(and, or(terms[0]))
		}
		if len(terms[1]) > 0 {
			and = append(and, not(or(terms[1])))
		}
	}
	return and, true
}

// each builds one matcher per value and per not-value; any error makes
// the whole condition unenforceable.
func each[T any](b *builder, c condition, build func(key, value string) (T, error)) ([2][]T, error) {
	var out [2][]T
	for i, list := range [][]string{c.values, c.notValues} {
		for _, v := range b.expand(c.key, list) {
			m, err := build(c.key, v)
			if err != nil {
				return out, err
			}
			out[i] = append(out[i], m)
		}
	}
	return out, nil
}
