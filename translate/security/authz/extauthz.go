package authz

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	extauthzhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	extauthznetworkv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/ext_authz/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// extAuthzPolicyPrefix starts the names of CUSTOM policies' RBAC
// policies; ext_authz runs for a request only when the policy that marked
// it is named after its provider.
const extAuthzPolicyPrefix = "istio-ext-authz-"

// defaultExtAuthzTimeout is how long Envoy waits for a provider that sets
// no timeout: istiod's ten minutes.
var defaultExtAuthzTimeout = durationpb.New(600e9)

// custom is what a workload's CUSTOM policies become for one target.
type custom struct {
	name     string       // the provider
	provider extAuthz     // its filters
	marks    *rbacv3.RBAC // the requests to send to it
	// denyAll replaces both when the policies cannot be carried out: what
	// they would have sent to the provider is denied instead.
	denyAll *rbacv3.RBAC
	err     error
}

// extAuthz is a provider's filter configs; tcp is nil for HTTP providers.
type extAuthz struct {
	http *extauthzhttpv3.ExtAuthz
	tcp  *extauthznetworkv3.ExtAuthz
}

// customFor resolves a workload's CUSTOM policies. One provider per
// workload is supported, as in istiod's default: with several, or with a
// provider that is missing or broken, every request a CUSTOM policy
// matches is denied.
func customFor(snap *model.Snapshot, configs []*model.Config, t Target) custom {
	var names []string
	for _, c := range configs {
		if n := AsAuthorizationPolicy(c).GetProvider().GetName(); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var out custom
	if len(names) > 1 {
		slices.Sort(names)
		out.err = fmt.Errorf("CUSTOM policies of one workload name several providers %v; only one is supported", names)
	} else {
		out.name = names[0]
		out.provider, out.err = providerFor(snap, out.name)
	}
	enforced, dryRun := rules(snap, configs, rbacv3.RBAC_DENY, t, extAuthzPolicyPrefix+out.name+"-")
	out.marks = merge(enforced, dryRun, rbacv3.RBAC_DENY)
	if out.err != nil {
		out.denyAll = out.marks
		out.marks = nil
	}
	return out
}

// extAuthzEnabled runs ext_authz only for requests the RBAC filter marked
// with a policy of this provider.
func extAuthzEnabled(rbacFilter, provider string) *matcherv3.MetadataMatcher {
	return &matcherv3.MetadataMatcher{
		Filter: rbacFilter,
		Path:   []*matcherv3.MetadataMatcher_PathSegment{{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: extAuthzShadowStatPrefix + "shadow_effective_policy_id"}}},
		Value: &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: extAuthzPolicyPrefix + provider},
		}}},
	}
}

// CheckProvider says why CUSTOM policies naming provider cannot be
// carried out, or returns nil.
func CheckProvider(snap *model.Snapshot, name string) error {
	_, err := providerFor(snap, name)
	return err
}

// HTTPOnlyProvider reports whether provider is a working ext_authz
// provider that speaks HTTP, and so cannot judge TCP connections.
func HTTPOnlyProvider(snap *model.Snapshot, name string) bool {
	p, err := providerFor(snap, name)
	return err == nil && p.tcp == nil
}

// providerFor builds the ext_authz filters of a mesh extension provider,
// or says why it cannot.
func providerFor(snap *model.Snapshot, name string) (extAuthz, error) {
	var p *meshv1alpha1.MeshConfig_ExtensionProvider
	for _, e := range snap.Mesh().GetExtensionProviders() {
		if e.GetName() == name {
			p = e
			break
		}
	}
	switch {
	case name == "":
		return extAuthz{}, errors.New("a CUSTOM policy must name its provider (spec.provider.name)")
	case p == nil:
		return extAuthz{}, fmt.Errorf("extension provider %q is not in the mesh config", name)
	case p.GetEnvoyExtAuthzHttp() != nil:
		return httpProvider(snap, p.GetEnvoyExtAuthzHttp())
	case p.GetEnvoyExtAuthzGrpc() != nil:
		return grpcProvider(snap, p.GetEnvoyExtAuthzGrpc())
	}
	return extAuthz{}, fmt.Errorf("extension provider %q is not an ext_authz provider (envoyExtAuthzHttp or envoyExtAuthzGrpc)", name)
}

// providerCluster finds the outbound cluster of a provider's service,
// written HOST or NAMESPACE/HOST.
func providerCluster(snap *model.Snapshot, service string, port uint32) (host, cluster string, err error) {
	if port == 0 || port > 65535 {
		return "", "", fmt.Errorf("provider port %d is not from 1 to 65535", port)
	}
	ns, host, scoped := strings.Cut(service, "/")
	if !scoped {
		host = service
	}
	svc := snap.Service(host)
	if svc == nil || (scoped && svc.Namespace != ns) {
		return "", "", fmt.Errorf("provider service %q is not in the mesh", service)
	}
	return host, resource.OutboundClusterName(port, "", host), nil
}

// provider is what HTTP and gRPC ext_authz providers share.
type provider interface {
	GetService() string
	GetPort() uint32
	GetStatusOnError() string
}

// providerTarget resolves where a provider is and what Envoy answers
// when it cannot be reached.
func providerTarget(snap *model.Snapshot, p provider) (host, cluster string, status *typev3.HttpStatus, err error) {
	if host, cluster, err = providerCluster(snap, p.GetService(), p.GetPort()); err != nil {
		return "", "", nil, err
	}
	status, err = statusOnError(p.GetStatusOnError())
	return host, cluster, status, err
}

func statusOnError(s string) (*typev3.HttpStatus, error) {
	if s == "" {
		return nil, nil
	}
	code, err := strconv.Atoi(s)
	if _, known := typev3.StatusCode_name[int32(code)]; err != nil || !known {
		return nil, fmt.Errorf("statusOnError %q is not an HTTP status Envoy knows", s)
	}
	return &typev3.HttpStatus{Code: typev3.StatusCode(code)}, nil
}

func timeoutOr(d *durationpb.Duration) *durationpb.Duration {
	if d == nil {
		return defaultExtAuthzTimeout
	}
	return d
}

func httpProvider(snap *model.Snapshot, p *meshv1alpha1.MeshConfig_ExtensionProvider_EnvoyExternalAuthorizationHttpProvider) (extAuthz, error) {
	host, cluster, status, err := providerTarget(snap, p)
	if err != nil {
		return extAuthz{}, err
	}
	if pp := p.GetPathPrefix(); pp != "" && !strings.HasPrefix(pp, "/") {
		return extAuthz{}, fmt.Errorf("pathPrefix %q must start with /", pp)
	}
	service := &extauthzhttpv3.HttpService{
		PathPrefix: p.GetPathPrefix(),
		ServerUri: &corev3.HttpUri{
			Uri:              "http://" + host,
			HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: cluster},
			Timeout:          timeoutOr(p.GetTimeout()),
		},
	}
	if add := p.GetIncludeAdditionalHeadersInCheck(); len(add) > 0 {
		service.AuthorizationRequest = &extauthzhttpv3.AuthorizationRequest{}
		for _, k := range slices.Sorted(maps.Keys(add)) {
			service.AuthorizationRequest.HeadersToAdd = append(service.AuthorizationRequest.HeadersToAdd, &corev3.HeaderValue{Key: k, Value: add[k]})
		}
	}
	up, deny, allow := p.GetHeadersToUpstreamOnAllow(), p.GetHeadersToDownstreamOnDeny(), p.GetHeadersToDownstreamOnAllow()
	if len(up)+len(deny)+len(allow) > 0 {
		service.AuthorizationResponse = &extauthzhttpv3.AuthorizationResponse{
			AllowedUpstreamHeaders:        headerList(up),
			AllowedClientHeaders:          headerList(deny),
			AllowedClientHeadersOnSuccess: headerList(allow),
		}
	}
	check := p.GetIncludeRequestHeadersInCheck()
	if len(check) == 0 {
		check = p.GetIncludeHeadersInCheck() //nolint:staticcheck // the deprecated spelling is still honoured, as by istiod
	}
	return extAuthz{http: &extauthzhttpv3.ExtAuthz{
		Services:            &extauthzhttpv3.ExtAuthz_HttpService{HttpService: service},
		StatusOnError:       status,
		FailureModeAllow:    p.GetFailOpen(),
		TransportApiVersion: corev3.ApiVersion_V3,
		AllowedHeaders:      headerList(check),
		WithRequestBody:     bodySettings(p.GetIncludeRequestBodyInCheck()),
	}}, nil
}

func grpcProvider(snap *model.Snapshot, p *meshv1alpha1.MeshConfig_ExtensionProvider_EnvoyExternalAuthorizationGrpcProvider) (extAuthz, error) {
	host, cluster, status, err := providerTarget(snap, p)
	if err != nil {
		return extAuthz{}, err
	}
	svc := &corev3.GrpcService{
		TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: cluster, Authority: host}},
		Timeout:         timeoutOr(p.GetTimeout()),
	}
	return extAuthz{
		http: &extauthzhttpv3.ExtAuthz{
			Services:            &extauthzhttpv3.ExtAuthz_GrpcService{GrpcService: svc},
			StatusOnError:       status,
			FailureModeAllow:    p.GetFailOpen(),
			TransportApiVersion: corev3.ApiVersion_V3,
			WithRequestBody:     bodySettings(p.GetIncludeRequestBodyInCheck()),
		},
		tcp: &extauthznetworkv3.ExtAuthz{
			StatPrefix:          tcpStatPrefix,
			GrpcService:         svc,
			FailureModeAllow:    p.GetFailOpen(),
			TransportApiVersion: corev3.ApiVersion_V3,
		},
	}, nil
}

// headerList matches header names case-insensitively, with a leading or
// trailing * for a suffix or prefix.
func headerList(names []string) *matcherv3.ListStringMatcher {
	if len(names) == 0 {
		return nil
	}
	out := &matcherv3.ListStringMatcher{}
	for _, n := range names {
		m := globMatcher(n, "")
		m.IgnoreCase = true
		out.Patterns = append(out.Patterns, m)
	}
	return out
}

func bodySettings(b *meshv1alpha1.MeshConfig_ExtensionProvider_EnvoyExternalAuthorizationRequestBody) *extauthzhttpv3.BufferSettings {
	if b == nil {
		return nil
	}
	return &extauthzhttpv3.BufferSettings{MaxRequestBytes: b.GetMaxRequestBytes(), AllowPartialMessage: b.GetAllowPartialMessage(), PackAsBytes: b.GetPackAsBytes()}
}
