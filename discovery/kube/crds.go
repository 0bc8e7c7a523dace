package kube

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// discover asks the API server which of the Istio kinds it serves. A group
// version that does not exist at all (no security.istio.io CRDs, say) is an
// answer, not an error; any other failure leaves the answer unknown.
func (s *Source) discover(ctx context.Context) (map[schema.GroupVersionResource]bool, error) {
	groupVersions := map[schema.GroupVersion]bool{}
	for _, k := range istioKinds {
		groupVersions[k.gvr.GroupVersion()] = true
	}
	present := map[schema.GroupVersionResource]bool{}
	for gv := range groupVersions {
		dctx, cancel := context.WithTimeout(ctx, s.opts.HealthTimeout+3*time.Second)
		list, err := s.opts.Discovery.ServerResourcesForGroupVersionWithContext(dctx, gv.String())
		cancel()
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, r := range list.APIResources {
			present[gv.WithResource(r.Name)] = true
		}
	}
	return present, nil
}

// discoverUntil retries discover until it answers or ctx ends: which
// informers to wait for cannot be known before.
func (s *Source) discoverUntil(ctx context.Context) (map[schema.GroupVersionResource]bool, bool) {
	for {
		present, err := s.discover(ctx)
		if err == nil {
			return present, true
		}
		s.log.Debug("cannot list the Istio CRDs yet", zap.Error(err))
		s.monitor.kick()
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(DefaultDiscoveryBackoff):
		}
	}
}

// warnMissing logs, once, every Istio kind the API server does not serve.
func (s *Source) warnMissing(present map[schema.GroupVersionResource]bool) {
	var missing []string
	for _, k := range istioKinds {
		if !present[k.gvr] {
			missing = append(missing, k.gvr.Resource+"."+k.gvr.Group+"/"+k.gvr.Version)
		}
	}
	if len(missing) > 0 {
		s.log.Warn("Istio CRDs missing from the cluster; objects of these kinds are not served, and each is watched for from when its CRD is installed",
			zap.Strings("crds", missing), zap.Duration("poll", s.opts.CRDPollInterval))
	}
}

// watchCRDs looks for the missing Istio CRDs every CRDPollInterval and
// starts the informer of each one that appears. Kinds whose CRD goes away
// keep their informer: the API server deletes their objects first, and a
// CRD that returns is served by the same informer again.
func (s *Source) watchCRDs(ctx context.Context, inf *informerSet, wg *sync.WaitGroup) {
	t := time.NewTicker(s.opts.CRDPollInterval)
	defer t.Stop()
	for {
		s.mu.Lock()
		missing := 0
		for _, k := range istioKinds {
			if !s.started[k.storeKind()] {
				missing++
			}
		}
		s.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, err := s.discover(ctx)
		if err != nil {
			s.log.Debug("cannot list the Istio CRDs", zap.Error(err))
			continue
		}
		for _, k := range istioKinds {
			s.mu.Lock()
			started := s.started[k.storeKind()]
			s.mu.Unlock()
			if !started && now[k.gvr] {
				s.log.Info("Istio CRD installed; starting its informer", zap.String("crd", k.gvr.Resource+"."+k.gvr.Group))
				inf.startIstio(ctx, wg, k)
			}
		}
	}
}
