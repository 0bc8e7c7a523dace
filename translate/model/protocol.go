package model

import "strings"

// Protocol is the application protocol of a service port, as Istio names it.
type Protocol string

// Protocols pilotlight distinguishes. Anything unrecognised is treated as
// Unsupported, which Istio (and pilotlight) serve as opaque TCP.
const (
	HTTP        Protocol = "HTTP"
	HTTP2       Protocol = "HTTP2"
	GRPC        Protocol = "GRPC"
	GRPCWeb     Protocol = "GRPC-Web"
	HTTPS       Protocol = "HTTPS"
	TCP         Protocol = "TCP"
	TLS         Protocol = "TLS"
	Mongo       Protocol = "Mongo"
	Redis       Protocol = "Redis"
	MySQL       Protocol = "MySQL"
	UDP         Protocol = "UDP"
	Unsupported Protocol = "UnsupportedProtocol"
)

// ParseProtocol maps a protocol name, case-insensitively, to a Protocol.
func ParseProtocol(s string) Protocol {
	switch strings.ToLower(s) {
	case "http":
		return HTTP
	case "http2", "h2c":
		return HTTP2
	case "grpc":
		return GRPC
	case "grpc-web":
		return GRPCWeb
	case "https":
		return HTTPS
	case "tcp":
		return TCP
	case "tls":
		return TLS
	case "mongo":
		return Mongo
	case "redis":
		return Redis
	case "mysql":
		return MySQL
	case "udp":
		return UDP
	}
	return Unsupported
}

// DetectProtocol returns a Kubernetes service port's protocol the way Istio
// does: an explicit appProtocol wins (including the Kubernetes-standard
// kubernetes.io/h2c and kubernetes.io/ws values), then the port name's prefix
// up to the first dash ("http-web", "grpc"), then the L4 protocol. Ports
// that say nothing are Unsupported, which later stages treat as TCP unless
// protocol sniffing is possible.
func DetectProtocol(portName, appProtocol, l4Protocol string) Protocol {
	if strings.EqualFold(l4Protocol, "UDP") {
		return UDP
	}
	if appProtocol != "" {
		switch strings.ToLower(appProtocol) {
		case "kubernetes.io/h2c":
			return HTTP2
		case "kubernetes.io/ws", "kubernetes.io/wss":
			return HTTP
		}
		if p := ParseProtocol(appProtocol); p != Unsupported {
			return p
		}
	}
	if lower := strings.ToLower(portName); lower == "grpc-web" || strings.HasPrefix(lower, "grpc-web-") {
		return GRPCWeb
	}
	prefix, _, _ := strings.Cut(portName, "-")
	return ParseProtocol(prefix)
}

// IsHTTP reports whether the protocol is carried by an HTTP connection
// manager (HTTP/1.1, HTTP/2, gRPC).
func (p Protocol) IsHTTP() bool {
	switch p {
	case HTTP, HTTP2, GRPC, GRPCWeb:
		return true
	}
	return false
}

// IsHTTP2 reports whether upstream connections must speak HTTP/2.
func (p Protocol) IsHTTP2() bool { return p == HTTP2 || p == GRPC }

// IsTCP reports whether the port is proxied as an opaque byte stream
// (including TLS passthrough and unknown protocols).
func (p Protocol) IsTCP() bool { return !p.IsHTTP() && p != UDP }
