package validate

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	istioscheme "istio.io/client-go/pkg/clientset/versioned/scheme"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kubescheme "k8s.io/client-go/kubernetes/scheme"
)

var decoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	utilruntime.Must(kubescheme.AddToScheme(s))
	utilruntime.Must(istioscheme.AddToScheme(s))
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}()

// want is the part of a problem a case pins down: the field, whether it is
// only a warning, and a piece of the message.
type want struct {
	Field   string
	Warning bool
	Message string
}

func TestObject(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []want
	}{
		{
			name: "valid service",
			yaml: `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.1
  ports:
  - {name: http, port: 80, targetPort: http-web}
  - {name: grpc, port: 9090, targetPort: 19090}
`,
		},
		{
			name: "service metadata",
			yaml: `
apiVersion: v1
kind: Service
metadata:
  name: 1web
  namespace: Shop
  labels: {"bad key!": x}
spec:
  clusterIP: None
  ports: [{port: 80}]
`,
			want: []want{
				{Field: "metadata.name", Message: "DNS-1035"},
				{Field: "metadata.namespace", Message: "RFC 1123"},
				{Field: "metadata.labels", Message: "name part must consist of"},
			},
		},
		{
			name: "missing name",
			yaml: `
apiVersion: v1
kind: Node
metadata: {}
`,
			want: []want{{Field: "metadata.name", Message: "name is required"}},
		},
		{
			name: "service ports",
			yaml: `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.1
  ports:
  - {name: http, port: 0}
  - {name: http, port: 70000, protocol: HTTP}
  - {port: 81, targetPort: 99999}
`,
			want: []want{
				{Field: "spec.ports[0].port", Message: "outside 1-65535"},
				{Field: "spec.ports[1].port", Message: "outside 1-65535"},
				{Field: "spec.ports[1].protocol", Message: `unknown protocol "HTTP"`},
				{Field: "spec.ports[1].name", Message: "duplicate port name"},
				{Field: "spec.ports[2].targetPort", Message: "outside 1-65535"},
				{Field: "spec.ports[2].name", Message: "must name every port"},
			},
		},
		{
			name: "service addresses",
			yaml: `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIPs: [10.96.0.300]
  ports: [{port: 80}]
---
`,
			want: []want{{Field: "spec.clusterIPs[0]", Message: "not an IP address"}},
		},
		{
			name: "service without clusterIP",
			yaml: `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{port: 80}]
`,
			want: []want{{Field: "spec.clusterIP", Warning: true, Message: "no virtual address"}},
		},
		{
			name: "external name",
			yaml: `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: ExternalName
`,
			want: []want{{Field: "spec.externalName", Message: "needs externalName"}},
		},
		{
			name: "endpoint slice",
			yaml: `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: shop}
addressType: IPv4
ports:
- {name: http, port: 80}
- {name: http, port: 0}
endpoints:
- addresses: ["fd00::1"]
- addresses: []
`,
			want: []want{
				{Field: "metadata.labels", Message: "kubernetes.io/service-name is required"},
				{Field: "endpoints[0].addresses[0]", Message: "not an IPv4 address"},
				{Field: "endpoints[1].addresses", Message: "at least one address"},
				{Field: "ports[1].port", Message: "outside 1-65535"},
				{Field: "ports[1].name", Message: "duplicate port name"},
			},
		},
		{
			name: "endpoint slice address type",
			yaml: `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv5
endpoints:
- addresses: [10.0.0.1]
`,
			want: []want{{Field: "addressType", Message: "unknown address type"}},
		},
		{
			name: "pod addresses",
			yaml: `
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop}
status:
  podIP: not-an-ip
`,
			want: []want{{Field: "status.podIP", Message: "not an IP address"}},
		},
		{
			name: "virtual service",
			yaml: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  http:
  - route:
    - destination: {host: reviews}
      weight: -10
    - destination: {subset: v2}
  tcp:
  - route:
    - destination: {host: db}
      weight: -1
`,
			want: []want{
				{Field: "spec.tcp", Message: "HTTP routes only"},
				{Field: "spec.http[0].route[0].weight", Message: "weight -10 is negative"},
				{Field: "spec.http[0].route[1].destination.host", Message: "host is required"},
				{Field: "spec.tcp[0].route[0].weight", Message: "negative"},
			},
		},
		{
			name: "virtual service l4 matches",
			yaml: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: shop}
spec:
  hosts: [db]
  tcp:
  - match:
    - destinationSubnets: [10.0.0.0/8, 10.1.2.3, not-a-subnet]
    route:
    - destination: {host: db}
  tls:
  - route:
    - destination: {host: db}
  - match:
    - destinationSubnets: [10.0.0.0/33]
    route:
    - destination: {host: db}
`,
			want: []want{
				{Field: "spec.tcp[0].match[0].destinationSubnets[2]", Message: "neither an IP address nor a CIDR"},
				{Field: "spec.tls[0].match", Message: "at least one match"},
				{Field: "spec.tls[1].match[0].sniHosts", Message: "at least one SNI host"},
				{Field: "spec.tls[1].match[0].destinationSubnets[0]", Message: "neither an IP address nor a CIDR"},
			},
		},
		{
			name: "delegating virtual service",
			yaml: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - delegate: {name: reviews-v2}
  - delegate: {namespace: team}
  - delegate: {name: reviews-v3}
    route:
    - destination: {host: reviews}
`,
			want: []want{
				{Field: "spec.http[1].delegate.name", Message: "name is required"},
				{Field: "spec.http[2]", Message: "must not set route or redirect"},
			},
		},
		{
			name: "delegate virtual service",
			yaml: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-v2, namespace: shop}
spec:
  gateways: [edge]
  http:
  - route:
    - destination: {host: reviews}
  - delegate: {name: again}
  tls:
  - match: [{sniHosts: [reviews.example.com]}]
    route:
    - destination: {host: reviews}
`,
			want: []want{
				{Field: "spec.gateways", Message: "must not name gateways"},
				{Field: "spec.tls", Message: "HTTP routes only"},
				{Field: "spec.http[1].delegate", Message: "cannot delegate again"},
			},
		},
		{
			name: "destination rule",
			yaml: `
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  subsets:
  - {name: v1}
  - {name: v1}
  - labels: {version: v3}
`,
			want: []want{
				{Field: "spec.host", Message: "host is required"},
				{Field: "spec.subsets[1].name", Message: "duplicate subset"},
				{Field: "spec.subsets[2].name", Message: "subset name is required"},
			},
		},
		{
			name: "service entry",
			yaml: `
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec:
  ports: [{number: 0, name: http, protocol: HTTP}]
`,
			want: []want{
				{Field: "spec.hosts", Message: "at least one host"},
				{Field: "spec.ports[0].number", Message: "outside 1-65535"},
			},
		},
		{
			name: "gateway",
			yaml: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  selector: {istio: ingressgateway}
`,
			want: []want{{Field: "spec.servers", Message: "at least one server"}},
		},
		{
			name: "gateway server",
			yaml: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  servers:
  - hosts: []
`,
			want: []want{
				{Field: "spec.servers[0].port", Message: "port is required"},
				{Field: "spec.servers[0].hosts", Message: "at least one host"},
			},
		},
		{
			name: "peer authentication ports",
			yaml: `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec:
  mtls: {mode: STRICT}
  portLevelMtls:
    0: {mode: DISABLE}
    8080: {mode: DISABLE}
    70000: {mode: PERMISSIVE}
`,
			want: []want{
				{Field: "spec.portLevelMtls", Message: "port-level mTLS needs a selector"},
				{Field: "spec.portLevelMtls[0]", Message: "port 0 is outside 1-65535"},
				{Field: "spec.portLevelMtls[70000]", Message: "port 70000 is outside 1-65535"},
			},
		},
		{
			name: "peer authentication with a selector and ports",
			yaml: `
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: reviews, namespace: shop}
spec:
  selector:
    matchLabels: {app: reviews}
  portLevelMtls:
    8080: {mode: DISABLE}
`,
		},
		{
			name: "security kinds need only metadata",
			yaml: `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec:
  mtls: {mode: STRICT}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, _, err := decoder.Decode([]byte(strings.TrimSpace(tt.yaml)), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			problems := Object(obj)
			var got []want
			for i, p := range problems {
				if p.Index != -1 || p.Source != "" || p.Kind == "" || p.Name == "" && tt.name != "missing name" {
					t.Errorf("problem %d does not name its object: %+v", i, p)
				}
				w := want{Field: p.Field, Warning: p.Warning, Message: p.Message}
				if i < len(tt.want) && strings.Contains(p.Message, tt.want[i].Message) {
					w.Message = tt.want[i].Message
				}
				got = append(got, w)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if HasErrors(problems) != hasErrors(tt.want) {
				t.Errorf("HasErrors = %v", HasErrors(problems))
			}
		})
	}
}

func hasErrors(ws []want) bool {
	for _, w := range ws {
		if !w.Warning {
			return true
		}
	}
	return false
}

func TestUnsupported(t *testing.T) {
	problems := Object(&corev1.ConfigMap{})
	if len(problems) != 1 || problems[0].Warning {
		t.Errorf("problems = %+v, want one error", problems)
	}
}
