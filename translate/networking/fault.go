package networking

import (
	"strconv"
	"strings"

	commonfaultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/resource"
)

// fault builds the per-route fault filter config. A percentage left out
// means every request, as in Istio.
func fault(f *networkingv1alpha3.HTTPFaultInjection) *anypb.Any {
	if f == nil || (f.GetDelay() == nil && f.GetAbort() == nil) {
		return nil
	}
	out := &faultv3.HTTPFault{}
	if d := f.GetDelay(); d != nil {
		delay := &commonfaultv3.FaultDelay{Percentage: faultPercent(d.GetPercentage(), d.GetPercent())} //nolint:staticcheck // Istio still accepts the deprecated field; users rely on it.
		switch t := d.GetHttpDelayType().(type) {
		case *networkingv1alpha3.HTTPFaultInjection_Delay_FixedDelay:
			delay.FaultDelaySecifier = &commonfaultv3.FaultDelay_FixedDelay{FixedDelay: t.FixedDelay}
		default:
			delay = nil // exponentialDelay is not implemented by Envoy either.
		}
		out.Delay = delay
	}
	if a := f.GetAbort(); a != nil {
		abort := &faultv3.FaultAbort{Percentage: faultPercent(a.GetPercentage(), 0)}
		switch t := a.GetErrorType().(type) {
		case *networkingv1alpha3.HTTPFaultInjection_Abort_HttpStatus:
			abort.ErrorType = &faultv3.FaultAbort_HttpStatus{HttpStatus: uint32(t.HttpStatus)}
		case *networkingv1alpha3.HTTPFaultInjection_Abort_GrpcStatus:
			abort.ErrorType = &faultv3.FaultAbort_GrpcStatus{GrpcStatus: grpcStatusCode(t.GrpcStatus)}
		default:
			abort = nil
		}
		out.Abort = abort
	}
	if out.Delay == nil && out.Abort == nil {
		return nil
	}
	return resource.Any(out)
}

func faultPercent(p *networkingv1alpha3.Percent, legacy int32) *typev3.FractionalPercent {
	switch {
	case p != nil:
		return percent(p.GetValue())
	case legacy > 0:
		return percent(float64(legacy))
	}
	return percent(100)
}

// grpcStatusCode accepts Istio's names (UNAVAILABLE) and numbers.
func grpcStatusCode(s string) uint32 {
	for code, name := range grpcCodeNames {
		if strings.EqualFold(name, s) {
			return uint32(code)
		}
	}
	var n uint32
	for _, c := range s {
		if c < '0' || c > '9' {
			return 2 // UNKNOWN: validation rejects other strings.
		}
		n = n*10 + uint32(c-'0')
	}
	return n
}

var grpcCodeNames = []string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// corsPolicy builds the per-route CORS filter config.
func corsPolicy(c *networkingv1alpha3.CorsPolicy) *anypb.Any {
	if c == nil {
		return nil
	}
	out := &corsv3.CorsPolicy{
		AllowMethods:  strings.Join(c.GetAllowMethods(), ","),
		AllowHeaders:  strings.Join(c.GetAllowHeaders(), ","),
		ExposeHeaders: strings.Join(c.GetExposeHeaders(), ","),
	}
	for _, o := range c.GetAllowOrigins() {
		if m := stringMatcher(o); m != nil {
			out.AllowOriginStringMatch = append(out.AllowOriginStringMatch, m)
		}
	}
	// The deprecated exact-match form, which Istio still accepts.
	for _, o := range c.GetAllowOrigin() { //nolint:staticcheck // Istio still accepts the deprecated field; users rely on it.
		out.AllowOriginStringMatch = append(out.AllowOriginStringMatch,
			&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: o}})
	}
	if ma := c.GetMaxAge(); ma != nil {
		// Envoy wants whole seconds, as the Access-Control-Max-Age header.
		out.MaxAge = strconv.FormatInt(int64(ma.AsDuration().Seconds()), 10)
	}
	if ac := c.GetAllowCredentials(); ac != nil {
		out.AllowCredentials = wrapperspb.Bool(ac.GetValue())
	}
	return resource.Any(out)
}
