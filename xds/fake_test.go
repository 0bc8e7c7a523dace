package xds

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// fakeGen is a generator whose output names the view it was built for, so
// a test can tell when a proxy receives a resource built for another view.
// Each service becomes an EDS cluster and a ClusterLoadAssignment; the
// workload gets one inbound cluster. A service named bad-* yields an
// invalid cluster (negative connect timeout).
type fakeGen struct {
	outboundCalls atomic.Int64
	inboundCalls  atomic.Int64
}

var _ translate.Generator = (*fakeGen)(nil)

func (g *fakeGen) Outbound(snap *model.Snapshot, v model.OutboundView, typeURL string) []translate.Resource {
	g.outboundCalls.Add(1)
	var out []translate.Resource
	for _, svc := range snap.Services() {
		name := resource.OutboundClusterName(8080, "", svc.Hostname)
		switch typeURL {
		case resource.ClusterType:
			c := &clusterv3.Cluster{
				Name:                 name,
				AltStatName:          outboundMarker(v),
				ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
				EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: resource.ADS(), ServiceName: name},
			}
			if strings.HasPrefix(svc.Name, "bad-") {
				c.ConnectTimeout = durationpb.New(-time.Second)
			}
			out = append(out, translate.Resource{Name: name, Message: c})
		case resource.EndpointType:
			out = append(out, translate.Resource{Name: name, Message: eds.LoadAssignment(snap, name, svc.Hostname, "http", nil, eds.LocalityLB{})})
		}
	}
	slices.SortFunc(out, func(a, b translate.Resource) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (g *fakeGen) Inbound(snap *model.Snapshot, v model.InboundView, typeURL string) []translate.Resource {
	g.inboundCalls.Add(1)
	if typeURL != resource.ClusterType {
		return nil
	}
	return []translate.Resource{{Name: resource.InboundClusterName(8080), Message: &clusterv3.Cluster{
		Name:                 resource.InboundClusterName(8080),
		AltStatName:          inboundMarker(v),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
	}}}
}

func (g *fakeGen) OutboundNamed(*model.Snapshot, model.OutboundView, string, string) (translate.Resource, bool) {
	return translate.Resource{}, false
}

func (g *fakeGen) InboundNamed(*model.Snapshot, model.InboundView, string, string) (translate.Resource, bool) {
	return translate.Resource{}, false
}

func outboundMarker(v model.OutboundView) string {
	return fmt.Sprintf("out flavor=%s ns=%s", v.Flavor, v.Namespace)
}

func inboundMarker(v model.InboundView) string {
	keys := make([]string, 0, len(v.Labels))
	for k := range v.Labels {
		keys = append(keys, k+"="+v.Labels[k])
	}
	slices.Sort(keys)
	return fmt.Sprintf("in flavor=%s ns=%s ips=%v labels=%v sa=%s", v.Flavor, v.Namespace, v.IPs, keys, v.ServiceAccount)
}
