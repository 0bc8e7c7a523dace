package model

import (
	"net/netip"
	"strconv"
	"strings"
)

// kubeHost splits a Kubernetes service hostname NAME.NS.svc.SUFFIX into its
// name, namespace and suffix. ok is false for other hostnames (ServiceEntry
// hosts), which have no short forms.
func kubeHost(host string) (name, ns, suffix string, ok bool) {
	parts := strings.SplitN(host, ".", 4)
	if len(parts) < 4 || parts[2] != "svc" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[3], true
}

// HostAliases returns the names a client in namespace clientNS may use for
// a service, as Istio resolves them through the pod's DNS search path:
// the FQDN, NAME.NS.svc, NAME.NS and, from the service's own namespace,
// NAME. The FQDN comes first.
func HostAliases(svc *Service, clientNS string) []string {
	out := []string{svc.Hostname}
	name, ns, _, ok := kubeHost(svc.Hostname)
	if !ok {
		return out
	}
	out = append(out, name+"."+ns+".svc", name+"."+ns)
	if ns == clientNS {
		out = append(out, name)
	}
	return out
}

// ResolveHost turns a name a client used into a service hostname: the FQDN
// itself, or one of the short forms HostAliases lists for clientNS.
func (s *Snapshot) ResolveHost(name, clientNS string) *Service {
	if svc := s.byHost[name]; svc != nil {
		return svc
	}
	suffix := s.suffix
	switch strings.Count(name, ".") {
	case 0:
		return s.byHost[name+"."+clientNS+".svc."+suffix]
	case 1:
		return s.byHost[name+".svc."+suffix]
	case 2:
		if strings.HasSuffix(name, ".svc") {
			return s.byHost[name+"."+suffix]
		}
	}
	return nil
}

// detectDomainSuffix learns the cluster domain from the services themselves,
// so that the snapshot needs no separate setting.
func detectDomainSuffix(services []*Service) string {
	for _, svc := range services {
		if _, _, suffix, ok := kubeHost(svc.Hostname); ok {
			return suffix
		}
	}
	return "cluster.local"
}

// JoinHostPort formats host:port, bracketing IPv6 addresses.
func JoinHostPort(host string, port uint32) string {
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
		return "[" + host + "]:" + strconv.FormatUint(uint64(port), 10)
	}
	return host + ":" + strconv.FormatUint(uint64(port), 10)
}
