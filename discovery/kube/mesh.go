package kube

import (
	"fmt"

	"go.uber.org/zap"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/pilotlight/pilotlight/translate/model"
)

// meshHandler follows the mesh ConfigMap. Its informer already lists only
// that one object by a field selector; the name is checked again because
// not every client (the fake ones among them) honours field selectors.
func (s *Source) meshHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: s.meshChanged,
		UpdateFunc: func(old, obj any) {
			if !sameVersion(old, obj) {
				s.meshChanged(obj)
			}
		},
		DeleteFunc: func(o any) {
			if tomb, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = tomb.Obj
			}
			if cm, ok := o.(*corev1.ConfigMap); ok && s.isMeshConfigMap(cm) {
				s.log.Info("mesh ConfigMap deleted; using the default mesh config")
				s.setMesh(model.DefaultMeshConfig(), nil)
			}
		},
	}
}

func (s *Source) isMeshConfigMap(cm *corev1.ConfigMap) bool {
	return cm.Namespace == s.opts.MeshConfigMapNamespace && cm.Name == s.opts.MeshConfigMapName
}

// meshChanged reads the mesh settings of a new version of the ConfigMap.
// As istiod does, a missing ConfigMap means Istio's defaults; a broken one
// is a problem, and the last good settings stay.
func (s *Source) meshChanged(o any) {
	cm, ok := o.(*corev1.ConfigMap)
	if !ok || !s.isMeshConfigMap(cm) {
		return
	}
	data, ok := cm.Data[MeshConfigMapKey]
	if !ok {
		s.setMesh(nil, fmt.Errorf("the ConfigMap has no key %q", MeshConfigMapKey))
		return
	}
	mesh, err := model.ParseMeshConfig([]byte(data))
	if err == nil {
		_, err = CompileSelectors(mesh.GetDiscoverySelectors())
	}
	s.setMesh(mesh, err)
}

// setMesh installs a mesh config, or records why the ConfigMap's was
// rejected when err is set.
func (s *Source) setMesh(mesh *meshv1alpha1.MeshConfig, err error) {
	defer s.markDirty()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.meshProblems = []model.Problem{{
			Source:    ProblemSource,
			Index:     -1,
			Kind:      "ConfigMap",
			Namespace: s.opts.MeshConfigMapNamespace,
			Name:      s.opts.MeshConfigMapName,
			Field:     "data." + MeshConfigMapKey,
			Message:   err.Error() + " (the last good mesh config stays)",
		}}
		return
	}
	// CompileSelectors succeeded on this config in meshChanged.
	sel, _ := CompileSelectors(mesh.GetDiscoverySelectors())
	s.mesh, s.filter.selectors, s.meshProblems = mesh, sel, nil
	s.log.Info("mesh config loaded",
		zap.String("configmap", s.opts.MeshConfigMapNamespace+"/"+s.opts.MeshConfigMapName),
		zap.Int("discovery_selectors", len(sel)))
}
