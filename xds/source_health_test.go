package xds

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/xds/debugapi"
)

// withSourceHealth installs a source health hook.
func withSourceHealth(f func() SourceStatus) harnessOption {
	return func(o *Options, _ *Cache) {
		if f != nil {
			o.SourceHealth = f
		}
	}
}

// TestReadyReportsSourceHealth: a source that lost its API server leaves
// the server ready, since it still serves the last good state, but /ready
// says it is degraded and /debug/sourcez says why and since when.
func TestReadyReportsSourceHealth(t *testing.T) {
	var mu sync.Mutex
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	status := SourceStatus{Healthy: false, Message: "kubernetes API server unreachable", Since: since}
	h := newHarness(t, withSourceHealth(func() SourceStatus {
		mu.Lock()
		defer mu.Unlock()
		return status
	}))

	if code, body := h.get(t, debugapi.ReadyPath); code != http.StatusServiceUnavailable {
		t.Errorf("before the first snapshot: /ready = %d %q, want 503 whatever the source says", code, body)
	}
	h.install(modeltest.Mesh{Services: 1, Endpoints: 1}.Build())
	code, body := h.get(t, debugapi.ReadyPath)
	if want := "ready (degraded: kubernetes API server unreachable)\n"; code != http.StatusOK || body != want {
		t.Errorf("degraded: /ready = %d %q, want 200 %q", code, body, want)
	}
	var got SourceStatus
	h.getJSON(t, SourcezPath, &got)
	if got.Healthy || got.Message != status.Message || !got.Since.Equal(since) {
		t.Errorf("/debug/sourcez = %+v, want %+v", got, status)
	}

	mu.Lock()
	status = SourceStatus{Healthy: true, Since: since.Add(time.Minute)}
	mu.Unlock()
	if code, body := h.get(t, debugapi.ReadyPath); code != http.StatusOK || body != "ready\n" {
		t.Errorf("healthy again: /ready = %d %q, want 200 ready", code, body)
	}
	h.getJSON(t, SourcezPath, &got)
	if !got.Healthy || got.Message != "" || !got.Since.Equal(since.Add(time.Minute)) {
		t.Errorf("/debug/sourcez = %+v, want healthy since %v", got, since.Add(time.Minute))
	}
}

// TestSourcezWithoutHook: a source without a health hook (the file
// source) is healthy since the server started.
func TestSourcezWithoutHook(t *testing.T) {
	before := time.Now()
	h := newHarness(t)
	var got SourceStatus
	h.getJSON(t, SourcezPath, &got)
	if !got.Healthy || got.Since.Before(before.Add(-time.Second)) || got.Since.After(time.Now()) {
		t.Errorf("/debug/sourcez = %+v, want healthy since the server started", got)
	}
	code, body := h.get(t, SourcezPath)
	if code != http.StatusOK || !strings.Contains(body, `"healthy": true`) {
		t.Errorf("GET %s = %d %s", SourcezPath, code, body)
	}
}
