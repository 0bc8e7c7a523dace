package sidecar

import (
	"fmt"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/networking"
	"github.com/pilotlight/pilotlight/translate/resource"
)

const wildcardIP = "0.0.0.0"

// outboundListeners builds virtualOutbound and, behind it, one listener per
// destination that bind_to_port=false so only virtualOutbound's original
// destination hand-off reaches them: 0.0.0.0_PORT for HTTP ports (routing
// by Host header through RDS route PORT), VIP_PORT for TCP services, and
// one per pod address for headless TCP services, whose callers dial pods
// directly. When an HTTP port and a wildcard TCP destination collide, HTTP
// wins, as in Istio.
func outboundListeners(snap *model.Snapshot, v model.OutboundView) []resource.Resource {
	byName := map[string]*listenerv3.Listener{}
	add := func(ip string, port uint32, chains ...*listenerv3.FilterChain) {
		name := ip + "_" + strconv.FormatUint(uint64(port), 10)
		if _, taken := byName[name]; taken {
			return
		}
		l := &listenerv3.Listener{
			Name:             name,
			Address:          eds.SocketAddress(ip, port),
			BindToPort:       wrapperspb.Bool(false),
			TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		}
		addChains(l, chains)
		byName[name] = l
	}
	ranges := newRangeChains()
	services := snap.ServicesFor(v.Namespace, v.Labels)
	// HTTP first, so that it claims the wildcard listeners.
	for _, svc := range services {
		for _, port := range svc.Ports {
			if port.Protocol.IsHTTP() {
				add(wildcardIP, port.Number, httpOutboundChain(snap, port.Number))
			}
		}
	}
	for _, svc := range services {
		for _, port := range svc.Ports {
			if !port.Protocol.IsTCP() {
				continue
			}
			l4 := networking.L4Chains(networking.MeshRouteInput(snap, v, svc, port, networking.Envoy))
			switch {
			case len(svc.Addresses) > 0 || len(svc.CIDRs) > 0:
				for _, vip := range svc.Addresses {
					add(vip, port.Number, l4FilterChains(l4, nil, nil)...)
				}
				ranges.add(svc, port.Number, l4)
			case svc.Resolution == model.Passthrough:
				for _, e := range snap.EndpointsForPort(svc.Hostname, port.Name) {
					if e.Health == model.Healthy {
						add(e.Address, port.Number, l4FilterChains(l4, nil, nil)...)
					}
				}
			case port.Protocol == model.TLS || port.Protocol == model.HTTPS:
				ranges.addSNI(svc, port.Number, l4)
			default:
				add(wildcardIP, port.Number, l4FilterChains(l4, nil, nil)...)
			}
		}
	}
	ranges.attach(byName, snap, v)
	out := []resource.Resource{{Name: resource.VirtualOutboundListener, Message: virtualOutbound(outboundFallbackCluster(snap, v))}}
	for name, l := range byName {
		out = append(out, resource.Resource{Name: name, Message: l})
	}
	return out
}

// virtualOutbound catches everything the iptables rules redirect to 15001
// and hands it to the listener for the original destination; what matches
// none goes to the fallback cluster (see outboundFallbackCluster).
func virtualOutbound(fallback string) *listenerv3.Listener {
	chain := tcpChain(fallback, fallback)
	chain.Name = "PassthroughFilterChain"
	// A connection whose original destination is 15001 itself would loop
	// through Envoy forever: drop it.
	loop := tcpChain(resource.BlackHoleCluster, resource.BlackHoleCluster)
	loop.Name = "virtualOutbound-blackhole"
	loop.FilterChainMatch = &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(resource.VirtualOutboundPort)}
	return &listenerv3.Listener{
		Name:             resource.VirtualOutboundListener,
		Address:          eds.SocketAddress(wildcardIP, resource.VirtualOutboundPort),
		UseOriginalDst:   wrapperspb.Bool(true),
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		FilterChains:     []*listenerv3.FilterChain{loop, chain},
	}
}

func httpOutboundChain(snap *model.Snapshot, port uint32) *listenerv3.FilterChain {
	routeName := strconv.FormatUint(uint64(port), 10)
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: fmt.Sprintf("outbound_%s_%d", wildcardIP, port),
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    resource.ADS(),
			RouteConfigName: routeName,
		}},
		HttpFilters: resource.HTTPFilters(),
		// Outbound requests come from the local app; its address is not the
		// client's and must not be trusted for x-forwarded-for.
		UseRemoteAddress: wrapperspb.Bool(false),
		UpgradeConfigs:   []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		// Long-lived streams (gRPC, server-sent events) are ended by the
		// application, not by Envoy's five-minute idle timer.
		StreamIdleTimeout: durationpb.New(0),
		Proxy_100Continue: true,
	}
	networking.NormalizePaths(hcm, snap.Mesh())
	return &listenerv3.FilterChain{Filters: []*listenerv3.Filter{resource.HCMFilter(hcm)}}
}

func tcpChain(statPrefix, cluster string) *listenerv3.FilterChain {
	return tcpProxyChain(&tcpproxyv3.TcpProxy{
		StatPrefix:       statPrefix,
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster},
	})
}

func tcpProxyChain(tcp *tcpproxyv3.TcpProxy) *listenerv3.FilterChain {
	return &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{
		Name:       wellknown.TCPProxy,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: resource.Any(tcp)},
	}}}
}
