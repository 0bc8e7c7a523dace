package convert

import (
	"fmt"
	"maps"

	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	securityv1beta1 "istio.io/client-go/pkg/apis/security/v1beta1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pilotlight/pilotlight/translate/model"
)

// Kind names a kind of object a Store holds. Istio kinds use the value of
// their model.Kind, so every API version of an Istio kind is one Kind.
type Kind string

// The Kubernetes kinds a Store holds; the Istio ones are model.AllKinds.
const (
	KindNamespace     Kind = "Namespace"
	KindService       Kind = "Service"
	KindEndpointSlice Kind = "EndpointSlice"
	KindPod           Kind = "Pod"
	KindNode          Kind = "Node"
	// KindSecret: Secrets holding gateway TLS credentials (secret.go).
	KindSecret Kind = "Secret"
)

// ClusterScoped reports whether objects of the kind have no namespace.
func (k Kind) ClusterScoped() bool { return k == KindNamespace || k == KindNode }

// Key identifies one object in a Store. Namespace is empty for
// cluster-scoped kinds.
type Key struct {
	Kind      Kind
	Namespace string
	Name      string
}

func (k Key) String() string {
	if k.Namespace == "" {
		return fmt.Sprintf("%s %s", k.Kind, k.Name)
	}
	return fmt.Sprintf("%s %s/%s", k.Kind, k.Namespace, k.Name)
}

// groupKinds maps the API group and kind of every supported object to its
// Kind. Versions are left out on purpose: Istio serves each kind in several
// versions with one spec type, and which versions decode is the scheme's
// business.
var groupKinds = map[schema.GroupKind]Kind{
	{Group: "", Kind: "Namespace"}:                              KindNamespace,
	{Group: "", Kind: "Service"}:                                KindService,
	{Group: "", Kind: "Pod"}:                                    KindPod,
	{Group: "", Kind: "Node"}:                                   KindNode,
	{Group: "", Kind: "Secret"}:                                 KindSecret,
	{Group: "discovery.k8s.io", Kind: "EndpointSlice"}:          KindEndpointSlice,
	{Group: "networking.istio.io", Kind: "VirtualService"}:      Kind(model.KindVirtualService),
	{Group: "networking.istio.io", Kind: "DestinationRule"}:     Kind(model.KindDestinationRule),
	{Group: "networking.istio.io", Kind: "Gateway"}:             Kind(model.KindGateway),
	{Group: "networking.istio.io", Kind: "ServiceEntry"}:        Kind(model.KindServiceEntry),
	{Group: "networking.istio.io", Kind: "WorkloadEntry"}:       Kind(model.KindWorkloadEntry),
	{Group: "networking.istio.io", Kind: "Sidecar"}:             Kind(model.KindSidecar),
	{Group: "security.istio.io", Kind: "PeerAuthentication"}:    Kind(model.KindPeerAuthentication),
	{Group: "security.istio.io", Kind: "AuthorizationPolicy"}:   Kind(model.KindAuthorizationPolicy),
	{Group: "security.istio.io", Kind: "RequestAuthentication"}: Kind(model.KindRequestAuthentication),
}

// KindForGroupKind returns the Kind of a supported API group and kind. A
// decoder uses it to name an object whose body could not be decoded.
func KindForGroupKind(gk schema.GroupKind) (Kind, bool) {
	k, ok := groupKinds[gk]
	return k, ok
}

// KindOf returns the Kind of a supported typed object.
func KindOf(obj runtime.Object) (Kind, bool) {
	switch obj.(type) {
	case *corev1.Namespace:
		return KindNamespace, true
	case *corev1.Service:
		return KindService, true
	case *corev1.Pod:
		return KindPod, true
	case *corev1.Node:
		return KindNode, true
	case *corev1.Secret:
		return KindSecret, true
	case *discoveryv1.EndpointSlice:
		return KindEndpointSlice, true
	}
	if kind, _, _, ok := istioParts(obj); ok {
		return Kind(kind), true
	}
	return "", false
}

// KeyOf returns the Store key of a supported typed object.
func KeyOf(obj runtime.Object) (Key, bool) {
	kind, ok := KindOf(obj)
	if !ok {
		return Key{}, false
	}
	meta, ok := obj.(metav1.Object)
	if !ok {
		return Key{}, false
	}
	key := Key{Kind: kind, Namespace: meta.GetNamespace(), Name: meta.GetName()}
	if kind.ClusterScoped() {
		key.Namespace = ""
	}
	return key, true
}

// IstioConfig converts an Istio client-go object of any served version into
// a model.Config. The spec is a deep copy: client-go objects embed the spec
// by value and a proto message carries internal state, so the Config must
// never alias the object it came from.
func IstioConfig(obj runtime.Object) (*model.Config, bool) {
	kind, meta, spec, ok := istioParts(obj)
	if !ok {
		return nil, false
	}
	return &model.Config{
		Kind:        kind,
		Name:        meta.Name,
		Namespace:   meta.Namespace,
		Labels:      cloneMap(meta.Labels),
		Annotations: cloneMap(meta.Annotations),
		Generation:  meta.Generation,
		Spec:        proto.Clone(spec),
	}, true
}

// IstioSpec returns the kind and spec of an Istio client-go object of any
// served version. The spec is the object's own, not a copy: callers such as
// validators only read it.
func IstioSpec(obj runtime.Object) (model.Kind, proto.Message, bool) {
	kind, _, spec, ok := istioParts(obj)
	return kind, spec, ok
}

// istioParts returns the kind, metadata and spec of an Istio object without
// copying anything.
func istioParts(obj runtime.Object) (model.Kind, *metav1.ObjectMeta, proto.Message, bool) {
	switch o := obj.(type) {
	case *networkingv1.VirtualService:
		return model.KindVirtualService, &o.ObjectMeta, &o.Spec, true
	case *networkingv1beta1.VirtualService:
		return model.KindVirtualService, &o.ObjectMeta, &o.Spec, true
	case *networkingv1alpha3.VirtualService:
		return model.KindVirtualService, &o.ObjectMeta, &o.Spec, true
	case *networkingv1.DestinationRule:
		return model.KindDestinationRule, &o.ObjectMeta, &o.Spec, true
	case *networkingv1beta1.DestinationRule:
		return model.KindDestinationRule, &o.ObjectMeta, &o.Spec, true
	case *networkingv1alpha3.DestinationRule:
		return model.KindDestinationRule, &o.ObjectMeta, &o.Spec, true
	case *networkingv1.Gateway:
		return model.KindGateway, &o.ObjectMeta, &o.Spec, true
	case *networkingv1beta1.Gateway:
		return model.KindGateway, &o.ObjectMeta, &o.Spec, true
	case *networkingv1alpha3.Gateway:
		return model.KindGateway, &o.ObjectMeta, &o.Spec, true
	case *networkingv1.ServiceEntry:
		return model.KindServiceEntry, &o.ObjectMeta, &o.Spec, true
	case *networkingv1beta1.ServiceEntry:
		return model.KindServiceEntry, &o.ObjectMeta, &o.Spec, true
	case *networkingv1alpha3.ServiceEntry:
		return model.KindServiceEntry, &o.ObjectMeta, &o.Spec, true
	case *networkingv1.WorkloadEntry:
		return model.KindWorkloadEntry, &o.ObjectMeta, &o.Spec, true
	case *networkingv1beta1.WorkloadEntry:
		return model.KindWorkloadEntry, &o.ObjectMeta, &o.Spec, true
	case *networkingv1alpha3.WorkloadEntry:
		return model.KindWorkloadEntry, &o.ObjectMeta, &o.Spec, true
	case *networkingv1.Sidecar:
		return model.KindSidecar, &o.ObjectMeta, &o.Spec, true
	case *networkingv1beta1.Sidecar:
		return model.KindSidecar, &o.ObjectMeta, &o.Spec, true
	case *networkingv1alpha3.Sidecar:
		return model.KindSidecar, &o.ObjectMeta, &o.Spec, true
	case *securityv1.PeerAuthentication:
		return model.KindPeerAuthentication, &o.ObjectMeta, &o.Spec, true
	case *securityv1beta1.PeerAuthentication:
		return model.KindPeerAuthentication, &o.ObjectMeta, &o.Spec, true
	case *securityv1.AuthorizationPolicy:
		return model.KindAuthorizationPolicy, &o.ObjectMeta, &o.Spec, true
	case *securityv1beta1.AuthorizationPolicy:
		return model.KindAuthorizationPolicy, &o.ObjectMeta, &o.Spec, true
	case *securityv1.RequestAuthentication:
		return model.KindRequestAuthentication, &o.ObjectMeta, &o.Spec, true
	case *securityv1beta1.RequestAuthentication:
		return model.KindRequestAuthentication, &o.ObjectMeta, &o.Spec, true
	}
	return "", nil, nil, false
}

// cloneMap copies a label or annotation map. Empty maps become nil so that
// a missing map and an empty one hash alike in the Snapshot version.
func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}
