package kube

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The fixtures build the objects a cluster would hold, with only the
// fields a test is about.

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// service is a ClusterIP service selecting app=NAME on port http 80 → 8080.
func service(ns, name, clusterIP string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			ClusterIP: clusterIP,
			Selector:  map[string]string{"app": name},
			Ports:     []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

// slice is an EndpointSlice of a service's port http (8080) listing Pods
// NAME-0, NAME-1... at the given addresses, all ready.
func slice(ns, svc, name string, addressType discoveryv1.AddressType, addrs ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc},
		},
		AddressType: addressType,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
	}
	for i, a := range addrs {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{a},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: podName(svc, i)},
		})
	}
	return s
}

func podName(svc string, i int) string { return svc + "-" + string(rune('0'+i)) }

// pod is a Running, Ready Pod of app SVC.
func pod(ns, svc string, i int, ip, serviceAccount string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: podName(svc, i), Labels: map[string]string{"app": svc, "version": "v1"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: serviceAccount,
			NodeName:           "node-a",
			Containers: []corev1.Container{{
				Name: "app", Image: "example/app:1",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				Env:   []corev1.EnvVar{{Name: "BIG", Value: "a value nobody in pilotlight reads"}},
			}},
		},
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			PodIP:  ip,
			PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue},
			},
		},
	}
}

func node(name, region, zone string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		corev1.LabelTopologyRegion: region, corev1.LabelTopologyZone: zone,
	}}}
}

// virtualService routes HOST to itself with the given timeout.
func virtualService(ns, name, host string, timeout time.Duration) *networkingv1.VirtualService {
	vs := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	vs.Spec.Hosts = []string{host}
	vs.Spec.Http = []*networkingv1alpha3.HTTPRoute{{
		Route: []*networkingv1alpha3.HTTPRouteDestination{{Destination: &networkingv1alpha3.Destination{Host: host}}},
	}}
	if timeout != 0 {
		vs.Spec.Http[0].Timeout = durationpb.New(timeout)
	}
	return vs
}

// destinationRule has one subset per name; a repeated name is invalid.
func destinationRule(ns, name, host string, subsets ...string) *networkingv1.DestinationRule {
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	dr.Spec.Host = host
	for _, s := range subsets {
		dr.Spec.Subsets = append(dr.Spec.Subsets, &networkingv1alpha3.Subset{Name: s, Labels: map[string]string{"version": s}})
	}
	return dr
}

func authorizationPolicy(ns, name string) *securityv1.AuthorizationPolicy {
	ap := &securityv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	ap.Spec.Action = securityv1beta1.AuthorizationPolicy_ALLOW
	return ap
}

func meshConfigMap(ns, mesh string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: DefaultMeshConfigMapName},
		Data:       map[string]string{MeshConfigMapKey: mesh},
	}
}

func ptr[T any](v T) *T { return &v }
