package validate

import (
	"cmp"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

func TestServiceEntryAndWorkloadEntry(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []want
	}{
		{
			name: "valid entries of every resolution",
			yaml: `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.example.com, "*.api.example.com"]
  addresses: [10.0.0.0/8]
  ports: [{name: https, number: 443, protocol: TLS, targetPort: 8443}]
  resolution: NONE
  exportTo: [".", billing]
`,
		},
		{
			name: "hosts, addresses and ports",
			yaml: `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bad, namespace: shop}
spec:
  hosts: ["*", "Bad_Host.example.com", db]
  addresses: [10.0.0.0/8, not-an-ip]
  resolution: DNS
  ports:
  - {name: http, number: 80, protocol: HTTP}
  - {name: http, number: 80, protocol: HTTP}
  - {number: 70000, protocol: FTP, targetPort: 70000}
  endpoints: [{address: db.example.com}]
`,
			want: []want{
				{Field: "spec.hosts[0]", Message: "every destination"},
				{Field: "spec.hosts[1]", Message: "Bad_Host"},
				{Field: "spec.hosts[2]", Warning: true, Message: "no dots"},
				{Field: "spec.addresses[0]", Message: "needs resolution NONE or STATIC"},
				{Field: "spec.addresses[1]", Message: "neither an IP address nor a CIDR range"},
				{Field: "spec.ports[1].number", Message: "declared twice"},
				{Field: "spec.ports[1].name", Message: "declared twice"},
				{Field: "spec.ports[2].number", Message: "outside 1-65535"},
				{Field: "spec.ports[2].name", Message: "name is required"},
				{Field: "spec.ports[2].protocol", Message: `unknown protocol "FTP"`},
				{Field: "spec.ports[2].targetPort", Message: "outside 1-65535"},
				{Field: "spec.ports[2].protocol", Message: "several hosts share port 70000"},
			},
		},
		{
			name: "endpoints must suit the resolution",
			yaml: `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: static, namespace: shop}
spec:
  hosts: [static.example.com]
  ports: [{name: http, number: 80, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: web}}
  endpoints:
  - address: static.example.com
  - address: unix:///var/run/app.sock
  - address: 10.0.0.1
    ports: {grpc: 9090, http: 0}
    labels: {"bad key!": x}
    network: west
`,
			want: []want{
				{Field: "spec.workloadSelector", Message: "not both"},
				{Field: "spec.endpoints[0].address", Message: "is not an IP address"},
				{Field: "spec.endpoints[1].address", Warning: true, Message: "unix domain socket"},
				{Field: "spec.endpoints[2].ports[grpc]", Message: `no port named "grpc"`},
				{Field: "spec.endpoints[2].ports[http]", Message: "outside 1-65535"},
				{Field: "spec.endpoints[2].labels", Message: "bad key!"},
				{Field: "spec.endpoints[2].network", Warning: true, Message: "single network"},
			},
		},
		{
			name: "DNS without endpoints needs names",
			yaml: `
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: wild, namespace: shop}
spec:
  hosts: ["*.example.com"]
  ports: [{name: tls, number: 443, protocol: TLS}]
  resolution: DNS_ROUND_ROBIN
  exportTo: ["~", Bad]
  subjectAltNames: [spiffe://example.com/sa]
`,
			want: []want{
				{Field: "spec.hosts[0]", Message: "is a wildcard"},
				{Field: "spec.exportTo[0]", Message: "cannot be combined"},
				{Field: "spec.exportTo[1]", Message: "Bad"},
				{Field: "spec.subjectAltNames", Warning: true, Message: "not used"},
			},
		},
		{
			name: "unsupported resolution and warnings",
			yaml: `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: odd, namespace: shop}
spec:
  hosts: [a.example.com]
  ports: [{name: http, number: 80, protocol: HTTP}]
  resolution: DYNAMIC_DNS
`,
			want: []want{{Field: "spec.resolution", Message: "DYNAMIC_DNS is not supported"}},
		},
		{
			name: "static without endpoints, round robin with several",
			yaml: `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: rr, namespace: shop}
spec:
  hosts: [rr.example.com]
  ports: [{name: http, number: 80, protocol: HTTP}]
  resolution: DNS_ROUND_ROBIN
  endpoints: [{address: a.example.com}, {address: 192.0.2.1}]
`,
			want: []want{{Field: "spec.endpoints", Warning: true, Message: "only the first endpoint"}},
		},
		{
			name: "static without endpoints",
			yaml: `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: empty, namespace: shop}
spec:
  hosts: [empty.example.com]
  ports: [{name: http, number: 80, protocol: HTTP}]
  resolution: STATIC
`,
			want: []want{{Field: "spec.endpoints", Warning: true, Message: "no endpoints"}},
		},
		{
			name: "valid workload entry",
			yaml: `
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: vms}
spec:
  address: 10.2.0.1
  labels: {app: inventory}
  ports: {http: 8080}
  serviceAccount: inventory
`,
		},
		{
			name: "workload entry",
			yaml: `
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-2, namespace: vms}
spec:
  labels: {"bad key!": x}
  ports: {http: 0, "Bad Name": 80}
  serviceAccount: Not_Valid
  network: east
`,
			want: []want{
				{Field: "spec.address", Message: "address is required"},
				{Field: "spec.ports[Bad Name]", Message: "Bad Name"},
				{Field: "spec.ports[http]", Message: "outside 1-65535"},
				{Field: "spec.labels", Message: "bad key!"},
				{Field: "spec.serviceAccount", Message: "Not_Valid"},
				{Field: "spec.network", Warning: true, Message: "single network"},
			},
		},
		{
			name: "workload entry with a name",
			yaml: `
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-3, namespace: vms}
spec:
  address: vm3.example.com
`,
			want: []want{{Field: "spec.address", Warning: true, Message: "only ServiceEntries with DNS resolution"}},
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
			for _, p := range problems {
				got = append(got, want{Field: p.Field, Warning: p.Warning, Message: p.Message})
			}
			// Each wanted message is a piece of the problem's message;
			// map iteration makes port problems arrive in any order.
			var matched []want
			for i, w := range tt.want {
				matched = append(matched, w)
				for _, g := range got {
					if g.Field == w.Field && g.Warning == w.Warning && strings.Contains(g.Message, w.Message) {
						matched[i].Message = g.Message
						break
					}
				}
			}
			if diff := gocmp.Diff(sortedWants(matched), sortedWants(got)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func sortedWants(ws []want) []want {
	out := slices.Clone(ws)
	slices.SortFunc(out, func(a, b want) int {
		return cmp.Compare(a.Field+"\x00"+a.Message, b.Field+"\x00"+b.Message)
	})
	return out
}
