package model

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// IngressEndpoint is where a Sidecar ingress listener sends traffic (its
// defaultEndpoint), parsed. The zero value means none: traffic passes
// through to the original destination.
type IngressEndpoint struct {
	// UnixPath is a Unix domain socket's path; the rest is then empty.
	UnixPath string
	// Host is 127.0.0.1 or ::1 (loopback), or 0.0.0.0 or :: (the
	// workload's own address of that family).
	Host string
	Port uint32
}

// ParseIngressEndpoint reads a defaultEndpoint in the forms Istio
// accepts: 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, [::]:PORT or
// unix:///PATH; "" is none.
func ParseIngressEndpoint(s string) (IngressEndpoint, error) {
	if s == "" {
		return IngressEndpoint{}, nil
	}
	if path, ok := strings.CutPrefix(s, "unix://"); ok {
		if path == "" {
			return IngressEndpoint{}, fmt.Errorf("defaultEndpoint %q names no socket path", s)
		}
		return IngressEndpoint{UnixPath: path}, nil
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return IngressEndpoint{}, fmt.Errorf("defaultEndpoint %q is not HOST:PORT or unix:///PATH", s)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return IngressEndpoint{}, fmt.Errorf("defaultEndpoint %q: port %q is not in 1-65535", s, portStr)
	}
	switch host {
	case "127.0.0.1", "::1", "0.0.0.0", "::":
		return IngressEndpoint{Host: host, Port: uint32(port)}, nil
	}
	return IngressEndpoint{}, fmt.Errorf("defaultEndpoint %q: host must be 127.0.0.1, 0.0.0.0, [::1] or [::]", s)
}
