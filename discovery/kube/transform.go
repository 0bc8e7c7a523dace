package kube

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lastApplied is the annotation kubectl apply writes: a second copy of the
// whole object, which nothing in pilotlight reads.
const lastApplied = corev1.LastAppliedConfigAnnotation

// slim is every informer's transform: it drops what pilotlight never reads
// before the object enters the informer's cache, so memory grows with what
// the mesh model needs rather than with what clients wrote. It runs on each
// object once, before anyone else sees it, so it may change it in place,
// and it is idempotent as client-go requires.
func slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return slimPod(o), nil
	case *corev1.Node:
		// A Node's status (images, conditions, capacity) is most of it;
		// only its topology labels give endpoints their locality.
		return &corev1.Node{ObjectMeta: identity(&o.ObjectMeta)}, nil
	case *corev1.Namespace:
		// Labels are all the discovery selectors and the model use.
		return &corev1.Namespace{ObjectMeta: identity(&o.ObjectMeta)}, nil
	case *corev1.Secret:
		return slimSecret(o), nil
	}
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		delete(m.GetAnnotations(), lastApplied)
	}
	return obj, nil
}

// slimPod keeps the fields of a Pod that convert reads: identity and
// labels, service account, node, container ports (a Service's named target
// port resolves against them), deletion, phase, addresses and the Ready
// condition. A large cluster's Pods are mostly the rest: container specs,
// volumes, statuses.
func slimPod(pod *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			Labels:            pod.Labels,
			DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{
			ServiceAccountName:       pod.Spec.ServiceAccountName,
			DeprecatedServiceAccount: pod.Spec.DeprecatedServiceAccount,
			NodeName:                 pod.Spec.NodeName,
		},
		Status: corev1.PodStatus{
			Phase:  pod.Status.Phase,
			PodIP:  pod.Status.PodIP,
			PodIPs: pod.Status.PodIPs,
		},
	}
	for _, c := range pod.Spec.Containers {
		if len(c.Ports) > 0 {
			out.Spec.Containers = append(out.Spec.Containers, corev1.Container{Name: c.Name, Ports: c.Ports})
		}
	}
	// Only sidecar containers (init containers that keep running) serve
	// ports once the Pod runs.
	for _, c := range pod.Spec.InitContainers {
		if len(c.Ports) > 0 && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out.Spec.InitContainers = append(out.Spec.InitContainers, corev1.Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy})
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Status.Conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status}}
		}
	}
	return out
}

// identity keeps what names an object and its labels.
func identity(m *metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            m.Name,
		Namespace:       m.Namespace,
		UID:             m.UID,
		ResourceVersion: m.ResourceVersion,
		Labels:          m.Labels,
	}
}

// irrelevantUpdate reports whether an update changed nothing the mesh
// model reads. Both versions have been through slim, so for the kinds it
// shrinks this is a comparison of what is left, minus the version: a Pod's
// unrelated status change or a Node's periodic status report then costs no
// Snapshot build.
func irrelevantUpdate(old, obj any) bool {
	switch o := obj.(type) {
	case *corev1.Pod:
		p, ok := old.(*corev1.Pod)
		if !ok {
			return false
		}
		a, b := *p, *o
		a.ResourceVersion, b.ResourceVersion = "", ""
		return equality.Semantic.DeepEqual(&a, &b)
	case *corev1.Node:
		n, ok := old.(*corev1.Node)
		return ok && n.UID == o.UID && maps.Equal(n.Labels, o.Labels)
	case *corev1.Namespace:
		n, ok := old.(*corev1.Namespace)
		return ok && n.UID == o.UID && maps.Equal(n.Labels, o.Labels)
	}
	return false
}
