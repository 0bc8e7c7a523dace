package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// httpHandler serves the xDS server's debug API at the root, metrics at
// /metrics and Go's profiles at /debug/pprof/. The profile handlers are
// mounted here explicitly; http.DefaultServeMux, where importing
// net/http/pprof also puts them, is never served.
func httpHandler(debug http.Handler, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", debug)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// logStarted tells whoever started pilotlight where to look next.
func logStarted(log *zap.Logger, o serveOptions, grpcAddr, httpAddr net.Addr) {
	xdsAddr, web, cli := dialable(grpcAddr), dialable(httpAddr), cliName()
	log.Info("pilotlight is serving",
		zap.String("xds", grpcAddr.String()),
		zap.String("http", httpAddr.String()),
		zap.String("config_dir", o.configDir))
	for _, hint := range []struct{ cmd, shows string }{
		{"curl http://" + web + "/debug/syncz", "connected proxies and whether they ACKed"},
		{"curl http://" + web + "/debug/problemz", "input objects that could not be used"},
		{cli + " bootstrap --grpc --xds " + xdsAddr +
			" --node sidecar~10.0.0.1~client-1.default~default.svc.cluster.local --output /tmp/xds-bootstrap.json",
			"a bootstrap for a proxyless gRPC client (GRPC_XDS_BOOTSTRAP); --envoy for Envoy"},
		{cli + " proxy-status --http " + web, "the sync state of every proxy, as a table"},
	} {
		log.Info("try", zap.String("cmd", hint.cmd), zap.String("shows", hint.shows))
	}
}

// dialable turns a listening address into one a local client can dial:
// a wildcard host becomes localhost.
func dialable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// cliName is how the user can run this binary again: under 'go run' the
// binary lives in a temporary directory, so the hint says 'go run' too.
func cliName() string {
	if strings.Contains(os.Args[0], "go-build") {
		return "go run ./cmd/pilotlight"
	}
	return "pilotlight"
}
