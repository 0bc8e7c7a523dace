package resource

import (
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// The functions below follow references between resources the way a
// client does — listeners name route tables, routes name clusters, EDS
// clusters name load assignments — so tests and tools can ask for exactly
// what a proxy would ask for. Each returns sorted, distinct names.

// RouteNames are the route tables listeners refer to over RDS.
func RouteNames(listeners []proto.Message) []string {
	var names []string
	addHCM := func(a *anypb.Any) {
		hcm := &hcmv3.HttpConnectionManager{}
		if a.MessageIs(hcm) && a.UnmarshalTo(hcm) == nil && hcm.GetRds() != nil {
			names = append(names, hcm.GetRds().GetRouteConfigName())
		}
	}
	for _, m := range listeners {
		l, ok := m.(*listenerv3.Listener)
		if !ok {
			continue
		}
		if api := l.GetApiListener().GetApiListener(); api != nil {
			addHCM(api)
		}
		for _, fc := range append(l.GetFilterChains(), l.GetDefaultFilterChain()) {
			for _, f := range fc.GetFilters() {
				addHCM(f.GetTypedConfig())
			}
		}
	}
	return sortedUnique(names)
}

// ClusterNames are the clusters routes send to (mirrors included).
func ClusterNames(routes []proto.Message) []string {
	var names []string
	for _, m := range routes {
		rc, ok := m.(*routev3.RouteConfiguration)
		if !ok {
			continue
		}
		for _, vh := range rc.GetVirtualHosts() {
			for _, rt := range vh.GetRoutes() {
				if c := rt.GetRoute().GetCluster(); c != "" {
					names = append(names, c)
				}
				for _, wc := range rt.GetRoute().GetWeightedClusters().GetClusters() {
					names = append(names, wc.GetName())
				}
				for _, mp := range rt.GetRoute().GetRequestMirrorPolicies() {
					names = append(names, mp.GetCluster())
				}
			}
		}
	}
	return sortedUnique(names)
}

// EDSNames are the load assignments EDS clusters ask for.
func EDSNames(clusters []proto.Message) []string {
	var names []string
	for _, m := range clusters {
		c, ok := m.(*clusterv3.Cluster)
		if !ok || c.GetType() != clusterv3.Cluster_EDS {
			continue
		}
		n := c.GetEdsClusterConfig().GetServiceName()
		if n == "" {
			n = c.GetName()
		}
		names = append(names, n)
	}
	return sortedUnique(names)
}

func sortedUnique(names []string) []string {
	slices.Sort(names)
	return slices.Compact(names)
}
