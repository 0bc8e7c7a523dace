// Package modeltest builds synthetic meshes of any size for tests and
// benchmarks. It is test support: only _test.go files import it.
package modeltest

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
)

// Mesh describes a synthetic mesh: Services services spread over
// Namespaces namespaces, each with one HTTP port 8080 and Endpoints ready
// endpoints in two zones.
type Mesh struct {
	Services   int
	Endpoints  int
	Namespaces int
}

// Builder returns a model builder holding the mesh, so a test can add or
// change things before Build.
func (m Mesh) Builder() *model.Builder {
	if m.Namespaces <= 0 {
		m.Namespaces = 1
	}
	b := model.NewBuilder()
	for n := range m.Namespaces {
		b.AddNamespace(&model.Namespace{Name: NamespaceName(n)})
	}
	for i := range m.Services {
		ns := NamespaceName(i % m.Namespaces)
		name := fmt.Sprintf("svc-%d", i)
		host := Hostname(name, ns)
		b.AddService(&model.Service{
			Hostname:  host,
			Name:      name,
			Namespace: ns,
			Addresses: []string{fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)},
			Ports:     []model.Port{{Name: "http", Number: 8080, Protocol: model.HTTP}},
			Selector:  map[string]string{"app": name},
		})
		for e := range m.Endpoints {
			b.AddEndpoints(Endpoint(host, ns, PodIP(i*m.Endpoints+e), e%2))
		}
	}
	return b
}

// Build returns the mesh as a snapshot.
func (m Mesh) Build() *model.Snapshot { return m.Builder().Build() }

// NamespaceName is the name of the n-th namespace of a synthetic mesh.
func NamespaceName(n int) string { return fmt.Sprintf("ns-%d", n) }

// Hostname is a service's cluster-local hostname.
func Hostname(name, ns string) string { return name + "." + ns + ".svc.cluster.local" }

// PodIP is the address of the k-th pod of a synthetic mesh, in 10.128.0.0/9.
func PodIP(k int) string {
	return fmt.Sprintf("10.%d.%d.%d", 128+k/65536, k/256%256, k%256)
}

// Endpoint is a ready endpoint of a service's port named http, at address
// port 8080, in zone-<zone>.
func Endpoint(host, ns, address string, zone int) *model.Endpoint {
	return &model.Endpoint{
		ServiceHostname: host,
		ServicePortName: "http",
		Address:         address,
		Port:            8080,
		Namespace:       ns,
		Labels:          map[string]string{"app": strings.SplitN(host, ".", 2)[0], "version": fmt.Sprintf("v%d", zone+1)},
		ServiceAccount:  "default",
		Locality:        model.Locality{Region: "region", Zone: fmt.Sprintf("zone-%d", zone)},
	}
}

// AddTrafficPolicies gives every service of the mesh a DestinationRule
// with two subsets (by the endpoints' version label) and a
// VirtualService splitting traffic 90/10 between them with a header
// match, a timeout and retries: the shape of a mesh mid-canary.
func (m Mesh) AddTrafficPolicies(b *model.Builder) {
	if m.Namespaces <= 0 {
		m.Namespaces = 1
	}
	for i := range m.Services {
		ns := NamespaceName(i % m.Namespaces)
		name := fmt.Sprintf("svc-%d", i)
		b.AddConfig(&model.Config{Kind: model.KindDestinationRule, Namespace: ns, Name: name, Spec: &networkingv1alpha3.DestinationRule{
			Host: name,
			TrafficPolicy: &networkingv1alpha3.TrafficPolicy{ConnectionPool: &networkingv1alpha3.ConnectionPoolSettings{
				Http: &networkingv1alpha3.ConnectionPoolSettings_HTTPSettings{Http2MaxRequests: 1000},
			}},
			Subsets: []*networkingv1alpha3.Subset{
				{Name: "v1", Labels: map[string]string{"version": "v1"}},
				{Name: "v2", Labels: map[string]string{"version": "v2"}},
			},
		}})
		dest := func(subset string, weight int32) *networkingv1alpha3.HTTPRouteDestination {
			return &networkingv1alpha3.HTTPRouteDestination{Destination: &networkingv1alpha3.Destination{Host: name, Subset: subset}, Weight: weight}
		}
		b.AddConfig(&model.Config{Kind: model.KindVirtualService, Namespace: ns, Name: name, Spec: &networkingv1alpha3.VirtualService{
			Hosts: []string{name},
			Http: []*networkingv1alpha3.HTTPRoute{
				{
					Match: []*networkingv1alpha3.HTTPMatchRequest{{Headers: map[string]*networkingv1alpha3.StringMatch{
						"x-canary": {MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: "true"}},
					}}},
					Route: []*networkingv1alpha3.HTTPRouteDestination{dest("v2", 100)},
				},
				{
					Route:   []*networkingv1alpha3.HTTPRouteDestination{dest("v1", 90), dest("v2", 10)},
					Timeout: durationpb.New(5 * time.Second),
					Retries: &networkingv1alpha3.HTTPRetry{Attempts: 3, RetryOn: "5xx"},
				},
			},
		}})
	}
}
