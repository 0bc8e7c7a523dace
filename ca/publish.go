package ca

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	certutil "k8s.io/client-go/util/cert"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// The ConfigMap that carries the trust bundle to workloads in every
// namespace, as istiod publishes it: istio-agent reads it to trust the
// CA's port before it has a certificate.
const (
	RootCertConfigMap = "istio-ca-root-cert"
	RootCertKey       = "root-cert.pem"
)

// rootCertLabels are istiod's labels on the ConfigMap.
var rootCertLabels = map[string]string{"istio.io/config": "true"}

// unpublishedNamespaces never get the ConfigMap: they run no workloads
// (istiod skips the same ones).
var unpublishedNamespaces = []string{"kube-public", "kube-node-lease", "local-path-storage"}

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	Client    kubernetes.Interface
	Authority *Authority
	// Leadership says whether this replica writes; nil is Alone.
	Leadership Leadership
	// Namespaces are those to publish in; nil is every namespace.
	Namespaces []string
	// Logger; nil logs nothing.
	Logger *zap.Logger
	// Registerer takes the publishing metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Publisher keeps ConfigMap istio-ca-root-cert (key root-cert.pem) equal
// to the Authority's trust bundle in every namespace: it creates it in
// new namespaces, updates it when the bundle changes, and puts it back
// when someone edits or deletes it. Only the leader writes; every
// replica watches, so that a new leader starts from a warm cache.
type Publisher struct {
	opts   PublisherOptions
	log    *zap.Logger
	writes *prometheus.CounterVec

	namespaces corelisters.NamespaceLister
	configMaps corelisters.ConfigMapLister
	queue      workqueue.TypedRateLimitingInterface[string]
	start      func(ctx context.Context) bool
	// selects, if set, tells from its labels whether a namespace is in
	// the mesh (the mesh's discoverySelectors).
	selects atomic.Pointer[func(map[string]string) bool]
}

// NewPublisher returns a Publisher; Run does the work.
func NewPublisher(o PublisherOptions) (*Publisher, error) {
	if o.Client == nil || o.Authority == nil {
		return nil, errors.New("a trust bundle publisher needs a Kubernetes client and an Authority")
	}
	if o.Leadership == nil {
		o.Leadership = Alone{}
	}
	p := &Publisher{
		opts: o,
		log:  o.Logger,
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_ca_root_configmap_writes_total",
			Help: "Writes of ConfigMap " + RootCertConfigMap + " by this replica, by result (created, updated, failed).",
		}, []string{"result"}),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "root-cert-configmaps"}),
	}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(p.writes); err != nil {
			return nil, fmt.Errorf("trust bundle publisher metrics: %w", err)
		}
	}
	nsFactory := informers.NewSharedInformerFactory(o.Client, 0)
	nsInformer := nsFactory.Core().V1().Namespaces()
	// Only the one name is watched, in every namespace.
	cmFactory := informers.NewSharedInformerFactoryWithOptions(o.Client, 0, informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
		lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", RootCertConfigMap).String()
	}))
	cmInformer := cmFactory.Core().V1().ConfigMaps()
	enqueue := func(obj any) {
		if m, err := meta(obj); err == nil {
			ns := m.GetNamespace()
			if ns == "" {
				ns = m.GetName()
			}
			p.queue.Add(ns)
		}
	}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue}
	if _, err := nsInformer.Informer().AddEventHandler(handler); err != nil {
		return nil, err
	}
	if _, err := cmInformer.Informer().AddEventHandler(handler); err != nil {
		return nil, err
	}
	p.namespaces, p.configMaps = nsInformer.Lister(), cmInformer.Lister()
	p.start = func(ctx context.Context) bool {
		nsFactory.Start(ctx.Done())
		cmFactory.Start(ctx.Done())
		return cache.WaitForCacheSync(ctx.Done(), nsInformer.Informer().HasSynced, cmInformer.Informer().HasSynced)
	}
	return p, nil
}

// meta reads an informer's object, or the object inside a deletion's
// tombstone.
func meta(obj any) (metav1.Object, error) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T", obj)
	}
	return m, nil
}

// Run publishes until ctx ends.
func (p *Publisher) Run(ctx context.Context) {
	if !p.start(ctx) {
		return
	}
	// Every namespace is checked again when the bundle changes and when
	// this replica becomes the leader.
	go func() {
		for {
			_, replaced := p.opts.Authority.Watch()
			leading, changed := p.opts.Leadership.Leading()
			if leading {
				p.enqueueAll()
			}
			select {
			case <-ctx.Done():
				return
			case <-replaced:
			case <-changed:
			}
		}
	}()
	go func() {
		<-ctx.Done()
		p.queue.ShutDown()
	}()
	for p.next(ctx) {
		// Each call reconciles one namespace.
	}
}

// SelectNamespaces narrows publishing to the namespaces whose labels
// selects accepts (among Namespaces), as the mesh's discoverySelectors
// do, and checks every namespace again. A namespace that leaves keeps
// its ConfigMap, as with istiod.
func (p *Publisher) SelectNamespaces(selects func(labels map[string]string) bool) {
	p.selects.Store(&selects)
	p.enqueueAll()
}

func (p *Publisher) enqueueAll() {
	all, err := p.namespaces.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ns := range all {
		p.queue.Add(ns.Name)
	}
}

// next reconciles one namespace from the queue; false once the queue is
// shut down.
func (p *Publisher) next(ctx context.Context) bool {
	ns, quit := p.queue.Get()
	if quit {
		return false
	}
	defer p.queue.Done(ns)
	if err := p.reconcile(ctx, ns); err != nil {
		p.writes.WithLabelValues("failed").Inc()
		p.log.Warn("publishing the trust bundle failed; retrying", zap.String("namespace", ns), zap.Error(err))
		p.queue.AddRateLimited(ns)
		return true
	}
	p.queue.Forget(ns)
	return true
}

// reconcile makes the namespace's ConfigMap hold the current bundle, if
// this replica leads and the namespace is one to publish in.
func (p *Publisher) reconcile(ctx context.Context, name string) error {
	if leading, _ := p.opts.Leadership.Leading(); !leading {
		return nil
	}
	ns, err := p.namespaces.Get(name)
	if apierrors.IsNotFound(err) || (err == nil && (ns.Status.Phase == corev1.NamespaceTerminating || !p.publishes(ns))) {
		return nil
	}
	if err != nil {
		return err
	}
	want := map[string]string{RootCertKey: string(p.opts.Authority.Material().RootsPEM())}
	configMaps := p.opts.Client.CoreV1().ConfigMaps(name)
	cm, err := p.configMaps.ConfigMaps(name).Get(RootCertConfigMap)
	if apierrors.IsNotFound(err) {
		_, err = configMaps.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootCertConfigMap, Namespace: name, Labels: rootCertLabels},
			Data:       want,
		}, metav1.CreateOptions{})
		// A ConfigMap the cache has not seen yet (like one that changed
		// since the cache read it, below) comes back as an informer
		// event, which reconciles the namespace again.
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("creating ConfigMap %s/%s: %w", name, RootCertConfigMap, err)
		}
		p.writes.WithLabelValues("created").Inc()
		p.log.Info("published the trust bundle", zap.String("namespace", name))
		return nil
	}
	if err != nil {
		return err
	}
	if len(cm.Data) == 1 && len(cm.BinaryData) == 0 && sameBundle(cm.Data[RootCertKey], want[RootCertKey]) {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data, cm.BinaryData = want, nil
	_, err = configMaps.Update(ctx, cm, metav1.UpdateOptions{})
	switch {
	case apierrors.IsConflict(err):
		return nil
	case err != nil:
		return fmt.Errorf("updating ConfigMap %s/%s: %w", name, RootCertConfigMap, err)
	}
	p.writes.WithLabelValues("updated").Inc()
	p.log.Info("updated the published trust bundle", zap.String("namespace", name))
	return nil
}

// sameBundle tells whether two PEM bundles hold the same certificates,
// whatever their order and formatting: an istiod running beside
// pilotlight while one replaces the other publishes the same root as
// its own PEM, and the two must not rewrite each other's ConfigMap.
func sameBundle(a, b string) bool {
	if a == b {
		return true
	}
	ca, errA := certutil.ParseCertsPEM([]byte(a))
	cb, errB := certutil.ParseCertsPEM([]byte(b))
	if errA != nil || errB != nil || len(ca) != len(cb) {
		return false
	}
	for _, c := range ca {
		if !slices.ContainsFunc(cb, c.Equal) {
			return false
		}
	}
	return true
}

// publishes tells whether namespace ns gets the ConfigMap.
func (p *Publisher) publishes(ns *corev1.Namespace) bool {
	if slices.Contains(unpublishedNamespaces, ns.Name) {
		return false
	}
	if p.opts.Namespaces != nil && !slices.Contains(p.opts.Namespaces, ns.Name) {
		return false
	}
	selects := p.selects.Load()
	return selects == nil || (*selects)(ns.Labels)
}
