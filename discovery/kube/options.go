package kube

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Defaults of Options.
const (
	DefaultMeshConfigMapNamespace = "istio-system"
	DefaultMeshConfigMapName      = "istio"
	// MeshConfigMapKey is the ConfigMap key istiod reads mesh settings from.
	MeshConfigMapKey = "mesh"

	DefaultHealthInterval   = 3 * time.Second
	DefaultHealthTimeout    = 2 * time.Second
	DefaultCRDPollInterval  = 10 * time.Second
	DefaultCoalesce         = 10 * time.Millisecond
	DefaultDiscoveryBackoff = time.Second
)

// Options configure a Source. Kube and Istio are required; zero values of
// the rest take the defaults.
type Options struct {
	// Logger receives sync, outage and problem reports; nil means no logs.
	Logger *zap.Logger
	// Kube reads Services, EndpointSlices, Pods, Namespaces, Nodes and the
	// mesh ConfigMap.
	Kube kubernetes.Interface
	// Istio reads the Istio CRDs.
	Istio istioclient.Interface
	// Discovery tells which Istio CRDs the API server serves; nil means
	// Kube's discovery client.
	Discovery ResourceDiscovery
	// Mesh, when set, is the mesh configuration (from --mesh-config) and
	// the ConfigMap is not watched.
	Mesh *meshv1alpha1.MeshConfig
	// MeshConfigMapNamespace and MeshConfigMapName locate the ConfigMap
	// whose key "mesh" holds the mesh settings: the control plane's
	// namespace, read whatever namespaces are watched.
	MeshConfigMapNamespace string
	MeshConfigMapName      string
	// DomainSuffix is the cluster DNS domain; empty means cluster.local.
	DomainSuffix string
	// WatchNamespaces limits the namespaced informers to these namespaces;
	// empty means all.
	WatchNamespaces []string
	// Secrets watches Secrets of types kubernetes.io/tls and Opaque, the
	// gateway credentials served over SDS (secrets.go). Off, no Secret is
	// read and none needs to be readable.
	Secrets bool
	// Registry receives the source's metrics; nil registers nothing.
	Registry prometheus.Registerer
	// Probe checks that the API server answers. nil means GET /readyz with
	// Kube's REST client, or no probe when Kube has none (fake clients).
	Probe func(context.Context) error
	// HealthInterval is how often Probe runs; HealthTimeout bounds one run.
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	// CRDPollInterval is how often missing Istio CRDs are looked for.
	CRDPollInterval time.Duration
	// Coalesce is how long the publisher waits after a change for more
	// before it builds: a burst of informer events costs one build.
	Coalesce time.Duration
}

// ResourceDiscovery is the part of client-go's discovery client the source
// uses to learn which Istio CRDs exist.
type ResourceDiscovery interface {
	ServerResourcesForGroupVersionWithContext(ctx context.Context, groupVersion string) (*metav1.APIResourceList, error)
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Discovery == nil {
		o.Discovery = o.Kube.Discovery()
	}
	if o.MeshConfigMapNamespace == "" {
		o.MeshConfigMapNamespace = DefaultMeshConfigMapNamespace
	}
	if o.MeshConfigMapName == "" {
		o.MeshConfigMapName = DefaultMeshConfigMapName
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = DefaultHealthInterval
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = DefaultHealthTimeout
	}
	if o.CRDPollInterval <= 0 {
		o.CRDPollInterval = DefaultCRDPollInterval
	}
	if o.Coalesce <= 0 {
		o.Coalesce = DefaultCoalesce
	}
	if o.Probe == nil {
		o.Probe = readyzProbe(o.Kube)
	}
}
