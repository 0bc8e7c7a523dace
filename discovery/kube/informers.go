package kube

import (
	"context"
	"errors"
	"io"
	"sync"

	"go.uber.org/zap"
	istioinformers "istio.io/client-go/pkg/informers/externalversions"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// informerSet holds the informer factories of one Run. With no namespaces
// to watch, one factory covers everything; with several, each namespace
// gets its own factory (the API has no multi-namespace list), and a
// cluster-wide one serves Nodes and Namespaces.
type informerSet struct {
	s       *Source
	cluster informers.SharedInformerFactory
	kube    []scoped[informers.SharedInformerFactory]
	istio   []scoped[istioinformers.SharedInformerFactory]
	// meshCM watches only the mesh ConfigMap; nil when the mesh config
	// comes from a file.
	meshCM informers.SharedInformerFactory
	// secrets watch credential Secrets, when Options.Secrets is set.
	secrets []scoped[informers.SharedInformerFactory]
}

// scoped is a factory limited to one namespace ("" for all).
type scoped[F any] struct {
	namespace string
	factory   F
}

func (s *Source) newInformers() *informerSet {
	o := s.opts
	set := &informerSet{s: s}
	namespaces := o.WatchNamespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	for _, ns := range namespaces {
		set.kube = append(set.kube, scoped[informers.SharedInformerFactory]{ns,
			informers.NewSharedInformerFactoryWithOptions(o.Kube, 0, informers.WithNamespace(ns), informers.WithTransform(slim))})
		set.istio = append(set.istio, scoped[istioinformers.SharedInformerFactory]{ns,
			istioinformers.NewSharedInformerFactoryWithOptions(o.Istio, 0, istioinformers.WithNamespace(ns), istioinformers.WithTransform(slim))})
	}
	if o.Secrets {
		set.secrets = newSecretFactories(o, namespaces)
	}
	if namespaces[0] == metav1.NamespaceAll {
		set.cluster = set.kube[0].factory
	} else {
		set.cluster = informers.NewSharedInformerFactoryWithOptions(o.Kube, 0, informers.WithTransform(slim))
	}
	if o.Mesh == nil {
		name := fields.OneTermEqualSelector(metav1.ObjectNameField, o.MeshConfigMapName).String()
		set.meshCM = informers.NewSharedInformerFactoryWithOptions(o.Kube, 0,
			informers.WithNamespace(o.MeshConfigMapNamespace),
			informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.FieldSelector = name }),
			informers.WithTransform(slim))
	}
	return set
}

// startKube registers and starts the Kubernetes informers.
func (i *informerSet) startKube(ctx context.Context) {
	s := i.s
	h := s.objectHandler()
	s.register("Namespaces", i.cluster.Core().V1().Namespaces().Informer(), h)
	s.register("Nodes", i.cluster.Core().V1().Nodes().Informer(), h)
	for _, f := range i.kube {
		s.register(scopeName("Services", f.namespace), f.factory.Core().V1().Services().Informer(), h)
		s.register(scopeName("EndpointSlices", f.namespace), f.factory.Discovery().V1().EndpointSlices().Informer(), h)
		s.register(scopeName("Pods", f.namespace), f.factory.Core().V1().Pods().Informer(), h)
		f.factory.Start(ctx.Done())
	}
	i.cluster.Start(ctx.Done())
	i.startSecrets(ctx)
	if i.meshCM != nil {
		s.register("mesh ConfigMap "+s.opts.MeshConfigMapNamespace+"/"+s.opts.MeshConfigMapName,
			i.meshCM.Core().V1().ConfigMaps().Informer(), s.meshHandler())
		i.meshCM.Start(ctx.Done())
	}
}

// startIstio registers and starts the informers of one Istio kind, and
// marks the source dirty once they have listed, so that the kind's objects
// enter the next Snapshot all at once.
func (i *informerSet) startIstio(ctx context.Context, wg *sync.WaitGroup, k istioKind) {
	s := i.s
	h := s.objectHandler()
	var syncs []cache.InformerSynced
	for _, f := range i.istio {
		gi, err := f.factory.ForResource(k.gvr)
		if err != nil {
			// istioKinds lists only resources the generated factory knows.
			panic("kube: " + err.Error())
		}
		syncs = append(syncs, s.register(scopeName(k.gvr.Resource+"."+k.gvr.Group, f.namespace), gi.Informer(), h))
		f.factory.Start(ctx.Done())
	}
	s.mu.Lock()
	s.started[k.storeKind()] = true
	s.istioSyncs[k.storeKind()] = syncs
	s.mu.Unlock()
	wg.Go(func() {
		if cache.WaitForCacheSync(ctx.Done(), syncs...) {
			s.markDirty()
		}
	})
}

// shutdown stops every informer and waits for their goroutines.
func (i *informerSet) shutdown() {
	for _, f := range i.kube {
		f.factory.Shutdown()
	}
	for _, f := range i.istio {
		f.factory.Shutdown()
	}
	for _, f := range i.secrets {
		f.factory.Shutdown()
	}
	i.cluster.Shutdown()
	if i.meshCM != nil {
		i.meshCM.Shutdown()
	}
}

func scopeName(what, namespace string) string {
	if namespace == "" {
		return what
	}
	return what + " in " + namespace
}

// register adds a handler to an informer that has not started and records
// when that handler has received the informer's initial list.
func (s *Source) register(name string, inf cache.SharedIndexInformer, h cache.ResourceEventHandler) cache.InformerSynced {
	// Both calls fail only on an informer that already runs, and every
	// informer is registered before its factory starts it.
	if err := inf.SetWatchErrorHandler(s.watchError(name)); err != nil {
		panic("kube: " + name + ": " + err.Error())
	}
	reg, err := inf.AddEventHandler(h)
	if err != nil {
		panic("kube: " + name + ": " + err.Error())
	}
	s.mu.Lock()
	s.informers = append(s.informers, namedSync{name: name, synced: reg.HasSynced})
	s.mu.Unlock()
	return reg.HasSynced
}

// watchError replaces client-go's default watch error logging. The
// informer retries by itself; a failure may mean the API server is gone,
// so the health monitor probes at once. Only a missing permission is
// logged loudly here, since no retry will fix it; an outage is reported
// once by the monitor, not once per informer and retry.
func (s *Source) watchError(name string) cache.WatchErrorHandler {
	return func(_ *cache.Reflector, err error) {
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			s.log.Debug("watch closed", zap.String("informer", name), zap.Error(err))
		case apierrors.IsResourceExpired(err), apierrors.IsGone(err):
			s.log.Debug("watch expired; relisting", zap.String("informer", name), zap.Error(err))
			return
		case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
			s.log.Warn("the API server refuses a list or watch; check pilotlight's RBAC", zap.String("informer", name), zap.Error(err))
		default:
			s.log.Debug("watch failed", zap.String("informer", name), zap.Error(err))
		}
		s.monitor.kick()
	}
}
