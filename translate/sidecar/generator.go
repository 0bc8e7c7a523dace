// Package sidecar generates the config of an Envoy sidecar (and, until
// Gateway support lands, the outbound clusters of a gateway) the way
// istiod lays it out: outbound|PORT||HOST clusters, per-port outbound
// listeners behind virtualOutbound (15001), an inbound filter chain per
// served port on virtualInbound (15006), one route table per outbound HTTP
// port, and EDS per cluster.
//
// Everything here is pure: it reads a Snapshot and a view and returns
// sorted resources.
package sidecar

import (
	"cmp"
	"slices"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// Generator builds Envoy sidecar and router config.
type Generator struct{}

// Outbound returns the resources that depend only on what the proxy can
// reach.
func (Generator) Outbound(snap *model.Snapshot, v model.OutboundView, typeURL string) []resource.Resource {
	var out []resource.Resource
	switch typeURL {
	case resource.ClusterType:
		out = outboundClusters(snap, v)
	case resource.EndpointType:
		out = outboundEndpoints(snap, v)
	case resource.ListenerType:
		if v.Flavor == model.FlavorSidecar {
			out = outboundListeners(snap, v)
		}
	case resource.RouteType:
		if v.Flavor == model.FlavorSidecar {
			out = outboundRoutes(snap, v)
		}
	}
	return sorted(out)
}

// Inbound returns the resources of the workload itself: its inbound
// clusters and the virtualInbound listener. Gateways have no inbound side.
func (Generator) Inbound(snap *model.Snapshot, v model.InboundView, typeURL string) []resource.Resource {
	if v.Flavor != model.FlavorSidecar {
		return nil
	}
	var out []resource.Resource
	switch typeURL {
	case resource.ClusterType:
		out = inboundClusters(snap, v)
	case resource.ListenerType:
		out = []resource.Resource{inboundListener(snap, v)}
	}
	return sorted(out)
}

// OutboundNamed: Envoy asks only for names it learned from this
// generator's own listeners and clusters, so there is nothing to build on
// demand.
func (Generator) OutboundNamed(*model.Snapshot, model.OutboundView, string, string) (resource.Resource, bool) {
	return resource.Resource{}, false
}

// InboundNamed: see OutboundNamed.
func (Generator) InboundNamed(*model.Snapshot, model.InboundView, string, string) (resource.Resource, bool) {
	return resource.Resource{}, false
}

func sorted(rs []resource.Resource) []resource.Resource {
	slices.SortFunc(rs, func(a, b resource.Resource) int { return cmp.Compare(a.Name, b.Name) })
	return rs
}
