package convert

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/pilotlight/pilotlight/translate/model"
)

// DefaultDomainSuffix is the cluster DNS domain used when none is given.
const DefaultDomainSuffix = "cluster.local"

// Store holds the current typed objects of one discovery source. It is safe
// for concurrent use: an informer source calls Set and Delete from its event
// handlers while another goroutine calls Build.
//
// Objects handed to Set are kept as they are and must not be modified
// afterwards (informer caches and freshly decoded files both guarantee
// that). Build never returns anything that aliases them.
type Store struct {
	mu      sync.RWMutex
	objects map[Key]runtime.Object
	// configs holds Istio objects already converted, so that their specs
	// are copied once per Set rather than once per Build.
	configs map[Key]*model.Config
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{objects: map[Key]runtime.Object{}, configs: map[Key]*model.Config{}}
}

// Set adds or replaces an object. Objects of unsupported types are an
// error and are not stored.
func (s *Store) Set(obj runtime.Object) error {
	key, ok := KeyOf(obj)
	if !ok {
		return fmt.Errorf("convert: unsupported object type %T", obj)
	}
	var cfg *model.Config
	if c, ok := IstioConfig(obj); ok {
		cfg = c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = obj
	if cfg != nil {
		s.configs[key] = cfg
	}
	return nil
}

// Delete removes an object and reports whether it was present.
func (s *Store) Delete(key Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.objects[key]
	delete(s.objects, key)
	delete(s.configs, key)
	return ok
}

// Get returns a stored object. The caller must not modify it.
func (s *Store) Get(key Key) (runtime.Object, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	obj, ok := s.objects[key]
	return obj, ok
}

// Len returns the number of stored objects.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.objects)
}

// Build converts every stored object into a new Snapshot with the given
// mesh settings (nil means the defaults) and cluster domain (empty means
// cluster.local). The result depends only on the stored objects, never on
// map order, so equal stores give equal Snapshot versions.
func (s *Store) Build(mesh *meshv1alpha1.MeshConfig, domainSuffix string) *model.Snapshot {
	return s.BuildSelected(mesh, domainSuffix, nil)
}

// BuildSelected is Build over the stored objects that include accepts; a
// nil include accepts all. The Kubernetes source uses it to leave out the
// namespaces its discovery selectors do not match, and kinds whose
// informers are still listing, without removing them from the Store: a
// namespace that is selected again, or a list that completes, then needs
// no new events. include is called with the Store's read lock held and
// must not call back into the Store.
func (s *Store) BuildSelected(mesh *meshv1alpha1.MeshConfig, domainSuffix string, include func(Key) bool) *model.Snapshot {
	if domainSuffix == "" {
		domainSuffix = DefaultDomainSuffix
	}
	b := model.NewBuilder()
	b.SetMesh(mesh)
	s.convert(b, mesh, domainSuffix, include)
	// Indexing and hashing happen outside the lock: they read only what
	// the builder now owns, and informer events need not wait for them.
	return b.Build()
}

// convert adds every stored object, converted, to the builder.
func (s *Store) convert(b *model.Builder, mesh *meshv1alpha1.MeshConfig, domainSuffix string, include func(Key) bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()

	keys := make([]Key, 0, len(s.objects))
	for k := range s.objects {
		if include == nil || include(k) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareKeys)

	var services []*corev1.Service
	// Slices are grouped under the namespace/name of the Service they
	// belong to and stay in key order, which decides which of two slices
	// listing the same address wins.
	slicesOf := map[Key][]*discoveryv1.EndpointSlice{}
	pods := podIndex{}
	reg := newRegistry()
	for _, k := range keys {
		switch o := s.objects[k].(type) {
		case *corev1.Namespace:
			b.AddNamespace(&model.Namespace{Name: o.Name, Labels: cloneMap(o.Labels)})
		case *corev1.Service:
			services = append(services, o)
			svc := convertService(o, domainSuffix)
			svc.ExportTo = serviceExportTo(kubeExportTo(o), mesh)
			b.AddService(svc)
		case *discoveryv1.EndpointSlice:
			if svc, ok := o.Labels[discoveryv1.LabelServiceName]; ok {
				sk := Key{Kind: KindService, Namespace: o.Namespace, Name: svc}
				slicesOf[sk] = append(slicesOf[sk], o)
			}
		case *corev1.Pod:
			pods.add(o.Namespace, o.Labels, o)
		case *corev1.Secret:
			if c := convertSecret(o); c != nil {
				b.AddCredential(c)
			}
		default:
			if cfg := s.configs[k]; cfg != nil && !reg.collect(cfg, s.objects[k]) {
				b.AddConfig(cfg)
			}
		}
	}

	taken := make(map[string]bool, len(services))
	for _, svc := range services {
		host := Hostname(svc.Name, svc.Namespace, domainSuffix)
		taken[host] = true
		var eps []*model.Endpoint
		if sl := slicesOf[Key{Kind: KindService, Namespace: svc.Namespace, Name: svc.Name}]; len(sl) > 0 {
			for _, slice := range sl {
				eps = append(eps, s.sliceEndpoints(slice, svc, host)...)
			}
		} else if derivesEndpoints(svc) {
			eps = s.podEndpoints(svc, host, pods.candidates(svc.Namespace, svc.Spec.Selector))
		}
		if derivesEndpoints(svc) && !isHeadless(svc) {
			eps = append(eps, kubeWorkloadEndpoints(reg.workloads, svc, host)...)
		}
		b.AddEndpoints(dedupEndpoints(eps)...)
	}
	s.addServiceEntries(b, reg, mesh, pods, taken)
}

// labelIndex finds the objects (Pods, WorkloadEntries) a selector may
// match without scanning every object of the namespace for every service,
// which is quadratic in a large mesh. Each list is in Store key order, so
// results are deterministic.
type labelIndex[T any] map[podLabel][]T

type podLabel struct{ namespace, key, value string }

// podIndex indexes Pods.
type podIndex = labelIndex[*corev1.Pod]

func (ix labelIndex[T]) add(namespace string, labels map[string]string, obj T) {
	for k, v := range labels {
		l := podLabel{namespace, k, v}
		ix[l] = append(ix[l], obj)
	}
}

// candidates returns the objects of a namespace carrying the rarest of
// the selector's labels; the caller still checks the whole selector.
func (ix labelIndex[T]) candidates(namespace string, selector map[string]string) []T {
	var best []T
	first := true
	for k, v := range selector {
		c := ix[podLabel{namespace, k, v}]
		if first || len(c) < len(best) {
			best, first = c, false
		}
	}
	return best
}

// Hostname returns the fully qualified name of a Kubernetes Service.
func Hostname(name, namespace, domainSuffix string) string {
	return name + "." + namespace + ".svc." + domainSuffix
}

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func (s *Store) pod(namespace, name string) *corev1.Pod {
	pod, _ := s.objects[Key{Kind: KindPod, Namespace: namespace, Name: name}].(*corev1.Pod)
	return pod
}

func (s *Store) node(name string) *corev1.Node {
	if name == "" {
		return nil
	}
	node, _ := s.objects[Key{Kind: KindNode, Name: name}].(*corev1.Node)
	return node
}
