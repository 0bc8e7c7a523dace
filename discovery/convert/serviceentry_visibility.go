package convert

import (
	"slices"
	"strings"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
)

// AnnotationExportTo is the annotation with which a Kubernetes Service
// limits the namespaces that see it, as a ServiceEntry does with exportTo:
// a comma-separated list of namespaces, "." (its own) or "*" (all).
const AnnotationExportTo = "networking.istio.io/exportTo"

// serviceExportTo returns where a service is visible: its own exportTo,
// else the mesh's defaultServiceExportTo, else everywhere. Everywhere is
// nil, so that services visible to all namespaces never make a Snapshot
// look namespace-dependent.
func serviceExportTo(own []string, mesh *meshv1alpha1.MeshConfig) []string {
	if len(own) == 0 {
		own = mesh.GetDefaultServiceExportTo()
	}
	if len(own) == 0 || slices.Contains(own, "*") {
		return nil
	}
	return slices.Clone(own)
}

// kubeExportTo reads a Kubernetes Service's exportTo annotation.
func kubeExportTo(svc *corev1.Service) []string {
	v, ok := svc.Annotations[AnnotationExportTo]
	if !ok {
		return nil
	}
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
