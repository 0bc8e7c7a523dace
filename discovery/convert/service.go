package convert

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/pilotlight/pilotlight/translate/model"
)

// convertService turns a Kubernetes Service into a model.Service the way
// istiod does: ClusterIPs are the virtual addresses, a headless service
// (clusterIP None) is passed through to the address the caller dialled, and
// an ExternalName service is resolved by DNS and counts as outside the mesh.
func convertService(svc *corev1.Service, domainSuffix string) *model.Service {
	out := &model.Service{
		Hostname:   Hostname(svc.Name, svc.Namespace, domainSuffix),
		Name:       svc.Name,
		Namespace:  svc.Namespace,
		Resolution: model.ClientSideLB,
		Labels:     cloneMap(svc.Labels),
		Selector:   cloneMap(svc.Spec.Selector),
	}
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName && svc.Spec.ExternalName != "":
		out.Resolution = model.DNSLB
		out.ExternalName = svc.Spec.ExternalName
		out.MeshExternal = true
	case isHeadless(svc):
		out.Resolution = model.Passthrough
	default:
		out.Addresses = clusterIPs(svc)
	}
	for _, p := range svc.Spec.Ports {
		appProtocol := ""
		if p.AppProtocol != nil {
			appProtocol = *p.AppProtocol
		}
		port := model.Port{
			Name:     p.Name,
			Number:   uint32(p.Port),
			Protocol: model.DetectProtocol(p.Name, appProtocol, string(p.Protocol)),
		}
		switch {
		case p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal > 0:
			port.ContainerPort = uint32(p.TargetPort.IntVal)
		case p.TargetPort.Type == intstr.Int:
			port.ContainerPort = port.Number // Unset: the service port.
		}
		out.Ports = append(out.Ports, port)
	}
	return out
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone ||
		(len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone)
}

// clusterIPs returns every address family's ClusterIP. The API server fills
// clusterIPs from clusterIP, but hand-written files often set only the
// latter.
func clusterIPs(svc *corev1.Service) []string {
	var out []string
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			out = append(out, ip)
		}
	}
	if len(out) == 0 && svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		out = append(out, svc.Spec.ClusterIP)
	}
	return out
}

// derivesEndpoints reports whether a Service without EndpointSlices gets
// endpoints from the Pods it selects, as the EndpointSlice controller would
// write them. Services without a selector have hand-managed endpoints only,
// and the controller leaves ExternalName services alone.
func derivesEndpoints(svc *corev1.Service) bool {
	return len(svc.Spec.Selector) > 0 && svc.Spec.Type != corev1.ServiceTypeExternalName
}
