package main

import (
	"fmt"
	"io"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
)

func writeRoutes(w io.Writer, msgs []proto.Message) error {
	t := newTable(w, "NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE")
	for _, m := range msgs {
		rc, ok := m.(*routev3.RouteConfiguration)
		if !ok {
			continue
		}
		for _, vh := range rc.GetVirtualHosts() {
			domains := summarize(vh.GetDomains(), 1)
			if len(vh.GetRoutes()) == 0 {
				t.row(rc.GetName(), vh.GetName(), domains, "", "")
			}
			for _, r := range vh.GetRoutes() {
				t.row(rc.GetName(), vh.GetName(), domains, routeMatch(r.GetMatch()), istioConfigName(r.GetMetadata()))
			}
		}
	}
	return t.flush()
}

// routeMatch shows a path match as istioctl does (a prefix ends in *),
// followed by how many header and query matches narrow it.
func routeMatch(m *routev3.RouteMatch) string {
	var s string
	switch {
	case m.GetPrefix() != "":
		s = m.GetPrefix() + "*"
	case m.GetPath() != "":
		s = m.GetPath()
	case m.GetSafeRegex() != nil:
		s = "regex " + m.GetSafeRegex().GetRegex()
	case m.GetPathSeparatedPrefix() != "":
		s = m.GetPathSeparatedPrefix() + "/*"
	case m.GetConnectMatcher() != nil:
		s = "CONNECT"
	default:
		s = "*"
	}
	if n := len(m.GetHeaders()); n > 0 {
		s += fmt.Sprintf(" +%d header", n)
	}
	if n := len(m.GetQueryParameters()); n > 0 {
		s += fmt.Sprintf(" +%d query", n)
	}
	return s
}

// summarize shows the first n items and how many more there are.
func summarize(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ",")
	}
	return fmt.Sprintf("%s +%d more", strings.Join(items[:n], ","), len(items)-n)
}
