package kube

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pilotlight/pilotlight/discovery/convert"
	"github.com/pilotlight/pilotlight/translate/model"
)

// istioKind is one Istio CRD the source watches.
type istioKind struct {
	kind model.Kind
	// gvr is the version watched. Istio 1.31 serves v1 for all of them;
	// objects written as v1beta1 or v1alpha3 are stored once per CRD and
	// served in every version, so watching v1 sees them too.
	gvr schema.GroupVersionResource
}

// storeKind is the convert.Kind objects of this CRD are stored under.
func (k istioKind) storeKind() convert.Kind { return convert.Kind(k.kind) }

// istioKinds are the Istio CRDs pilotlight reads, in a fixed order so that
// logs and informer start-up are deterministic.
var istioKinds = []istioKind{
	{model.KindVirtualService, networking("virtualservices")},
	{model.KindDestinationRule, networking("destinationrules")},
	{model.KindGateway, networking("gateways")},
	{model.KindServiceEntry, networking("serviceentries")},
	{model.KindWorkloadEntry, networking("workloadentries")},
	{model.KindSidecar, networking("sidecars")},
	{model.KindPeerAuthentication, security("peerauthentications")},
	{model.KindAuthorizationPolicy, security("authorizationpolicies")},
	{model.KindRequestAuthentication, security("requestauthentications")},
}

func networking(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: resource}
}

func security(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: resource}
}

// isIstio reports whether objects of a stored kind come from an Istio CRD.
func isIstio(k convert.Kind) bool {
	for _, ik := range istioKinds {
		if ik.storeKind() == k {
			return true
		}
	}
	return false
}
