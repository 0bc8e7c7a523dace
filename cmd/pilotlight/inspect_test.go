package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/xds/debugapi"
)

// fakePilotlight serves canned debug API answers from testdata/debug, in
// the shapes of package debugapi, and answers 404 for a proxy that is not
// connected, as the real server does.
func fakePilotlight(t *testing.T) string {
	t.Helper()
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join("testdata", "debug", name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	syncz, dump := read("syncz.json"), read("config_dump.json")
	var d debugapi.ConfigDump
	if err := json.Unmarshal(dump, &d); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(debugapi.SynczPath, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(syncz) })
	mux.HandleFunc(debugapi.ConfigDumpPath, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get(debugapi.ProxyIDParam) != d.Proxy {
			http.Error(w, "proxy is not connected", http.StatusNotFound)
			return
		}
		_, _ = w.Write(dump)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func TestProxyStatusTable(t *testing.T) {
	addr := fakePilotlight(t)
	proxies, _, err := newDebugClient(addr).syncz(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	if err := writeProxyStatus(&out, proxies, now); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "inspect/proxy-status.txt", out.Bytes())

	out.Reset()
	if err := writeProxyStatus(&out, nil, now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "No proxy is connected") {
		t.Errorf("an empty list says nothing helpful:\n%s", out.String())
	}
}

func TestProxyStatusRaw(t *testing.T) {
	addr := fakePilotlight(t)
	for _, format := range []string{"json", "yaml"} {
		out, err := runCommand(t, "proxy-status", "--http", addr, "-o", format)
		if err != nil {
			t.Fatalf("-o %s: %v\n%s", format, err, out)
		}
		checkGolden(t, "inspect/proxy-status."+format, out)
	}
}

func TestProxyConfig(t *testing.T) {
	addr := fakePilotlight(t)
	const id = "sidecar~10.244.1.7~reviews-v1-6d8f.bookstore~bookstore.svc.cluster.local"
	for _, view := range []string{"clusters", "listeners", "routes", "endpoints"} {
		t.Run(view, func(t *testing.T) {
			out, err := runCommand(t, "proxy-config", view, id, "--http", addr)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			checkGolden(t, "inspect/proxy-config-"+view+".txt", out)

			// POD.NAMESPACE, as proxy-status shows it, names the same proxy.
			short, err := runCommand(t, "proxy-config", view, "reviews-v1-6d8f.bookstore", "--http", addr)
			if err != nil {
				t.Fatalf("by POD.NAMESPACE: %v\n%s", err, short)
			}
			if !bytes.Equal(out, short) {
				t.Errorf("by POD.NAMESPACE the output differs:\n%s", short)
			}
		})
	}
}

func TestProxyConfigRaw(t *testing.T) {
	addr := fakePilotlight(t)
	out, err := runCommand(t, "proxy-config", "routes", "reviews-v1-6d8f.bookstore", "--http", addr, "-o", "yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	checkGolden(t, "inspect/proxy-config-routes.yaml", out)
}

func TestInspectErrors(t *testing.T) {
	addr := fakePilotlight(t)
	// A port nothing listens on: the listener is closed at once.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	down := strings.TrimPrefix(closed.URL, "http://")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown short name", []string{"proxy-config", "clusters", "nobody.nowhere", "--http", addr}, "no connected proxy is named"},
		{"unknown id", []string{"proxy-config", "clusters", "sidecar~10.0.0.1~x.y~y.svc.cluster.local", "--http", addr}, "404"},
		{"pilotlight not running", []string{"proxy-status", "--http", down}, "cannot reach pilotlight"},
		{"bad output format", []string{"proxy-status", "--http", addr, "-o", "xml"}, "want table, json or yaml"},
		{"no proxy given", []string{"proxy-config", "routes", "--http", addr}, "accepts 1 arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCommand(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q\n%s", err, tc.want, out)
			}
		})
	}
}

func TestDecodeResourcesRejectsGarbage(t *testing.T) {
	for _, raw := range []string{
		`{"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": 7}`,
		`[1, 2]`,
	} {
		if _, err := decodeResources([]json.RawMessage{json.RawMessage(raw)}); err == nil {
			t.Errorf("decoded %s", raw)
		}
	}
}

func TestProxyName(t *testing.T) {
	for id, want := range map[string]string{
		"sidecar~10.0.0.1~web-1.shop~shop.svc.cluster.local": "web-1.shop",
		"plain-id": "plain-id",
	} {
		if got := proxyName(id); got != want {
			t.Errorf("proxyName(%q) = %q, want %q", id, got, want)
		}
	}
}
