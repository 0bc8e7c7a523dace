package pilotlight_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const modulePath = "github.com/pilotlight/pilotlight"

// layerRule forbids packages matching from (except those matching except)
// to depend on packages matching deny but not allow. Patterns are relative
// to the module: "translate" is that package alone, "translate/..." is it
// and everything below, "..." is every package.
type layerRule struct {
	from   string
	except []string
	deny   []string
	allow  []string
	why    string
}

// layerRules are DESIGN.md's forbidden edges. .golangci.yml's depguard
// rules say the same for editors; this test enforces them under plain
// 'go test', with no linter installed.
var layerRules = []layerRule{{
	from: "...", except: []string{"cmd/..."},
	deny: []string{"cmd/..."},
	why:  "cmd is the program's outer edge (flags, wiring, signals); nothing builds on it",
}, {
	from: "...", except: []string{"e2e/..."},
	deny: []string{"e2e/..."},
	why:  "e2e tests the product from the outside",
}, {
	from: "translate/...",
	deny: []string{"discovery/...", "xds/...", "ca/..."},
	why:  "translation is a pure function of (Snapshot, Proxy)",
}, {
	// Stricter than "never the generators": nothing of translate but the
	// model itself, so a new generator package is covered without an edit.
	from:  "translate/model/...",
	deny:  []string{"translate/..."},
	allow: []string{"translate/model/..."},
	why:   "the model is what generators consume, never the other way round",
}, {
	from:  "discovery/...",
	deny:  []string{"xds/...", "ca/...", "translate/..."},
	allow: []string{"translate/model/..."},
	why:   "discovery produces the model and knows nothing of Envoy or of serving",
}, {
	from: "ca/...",
	deny: []string{"translate/...", "discovery/...", "xds/..."},
	why:  "the CA stands alone so it can be reasoned about (and audited) on its own",
}}

// listedPackage is the part of 'go list -json' output the rules need.
//
// XTestImports are deliberately left out: an external test package
// (translate_test) is a client of the package it tests, like any other
// package outside it, so it may load fixtures with discovery/file.
// In-package test files are compiled into the package itself and obey its
// rules.
type listedPackage struct {
	ImportPath  string
	Imports     []string
	Deps        []string
	TestImports []string
	Error       *struct{ Err string }
}

func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 2 {
		t.Fatalf("go list found %d packages; the check would prove nothing", len(pkgs))
	}
	for _, v := range layerViolations(pkgs, layerRules) {
		t.Error(v)
	}
}

// listPackages runs 'go list' over the module. Deps is transitive, so an
// edge laundered through a helper package is caught too.
func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps,TestImports,Error", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		if p.Error != nil {
			// A package go list cannot read may hide imports from the
			// check, so it fails the check rather than passing it.
			t.Errorf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// layerViolations returns one message per forbidden edge.
func layerViolations(pkgs []listedPackage, rules []layerRule) []string {
	var out []string
	for _, p := range pkgs {
		from, ok := relative(p.ImportPath)
		if !ok {
			continue
		}
		direct := slices.Concat(p.Imports, p.TestImports)
		deps := slices.Concat(direct, p.Deps)
		slices.Sort(deps)
		deps = slices.Compact(deps)
		for _, r := range rules {
			if !matchPattern(r.from, from) || matchAny(r.except, from) {
				continue
			}
			for _, d := range deps {
				to, ok := relative(d)
				if !ok || to == from || !matchAny(r.deny, to) || matchAny(r.allow, to) {
					continue
				}
				how := "imports"
				if !slices.Contains(direct, d) {
					how = "depends (through its imports) on"
				}
				out = append(out, fmt.Sprintf("%s %s %s: %s", p.ImportPath, how, d, r.why))
			}
		}
	}
	return out
}

// relative strips the module path; packages outside the module are not
// subject to the rules.
func relative(importPath string) (string, bool) {
	if importPath == modulePath {
		return "", true
	}
	rel, ok := strings.CutPrefix(importPath, modulePath+"/")
	return rel, ok
}

func matchAny(patterns []string, rel string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return matchPattern(p, rel) })
}

// matchPattern reports whether a module-relative package path matches a
// rule pattern: "a/b" alone, "a/b/..." for a/b and below, "..." for all.
func matchPattern(pattern, rel string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return rel == base || strings.HasPrefix(rel, base+"/")
	}
	return rel == pattern
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, rel string
		want         bool
	}{
		{"...", "", true},
		{"...", "xds", true},
		{"translate", "translate", true},
		{"translate", "translate/model", false},
		{"translate/...", "translate", true},
		{"translate/...", "translate/model/modeltest", true},
		{"translate/...", "translatex", false},
		{"ca/...", "cache", false},
		{"ca/...", "ca/store", true},
	} {
		if got := matchPattern(tc.pattern, tc.rel); got != tc.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tc.pattern, tc.rel, got, tc.want)
		}
	}
}

// TestLayerViolations proves the check can fail: each bad edge below must
// be reported, and each allowed one must not.
func TestLayerViolations(t *testing.T) {
	m := func(rel string) string { return modulePath + "/" + rel }
	for _, tc := range []struct {
		name string
		pkg  listedPackage
		want int
	}{
		{"generator imports xds", listedPackage{ImportPath: m("translate/sidecar"), Imports: []string{m("xds")}}, 1},
		{"generator reaches xds through a helper", listedPackage{ImportPath: m("translate/sidecar"), Imports: []string{m("internal/util")}, Deps: []string{m("internal/util"), m("xds")}}, 1},
		{"model imports a generator", listedPackage{ImportPath: m("translate/model"), Imports: []string{m("translate/grpcgen")}}, 1},
		{"model test imports the generator root", listedPackage{ImportPath: m("translate/model"), TestImports: []string{m("translate")}}, 1},
		{"discovery imports resource names", listedPackage{ImportPath: m("discovery/file"), Imports: []string{m("translate/resource")}}, 1},
		{"ca imports discovery and xds", listedPackage{ImportPath: m("ca"), Imports: []string{m("discovery/kube"), m("xds")}}, 2},
		{"xds imports cmd", listedPackage{ImportPath: m("xds"), Imports: []string{m("cmd/pilotlight")}}, 1},
		{"root imports e2e", listedPackage{ImportPath: modulePath, TestImports: []string{m("e2e")}}, 1},
		{"xds uses translate and ca", listedPackage{ImportPath: m("xds"), Imports: []string{m("translate"), m("ca"), m("translate/model")}}, 0},
		{"discovery imports a shared EDS builder", listedPackage{ImportPath: m("discovery/kube"), Imports: []string{m("translate/eds")}}, 1},
		{"model imports resource names", listedPackage{ImportPath: m("translate/model"), Imports: []string{m("translate/resource")}}, 1},
		{"discovery uses the model", listedPackage{ImportPath: m("discovery/file"), Imports: []string{m("translate/model"), m("translate/model/modeltest")}}, 0},
		{"model test helpers use the model", listedPackage{ImportPath: m("translate/model/modeltest"), Imports: []string{m("translate/model")}}, 0},
		{"cmd imports its own helpers", listedPackage{ImportPath: m("cmd/pilotlight"), Imports: []string{m("cmd/pilotlight/internal/table"), m("xds")}}, 0},
		{"outside packages are not judged", listedPackage{ImportPath: "example.com/x", Imports: []string{m("cmd/pilotlight")}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := layerViolations([]listedPackage{tc.pkg}, layerRules)
			if len(got) != tc.want {
				t.Errorf("got %d violations, want %d:\n%s", len(got), tc.want, strings.Join(got, "\n"))
			}
		})
	}
}
