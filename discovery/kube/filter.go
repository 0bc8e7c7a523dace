package kube

import (
	"fmt"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// namespaceFilter decides which namespaces are part of the mesh: those
// listed by --watch-namespaces (all when none are), and among them those
// whose labels match at least one of the mesh's discoverySelectors (all
// when there are none), as istiod decides. Objects of other namespaces are
// kept in the Store but left out of every Snapshot, so relabelling a
// namespace takes effect at the next build without any relist.
type namespaceFilter struct {
	watch     map[string]bool
	selectors []labels.Selector
}

// CompileSelectors turns the mesh's discoverySelectors into label
// selectors with Kubernetes semantics: an empty selector matches every
// namespace. The CA's trust bundle publisher selects namespaces with
// them too.
func CompileSelectors(in []*meshv1alpha1.LabelSelector) ([]labels.Selector, error) {
	out := make([]labels.Selector, 0, len(in))
	for i, ls := range in {
		if ls == nil {
			continue
		}
		k := &metav1.LabelSelector{MatchLabels: ls.GetMatchLabels()}
		for _, e := range ls.GetMatchExpressions() {
			k.MatchExpressions = append(k.MatchExpressions, metav1.LabelSelectorRequirement{
				Key:      e.GetKey(),
				Operator: metav1.LabelSelectorOperator(e.GetOperator()),
				Values:   e.GetValues(),
			})
		}
		sel, err := metav1.LabelSelectorAsSelector(k)
		if err != nil {
			return nil, fmt.Errorf("discoverySelectors[%d]: %w", i, err)
		}
		out = append(out, sel)
	}
	return out, nil
}

// all reports whether the filter lets every namespace through.
func (f namespaceFilter) all() bool { return len(f.watch) == 0 && len(f.selectors) == 0 }

// selects reports whether a namespace is in the mesh. nsLabels are its
// labels; known is false when its Namespace object has not been seen, and
// then only a filter without selectors can admit it.
func (f namespaceFilter) selects(name string, nsLabels map[string]string, known bool) bool {
	if len(f.watch) > 0 && !f.watch[name] {
		return false
	}
	if len(f.selectors) == 0 {
		return true
	}
	if !known {
		return false
	}
	set := labels.Set(nsLabels)
	for _, s := range f.selectors {
		if s.Matches(set) {
			return true
		}
	}
	return false
}
