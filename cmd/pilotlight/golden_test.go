package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata with the current output")

// checkGolden compares got with testdata/NAME, or rewrites the file under
// -update. A reviewer reads the golden file's diff to see what changed.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'make update-golden' to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the output (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}

// runCommand runs pilotlight with args and returns what it wrote to
// standard output.
func runCommand(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.Execute()
	return out.Bytes(), err
}
