package kube

import (
	"fmt"
	"maps"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/pilotlight/pilotlight/discovery/convert"
	"github.com/pilotlight/pilotlight/discovery/validate"
)

// objectHandler feeds informer events for every stored kind into the
// Store.
func (s *Source) objectHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: s.upsert,
		UpdateFunc: func(old, obj any) {
			if sameVersion(old, obj) {
				// A relist after a watch expired re-delivers every object;
				// one whose resourceVersion did not move has not changed.
				return
			}
			if irrelevantUpdate(old, obj) {
				// Stored, so that the Store holds what the informer does
				// and the old version is freed, but nothing to rebuild.
				s.set(obj.(runtime.Object))
				return
			}
			s.upsert(obj)
		},
		DeleteFunc: s.remove,
	}
}

// sameVersion reports whether two versions of an object carry the same
// non-empty resourceVersion, that is, are the same version.
func sameVersion(a, b any) bool {
	ma, okA := a.(metav1.Object)
	mb, okB := b.(metav1.Object)
	return okA && okB && ma.GetResourceVersion() != "" && ma.GetResourceVersion() == mb.GetResourceVersion()
}

// upsert stores an added or updated object. An Istio object is validated
// first: a rejected one is reported and its last good version, if any,
// stays served, exactly as the file source does.
func (s *Source) upsert(o any) {
	obj, ok := o.(runtime.Object)
	if !ok {
		return
	}
	key, ok := convert.KeyOf(obj)
	if !ok {
		s.log.Debug("ignoring an object of an unsupported type", zap.String("type", fmt.Sprintf("%T", o)))
		return
	}
	defer s.markDirty()
	if key.Kind == convert.KindNamespace {
		s.mu.Lock()
		s.nsLabels[key.Name] = maps.Clone(obj.(metav1.Object).GetLabels())
		s.mu.Unlock()
	}
	// Istio objects and Secrets are checked first; other kinds are stored
	// as they come.
	if !isIstio(key.Kind) && key.Kind != convert.KindSecret {
		s.set(obj)
		return
	}
	problems := validate.Object(obj)
	for i := range problems {
		problems[i].Source = ProblemSource
	}
	if validate.HasErrors(problems) {
		if _, served := s.store.Get(key); served {
			for i := range problems {
				if !problems[i].Warning {
					problems[i].Message += " (the last good version stays served)"
				}
			}
		}
	} else {
		s.set(obj)
	}
	s.mu.Lock()
	if len(problems) > 0 {
		s.problems[key] = problems
	} else {
		delete(s.problems, key)
	}
	s.mu.Unlock()
}

func (s *Source) set(obj runtime.Object) {
	if err := s.store.Set(obj); err != nil {
		// KeyOf accepted the object, and Set supports what KeyOf does.
		panic("kube: " + err.Error())
	}
}

// remove deletes an object. A delete the informer missed while its watch
// was down arrives as a tombstone carrying the last state it knew.
func (s *Source) remove(o any) {
	if tomb, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = tomb.Obj
	}
	obj, ok := o.(runtime.Object)
	if !ok {
		return
	}
	key, ok := convert.KeyOf(obj)
	if !ok {
		return
	}
	s.store.Delete(key)
	s.mu.Lock()
	delete(s.problems, key)
	if key.Kind == convert.KindNamespace {
		delete(s.nsLabels, key.Name)
	}
	s.mu.Unlock()
	s.markDirty()
}
