package convert

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pilotlight/pilotlight/translate/model"
)

func TestEndpoints(t *testing.T) {
	zoneA := model.Locality{Region: "eu-west", Zone: "eu-west-1a", SubZone: "rack-1"}
	reviewsV1 := func(port, addr string, num uint32) *model.Endpoint {
		return &model.Endpoint{
			ServiceHostname: "reviews.shop.svc.cluster.local", ServicePortName: port, Address: addr, Port: num,
			Labels: map[string]string{"app": "reviews", "version": "v1"}, ServiceAccount: "reviews",
			Namespace: "shop", WorkloadName: "reviews-v1-abc", Locality: zoneA, Health: model.Healthy,
		}
	}
	reviewsV2 := func(port string, num uint32) *model.Endpoint {
		return &model.Endpoint{
			ServiceHostname: "reviews.shop.svc.cluster.local", ServicePortName: port, Address: "10.244.2.20", Port: num,
			Labels: map[string]string{"app": "reviews", "version": "v2"}, ServiceAccount: "default",
			Namespace: "shop", WorkloadName: "reviews-v2-def",
			Locality: model.Locality{Region: "eu-west", Zone: "eu-west-1c"}, Health: model.Draining,
		}
	}
	reviewsGone := func(port string, num uint32) *model.Endpoint {
		return &model.Endpoint{
			ServiceHostname: "reviews.shop.svc.cluster.local", ServicePortName: port, Address: "10.244.3.30", Port: num,
			Namespace: "shop", WorkloadName: "reviews-v3-gone",
			Locality: model.Locality{Region: "eu-west", Zone: "eu-west-1b"}, Health: model.Unhealthy,
		}
	}
	ratings := func(pod, port, addr string, num uint32, h model.HealthStatus) *model.Endpoint {
		e := &model.Endpoint{
			ServiceHostname: "ratings.shop.svc.cluster.local", ServicePortName: port, Address: addr, Port: num,
			Namespace: "shop", WorkloadName: pod, Health: h,
		}
		switch pod {
		case "ratings-1":
			e.Labels = map[string]string{"app": "ratings", "version": "v1"}
			e.ServiceAccount = "ratings"
			e.Locality = model.Locality{Region: "eu-west", Zone: "eu-west-1a"}
		case "ratings-2":
			e.Labels = map[string]string{"app": "ratings", "version": "v2"}
			e.ServiceAccount = "ratings"
		case "ratings-3":
			e.Labels = map[string]string{"app": "ratings", "version": "v1"}
			e.ServiceAccount = "default"
		}
		return e
	}

	tests := []struct {
		name    string
		fixture string
		host    string
		want    []*model.Endpoint
	}{
		{
			// Health from slice conditions, labels and account from the
			// Pod, locality from the Node with the slice's zone winning,
			// both address families, unknown ports, FQDN slices and
			// duplicates across slices dropped.
			name:    "endpoint slices",
			fixture: "endpointslices.yaml",
			host:    "reviews.shop.svc.cluster.local",
			want: []*model.Endpoint{
				reviewsV1("grpc-admin", "10.244.1.10", 9091),
				reviewsV2("grpc-admin", 9091),
				reviewsGone("grpc-admin", 9091),
				reviewsV1("http", "10.244.1.10", 9080),
				reviewsV2("http", 9080),
				reviewsGone("http", 9080),
				reviewsV1("http", "fd00:10:244::1:10", 9080),
			},
		},
		{
			name:    "slice of a missing service",
			fixture: "endpointslices.yaml",
			host:    "orphan.shop.svc.cluster.local",
			want:    nil,
		},
		{
			// Running Pods with IPs, ready or not, named target ports
			// resolved on containers and sidecar init containers, a
			// terminating ready Pod draining.
			name:    "derived from pods",
			fixture: "pods.yaml",
			host:    "ratings.shop.svc.cluster.local",
			want: []*model.Endpoint{
				ratings("ratings-1", "grpc", "10.244.1.5", 50051, model.Healthy),
				ratings("ratings-2", "grpc", "10.244.1.6", 50052, model.Unhealthy),
				ratings("ratings-1", "grpc", "fd00:10:244::1:5", 50051, model.Healthy),
				ratings("ratings-1", "http-debug", "10.244.1.5", 18081, model.Healthy),
				ratings("ratings-2", "http-debug", "10.244.1.6", 18081, model.Unhealthy),
				ratings("ratings-3", "http-debug", "10.244.1.7", 18081, model.Draining),
				ratings("ratings-1", "http-debug", "fd00:10:244::1:5", 18081, model.Healthy),
				ratings("ratings-1", "http-metrics", "10.244.1.5", 15090, model.Healthy),
				ratings("ratings-2", "http-metrics", "10.244.1.6", 15090, model.Unhealthy),
				ratings("ratings-3", "http-metrics", "10.244.1.7", 15090, model.Draining),
				ratings("ratings-1", "http-metrics", "fd00:10:244::1:5", 15090, model.Healthy),
			},
		},
		{
			name:    "slices win over pods",
			fixture: "pods.yaml",
			host:    "ratings-sliced.shop.svc.cluster.local",
			want:    nil,
		},
		{
			name:    "no selector, no slices",
			fixture: "pods.yaml",
			host:    "manual.shop.svc.cluster.local",
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := storeOf(t, tt.fixture).Build(nil, "")
			if diff := cmp.Diff(tt.want, snap.Endpoints(tt.host)); diff != "" {
				t.Errorf("endpoints of %s (-want +got):\n%s", tt.host, diff)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	yes, no := ptr(true), ptr(false)
	tests := []struct {
		name                        string
		ready, serving, terminating *bool
		want                        model.HealthStatus
	}{
		{"ready unset", nil, nil, nil, model.Healthy},
		{"ready", yes, yes, no, model.Healthy},
		{"ready while terminating", yes, yes, yes, model.Healthy},
		{"serving and terminating", no, yes, yes, model.Draining},
		{"not serving, terminating", no, no, yes, model.Unhealthy},
		{"serving, not terminating", no, yes, no, model.Unhealthy},
		{"not ready, rest unset", no, nil, nil, model.Unhealthy},
	}
	for _, tt := range tests {
		if got := health(tt.ready, tt.serving, tt.terminating); got != tt.want {
			t.Errorf("%s: health = %v, want %v", tt.name, got, tt.want)
		}
	}
}
