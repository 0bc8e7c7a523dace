// Package build compiles the binaries that pilotlight's end-to-end tests
// run as subprocesses: the peers (etcd, kube-apiserver, ...) from the tool
// modules under e2e/tools, pilotlight itself from the main module, and the
// test backend from the e2e module.
//
// Peer builds are slow (minutes on a cold cache), so their binaries are
// kept in the gitignored e2e/bin/, in a directory named after a hash of the
// tool module's go.mod, go.sum and the Go version: a version bump makes a
// new directory and a rebuild, anything else is reused. pilotlight and the
// backend are rebuilt on every run; that takes seconds and means a test
// never runs a stale pilotlight.
//
// It owns no processes; package proc runs what it builds.
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Tool is a module under e2e/tools whose only job is to build peers. Each
// peer lives in a module of its own so that its dependency graph never
// bends pilotlight's (shared/TESTBED.md).
type Tool struct {
	// Dir is the module's directory under e2e/tools; it also names the
	// cache directory.
	Dir string
	// Binaries maps each binary's name to the main package it is built
	// from.
	Binaries map[string]string
}

// Tools are every peer the tests may run. A new peer is one more entry
// here plus its module under e2e/tools.
var Tools = []Tool{
	{
		Dir: "kube",
		Binaries: map[string]string{
			Etcd:                  "go.etcd.io/etcd/server/v3",
			KubeAPIServer:         "k8s.io/kubernetes/cmd/kube-apiserver",
			KubeControllerManager: "k8s.io/kubernetes/cmd/kube-controller-manager",
		},
	},
	{
		Dir: "istio",
		Binaries: map[string]string{
			PilotDiscovery: "istio.io/istio/pilot/cmd/pilot-discovery",
			PilotAgent:     "istio.io/istio/pilot/cmd/pilot-agent",
		},
	},
}

// Names of the binaries, for Binaries.Path.
const (
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	// PilotDiscovery is istiod, the reference of the parity test.
	PilotDiscovery = "pilot-discovery"
	// PilotAgent is istio-agent, which fetches a proxyless workload's
	// certificate and writes its gRPC bootstrap.
	PilotAgent = "pilot-agent"
	Pilotlight = "pilotlight"
	Backend    = "e2e-backend"
	// XDSApp is the proxyless application next to pilot-agent.
	XDSApp = "e2e-xds"
)

// Layout locates the directories the builder works in.
type Layout struct {
	// Repo is the root of pilotlight's main module.
	Repo string
	// E2E is the root of the e2e module.
	E2E string
	// Bin is the cache of built binaries, e2e/bin.
	Bin string
}

// Locate finds the e2e module from the working directory, which go test
// sets to the package under test.
func Locate() (Layout, error) {
	dir, err := os.Getwd()
	if err != nil {
		return Layout{}, err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/pilotlight/pilotlight/e2e\n") {
			return Layout{Repo: filepath.Dir(dir), E2E: dir, Bin: filepath.Join(dir, "bin")}, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return Layout{}, errors.New("build: not inside the e2e module (no go.mod of github.com/pilotlight/pilotlight/e2e above the working directory)")
		}
		dir = parent
	}
}

// Binaries are the paths of built binaries by name.
type Binaries map[string]string

// Path returns the path of the binary name. It panics on a name nothing
// built: that is a bug in the test, not a condition to handle.
func (b Binaries) Path(name string) string {
	p, ok := b[name]
	if !ok {
		panic("build: no binary " + name)
	}
	return p
}

// Peers builds every tool's binaries, or reuses cached ones, reporting
// progress to w. Two test processes building at once take turns through a
// lock file.
func Peers(ctx context.Context, l Layout, w io.Writer) (Binaries, error) {
	unlock, err := lock(l)
	if err != nil {
		return nil, err
	}
	defer unlock()
	bins := Binaries{}
	for _, tool := range Tools {
		got, err := buildTool(ctx, l, tool, w)
		if err != nil {
			return nil, err
		}
		for name, path := range got {
			bins[name] = path
		}
	}
	return bins, nil
}

// locals are the binaries built from this repository, on every run.
var locals = map[string]struct{ module, pkg string }{
	Pilotlight: {"", "./cmd/pilotlight"},
	Backend:    {"e2e", "./cmd/e2e-backend"},
	XDSApp:     {"e2e", "./cmd/e2e-xds"},
}

// Local builds pilotlight (Pilotlight), the test backend (Backend) or the
// proxyless application (XDSApp) from the checkout and returns its path. Unlike the peers, these are rebuilt
// on every call: it takes seconds, and a test must never run a stale
// pilotlight.
func Local(ctx context.Context, l Layout, name string, w io.Writer) (string, error) {
	b, ok := locals[name]
	if !ok {
		return "", fmt.Errorf("build: %s is not built from this repository", name)
	}
	unlock, err := lock(l)
	if err != nil {
		return "", err
	}
	defer unlock()
	out := filepath.Join(l.Bin, name)
	start := time.Now()
	if err := goBuild(ctx, filepath.Join(l.Repo, b.module), out, b.pkg); err != nil {
		return "", err
	}
	fmt.Fprintf(w, "build: %s in %v\n", name, time.Since(start).Round(time.Millisecond))
	return out, nil
}

// buildTool returns the binaries of one tool module, building them unless
// the cache directory for the module's current hash is complete.
func buildTool(ctx context.Context, l Layout, tool Tool, w io.Writer) (Binaries, error) {
	modDir := filepath.Join(l.E2E, "tools", tool.Dir)
	key, err := cacheKey(ctx, modDir, tool)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(l.Bin, tool.Dir+"-"+key)
	bins := Binaries{}
	for name := range tool.Binaries {
		bins[name] = filepath.Join(dir, name)
	}
	stamp := filepath.Join(dir, ".complete")
	if _, err := os.Stat(stamp); err == nil {
		fmt.Fprintf(w, "build: %s peers cached in %s\n", tool.Dir, dir)
		return bins, nil
	}
	fmt.Fprintf(w, "build: building %s peers into %s (minutes on a cold cache)\n", tool.Dir, dir)
	start := time.Now()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for name, pkg := range tool.Binaries {
		t := time.Now()
		if err := goBuild(ctx, modDir, bins[name], pkg); err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "build: %s in %v\n", name, time.Since(t).Round(time.Second))
	}
	// The stamp is written last, so an interrupted build is redone.
	if err := os.WriteFile(stamp, []byte(key+"\n"), 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "build: %s peers built in %v\n", tool.Dir, time.Since(start).Round(time.Second))
	prune(l.Bin, tool.Dir, dir, w)
	return bins, nil
}

// prune removes the cache directories of older versions of a tool: peer
// binaries are hundreds of megabytes.
func prune(bin, tool, keep string, w io.Writer) {
	old, _ := filepath.Glob(filepath.Join(bin, tool+"-*"))
	for _, d := range old {
		if d != keep {
			fmt.Fprintf(w, "build: removing stale %s\n", d)
			_ = os.RemoveAll(d)
		}
	}
}

// goBuild runs 'go build -o out pkg' in dir, with the go command's own
// output passed through on failure.
func goBuild(ctx context.Context, dir, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	// A go.work above the checkout would mix the modules this package
	// keeps apart.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s (in %s): %w\n%s", pkg, dir, err, b)
	}
	return nil
}

// lock takes an exclusive flock on the cache directory's lock file,
// waiting for another holder, and returns its release. The kernel drops
// it if the process dies.
func lock(l Layout) (func(), error) {
	if err := os.MkdirAll(l.Bin, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(l.Bin, ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
