package validate

import (
	"slices"
	"strconv"

	securityv1beta1 "istio.io/api/security/v1beta1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// peerAuthentication rejects what istiod rejects: port-level modes on a
// mesh or namespace policy (one without a selector), which has no
// workload ports to name, and ports outside 1-65535.
func (r *report) peerAuthentication(pa *securityv1beta1.PeerAuthentication) {
	path := field.NewPath("spec", "portLevelMtls")
	if len(pa.GetPortLevelMtls()) > 0 && len(pa.GetSelector().GetMatchLabels()) == 0 {
		r.errorf(path, "port-level mTLS needs a selector: a mesh or namespace policy names no workload's ports")
	}
	ports := make([]uint32, 0, len(pa.GetPortLevelMtls()))
	for p := range pa.GetPortLevelMtls() {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	for _, p := range ports {
		if p < 1 || p > 65535 {
			r.errorf(path.Key(strconv.FormatUint(uint64(p), 10)), "port %d is outside 1-65535", p)
		}
	}
}
