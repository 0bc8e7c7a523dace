package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

func TestWriteVersion(t *testing.T) {
	info := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/pilotlight/pilotlight", Version: "v0.1.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2026-11-21T12:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	var out bytes.Buffer
	writeVersion(&out, info)
	for _, want := range []string{"pilotlight v0.1.0\n", "commit     0123abcd (modified) 2026-11-21T12:00:00Z\n", "go         go1.26.8 "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	writeVersion(&out, nil)
	if !strings.HasPrefix(out.String(), "pilotlight unknown\n") || strings.Contains(out.String(), "commit") {
		t.Errorf("without build info:\n%s", out.String())
	}
}
