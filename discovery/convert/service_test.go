package convert

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pilotlight/pilotlight/translate/model"
)

func TestServices(t *testing.T) {
	web := func(domain string) *model.Service {
		return &model.Service{
			Hostname:   "web.shop.svc." + domain,
			Name:       "web",
			Namespace:  "shop",
			Addresses:  []string{"10.96.0.10", "fd00:10:96::10"},
			Resolution: model.ClientSideLB,
			Ports: []model.Port{
				{Name: "http-web", Number: 80, Protocol: model.HTTP, ContainerPort: 8080},
				{Name: "api", Number: 9090, Protocol: model.GRPC, ContainerPort: 9090},
				{Name: "tcp-postgres", Number: 5432, Protocol: model.TCP, ContainerPort: 5432},
				{Name: "dns", Number: 53, Protocol: model.UDP, ContainerPort: 53},
				{Name: "metrics", Number: 9100, Protocol: model.HTTP2, ContainerPort: 9100},
			},
			Labels:   map[string]string{"app": "web"},
			Selector: map[string]string{"app": "web"},
		}
	}
	tests := []struct {
		name   string
		domain string
		want   []*model.Service
	}{
		{
			name:   "default domain",
			domain: "",
			want: []*model.Service{
				{
					Hostname:   "db.shop.svc.cluster.local",
					Name:       "db",
					Namespace:  "shop",
					Resolution: model.Passthrough,
					Ports:      []model.Port{{Name: "tcp", Number: 5432, Protocol: model.TCP, ContainerPort: 5432}},
					Selector:   map[string]string{"app": "db"},
				},
				{
					Hostname:   "legacy.shop.svc.cluster.local",
					Name:       "legacy",
					Namespace:  "shop",
					Addresses:  []string{"10.96.0.20"},
					Resolution: model.ClientSideLB,
					Ports:      []model.Port{{Name: "", Number: 8000, Protocol: model.Unsupported, ContainerPort: 8000}},
				},
				{
					Hostname:     "payments.shop.svc.cluster.local",
					Name:         "payments",
					Namespace:    "shop",
					Resolution:   model.DNSLB,
					ExternalName: "payments.example.com",
					MeshExternal: true,
					Ports:        []model.Port{{Name: "https", Number: 443, Protocol: model.HTTPS, ContainerPort: 443}},
				},
				web("cluster.local"),
			},
		},
		{
			name:   "custom domain",
			domain: "corp.example",
			want: []*model.Service{
				{
					Hostname:   "db.shop.svc.corp.example",
					Name:       "db",
					Namespace:  "shop",
					Resolution: model.Passthrough,
					Ports:      []model.Port{{Name: "tcp", Number: 5432, Protocol: model.TCP, ContainerPort: 5432}},
					Selector:   map[string]string{"app": "db"},
				},
				{
					Hostname:   "legacy.shop.svc.corp.example",
					Name:       "legacy",
					Namespace:  "shop",
					Addresses:  []string{"10.96.0.20"},
					Resolution: model.ClientSideLB,
					Ports:      []model.Port{{Name: "", Number: 8000, Protocol: model.Unsupported, ContainerPort: 8000}},
				},
				{
					Hostname:     "payments.shop.svc.corp.example",
					Name:         "payments",
					Namespace:    "shop",
					Resolution:   model.DNSLB,
					ExternalName: "payments.example.com",
					MeshExternal: true,
					Ports:        []model.Port{{Name: "https", Number: 443, Protocol: model.HTTPS, ContainerPort: 443}},
				},
				web("corp.example"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := storeOf(t, "services.yaml").Build(nil, tt.domain)
			if diff := cmp.Diff(tt.want, snap.Services()); diff != "" {
				t.Errorf("services (-want +got):\n%s", diff)
			}
		})
	}
}
