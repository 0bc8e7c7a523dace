package validate

import (
	"fmt"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/pilotlight/pilotlight/discovery/convert"
	"github.com/pilotlight/pilotlight/translate/model"
)

// Object checks one object. The problems it returns name the object's kind,
// namespace and name, with Index -1 and no Source: the caller knows where
// the object came from and fills those in. Objects of kinds the converter
// does not support get a single error.
func Object(obj runtime.Object) []model.Problem {
	key, ok := convert.KeyOf(obj)
	if !ok {
		return []model.Problem{{Index: -1, Message: fmt.Sprintf("unsupported object type %T", obj)}}
	}
	r := &report{key: key}
	r.metadata(key.Kind, obj.(metav1.Object))
	switch o := obj.(type) {
	case *corev1.Service:
		r.service(o)
	case *discoveryv1.EndpointSlice:
		r.endpointSlice(o)
	case *corev1.Pod:
		r.pod(o)
	case *corev1.Secret:
		r.secret(o)
	}
	if _, spec, ok := convert.IstioSpec(obj); ok {
		switch s := spec.(type) {
		case *networkingv1alpha3.VirtualService:
			r.virtualService(s)
		case *networkingv1alpha3.DestinationRule:
			r.destinationRule(s)
		case *networkingv1alpha3.ServiceEntry:
			r.serviceEntry(s)
		case *networkingv1alpha3.WorkloadEntry:
			r.workloadEntry(s)
		case *networkingv1alpha3.Gateway:
			r.gateway(s)
		case *securityv1beta1.PeerAuthentication:
			r.peerAuthentication(s)
		}
	}
	return r.problems
}

// HasErrors reports whether any problem is an error rather than a warning.
func HasErrors(problems []model.Problem) bool {
	for _, p := range problems {
		if !p.Warning {
			return true
		}
	}
	return false
}

// report collects the problems of one object.
type report struct {
	key      convert.Key
	problems []model.Problem
}

func (r *report) add(warning bool, fieldPath, message string) {
	r.problems = append(r.problems, model.Problem{
		Index:     -1,
		Kind:      string(r.key.Kind),
		Namespace: r.key.Namespace,
		Name:      r.key.Name,
		Field:     fieldPath,
		Message:   message,
		Warning:   warning,
	})
}

func (r *report) errorf(path *field.Path, format string, args ...any) {
	r.add(false, path.String(), fmt.Sprintf(format, args...))
}

func (r *report) warnf(path *field.Path, format string, args ...any) {
	r.add(true, path.String(), fmt.Sprintf(format, args...))
}

// check reports the messages a Kubernetes Is* validator returned.
func (r *report) check(path *field.Path, value string, msgs []string) {
	for _, m := range msgs {
		r.errorf(path, "%q: %s", value, m)
	}
}

// metadata checks what every object needs: a name of the form its kind
// requires (Services a DNS-1035 label, Namespaces a DNS-1123 label, the
// rest a DNS-1123 subdomain), a valid namespace and valid labels.
func (r *report) metadata(kind convert.Kind, meta metav1.Object) {
	name := field.NewPath("metadata", "name")
	switch {
	case meta.GetName() == "":
		r.errorf(name, "name is required")
	case kind == convert.KindService:
		r.check(name, meta.GetName(), validation.IsDNS1035Label(meta.GetName()))
	case kind == convert.KindNamespace:
		r.check(name, meta.GetName(), validation.IsDNS1123Label(meta.GetName()))
	default:
		r.check(name, meta.GetName(), validation.IsDNS1123Subdomain(meta.GetName()))
	}
	if !kind.ClusterScoped() {
		ns := field.NewPath("metadata", "namespace")
		if meta.GetNamespace() == "" {
			r.errorf(ns, "namespace is required")
		} else {
			r.check(ns, meta.GetNamespace(), validation.IsDNS1123Label(meta.GetNamespace()))
		}
	}
	for _, e := range metav1validation.ValidateLabels(meta.GetLabels(), field.NewPath("metadata", "labels")) {
		r.add(false, e.Field, e.ErrorBody())
	}
}

func validPort(n int32) bool { return n >= 1 && n <= 65535 }
