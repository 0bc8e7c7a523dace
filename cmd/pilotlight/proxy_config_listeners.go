package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func writeListeners(w io.Writer, msgs []proto.Message) error {
	t := newTable(w, "NAME", "ADDRESSES", "PORT", "MATCH", "DESTINATION")
	for _, m := range msgs {
		l, ok := m.(*listenerv3.Listener)
		if !ok {
			continue
		}
		addrs, port := listenerAddresses(l)
		if api := l.GetApiListener().GetApiListener(); api != nil {
			// A proxyless client's listener: no socket, just the HTTP
			// connection manager that names its routes.
			t.row(l.GetName(), addrs, port, "", destination(api))
		}
		for _, fc := range l.GetFilterChains() {
			t.row(l.GetName(), addrs, port, chainMatch(fc.GetFilterChainMatch()), chainDestination(fc))
		}
		if fc := l.GetDefaultFilterChain(); fc != nil {
			t.row(l.GetName(), addrs, port, "(default)", chainDestination(fc))
		}
	}
	return t.flush()
}

func listenerAddresses(l *listenerv3.Listener) (addrs, port string) {
	sa := l.GetAddress().GetSocketAddress()
	if sa == nil {
		return "", ""
	}
	list := []string{sa.GetAddress()}
	for _, a := range l.GetAdditionalAddresses() {
		list = append(list, a.GetAddress().GetSocketAddress().GetAddress())
	}
	return strings.Join(list, ","), strconv.FormatUint(uint64(sa.GetPortValue()), 10)
}

// chainMatch summarizes what selects a filter chain, in istioctl's words.
func chainMatch(m *listenerv3.FilterChainMatch) string {
	var parts []string
	if p := m.GetDestinationPort(); p != nil {
		parts = append(parts, fmt.Sprintf("Port: %d", p.GetValue()))
	}
	if r := m.GetPrefixRanges(); len(r) > 0 {
		parts = append(parts, "Addr: "+cidrs(r))
	}
	if s := m.GetServerNames(); len(s) > 0 {
		parts = append(parts, "SNI: "+summarize(s, 2))
	}
	if t := m.GetTransportProtocol(); t != "" {
		parts = append(parts, "Trans: "+t)
	}
	if a := m.GetApplicationProtocols(); len(a) > 0 {
		parts = append(parts, "App: "+strings.Join(a, ","))
	}
	if len(parts) == 0 {
		return "ALL"
	}
	return strings.Join(parts, "; ")
}

func cidrs(ranges []*corev3.CidrRange) string {
	s := make([]string, len(ranges))
	for i, r := range ranges {
		s[i] = fmt.Sprintf("%s/%d", r.GetAddressPrefix(), r.GetPrefixLen().GetValue())
	}
	return summarize(s, 2)
}

// chainDestination is where a filter chain sends traffic: the terminal
// network filter decides.
func chainDestination(fc *listenerv3.FilterChain) string {
	filters := fc.GetFilters()
	if len(filters) == 0 {
		return ""
	}
	last := filters[len(filters)-1]
	if tc := last.GetTypedConfig(); tc != nil {
		return destination(tc)
	}
	return "Filter: " + last.GetName()
}

// destination reads an HTTP connection manager's routes or a TCP proxy's
// cluster; other filters are named by type.
func destination(tc *anypb.Any) string {
	m, err := tc.UnmarshalNew()
	if err != nil {
		return "Filter: " + typeName(tc.GetTypeUrl())
	}
	switch f := m.(type) {
	case *hcmv3.HttpConnectionManager:
		if rds := f.GetRds(); rds != nil {
			return "Route: " + rds.GetRouteConfigName()
		}
		if rc := f.GetRouteConfig(); rc != nil {
			return "Inline Route: " + rc.GetName()
		}
		return "HTTP"
	case *tcpproxyv3.TcpProxy:
		if c := f.GetCluster(); c != "" {
			return "Cluster: " + c
		}
		var names []string
		for _, wc := range f.GetWeightedClusters().GetClusters() {
			names = append(names, wc.GetName())
		}
		return "Clusters: " + summarize(names, 2)
	}
	return "Filter: " + typeName(tc.GetTypeUrl())
}

// typeName is the last segment of a type URL.
func typeName(url string) string {
	return url[strings.LastIndex(url, "/")+1:]
}
