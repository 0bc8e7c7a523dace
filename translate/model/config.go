package model

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// Kind names an Istio configuration type.
type Kind string

// The Istio configuration kinds pilotlight understands. All API versions of a
// kind (v1, v1beta1, v1alpha3) share one spec type and one Kind.
const (
	KindVirtualService        Kind = "VirtualService"
	KindDestinationRule       Kind = "DestinationRule"
	KindGateway               Kind = "Gateway"
	KindServiceEntry          Kind = "ServiceEntry"
	KindWorkloadEntry         Kind = "WorkloadEntry"
	KindSidecar               Kind = "Sidecar"
	KindPeerAuthentication    Kind = "PeerAuthentication"
	KindAuthorizationPolicy   Kind = "AuthorizationPolicy"
	KindRequestAuthentication Kind = "RequestAuthentication"
)

// Group returns the API group the kind belongs to.
func (k Kind) Group() string {
	switch k {
	case KindPeerAuthentication, KindAuthorizationPolicy, KindRequestAuthentication:
		return "security.istio.io"
	}
	return "networking.istio.io"
}

// AllKinds lists every kind in a stable order.
var AllKinds = []Kind{
	KindVirtualService, KindDestinationRule, KindGateway, KindServiceEntry,
	KindWorkloadEntry, KindSidecar, KindPeerAuthentication,
	KindAuthorizationPolicy, KindRequestAuthentication,
}

// ConfigKey identifies one configuration object.
type ConfigKey struct {
	Kind      Kind
	Namespace string
	Name      string
}

func (k ConfigKey) String() string {
	return fmt.Sprintf("%s %s/%s", k.Kind, k.Namespace, k.Name)
}

// Config is one Istio configuration object: metadata plus its typed spec
// (an istio.io/api message). Specs are never mutated after the Config is
// added to a Snapshot.
type Config struct {
	Kind        Kind
	Name        string
	Namespace   string
	Labels      map[string]string
	Annotations map[string]string
	// Generation is the object's metadata.generation, shown in debug output.
	Generation int64
	Spec       proto.Message
}

// Key returns the object's identity.
func (c *Config) Key() ConfigKey {
	return ConfigKey{Kind: c.Kind, Namespace: c.Namespace, Name: c.Name}
}
