package gateway

import "strings"

// Host names here follow Istio's rules: a name is either exact or a
// wildcard "*SUFFIX" ("*" alone matches everything).

func wildcard(h string) bool { return strings.HasPrefix(h, "*") }

// subsetOf reports whether every name a matches is matched by b.
func subsetOf(a, b string) bool {
	switch {
	case wildcard(a):
		return wildcard(b) && strings.HasSuffix(a[1:], b[1:])
	case wildcard(b):
		return strings.HasSuffix(a, b[1:])
	}
	return a == b
}

// overlaps reports whether some name is matched by both a and b.
func overlaps(a, b string) bool {
	switch {
	case wildcard(a) && wildcard(b):
		return strings.HasSuffix(a[1:], b[1:]) || strings.HasSuffix(b[1:], a[1:])
	case wildcard(a):
		return strings.HasSuffix(b, a[1:])
	case wildcard(b):
		return strings.HasSuffix(a, b[1:])
	}
	return a == b
}

// intersect returns, for every pair of a server host and a
// VirtualService host that overlap, the narrower of the two: the names
// the VirtualService serves through that server. Order follows server
// hosts, then VirtualService hosts; each name appears once.
func intersect(serverHosts, vsHosts []string) []string {
	var out []string
	add := func(h string) {
		for _, o := range out {
			if o == h {
				return
			}
		}
		out = append(out, h)
	}
	for _, s := range serverHosts {
		for _, v := range vsHosts {
			switch {
			case subsetOf(s, v):
				add(s)
			case subsetOf(v, s):
				add(v)
			}
		}
	}
	return out
}

// hostsForNamespace returns the server hosts a config in namespace ns may
// bind to, without their namespace part: "ns/host" only for that
// namespace, "*/host" (already reduced to "host") for any.
func hostsForNamespace(serverHosts []string, ns string) []string {
	var out []string
	for _, h := range serverHosts {
		if hostNS, name, ok := strings.Cut(h, "/"); ok {
			if hostNS != ns && hostNS != "*" {
				continue
			}
			h = name
		}
		out = append(out, h)
	}
	return out
}

// sanitizeHosts resolves a server's hosts as written in a Gateway in
// namespace ns: "./host" is "ns/host", "*/host" is plain "host", and
// "*/*" alone means every host.
func sanitizeHosts(hosts []string, ns string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		hostNS, name, ok := strings.Cut(h, "/")
		switch {
		case !ok:
			out = append(out, h)
		case hostNS == ".":
			out = append(out, ns+"/"+name)
		case hostNS == "*" && name == "*":
			return []string{"*"}
		case hostNS == "*":
			out = append(out, name)
		default:
			out = append(out, h)
		}
	}
	return out
}

// bareHost drops the namespace part of a server host.
func bareHost(h string) string {
	if _, name, ok := strings.Cut(h, "/"); ok {
		return name
	}
	return h
}
