package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/pilotlight/pilotlight/translate/model"
)

func TestAnalyze(t *testing.T) {
	for _, tc := range []struct {
		dir      string
		wantExit int
	}{
		{"good", 0},
		{"bad", 1},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			out, err := runCommand(t, "analyze", "-f", "testdata/analyze/"+tc.dir)
			checkGolden(t, "analyze/"+tc.dir+".txt", out)
			var exit exitError
			switch {
			case tc.wantExit == 0 && err != nil:
				t.Errorf("analyze failed: %v", err)
			case tc.wantExit != 0 && (!errors.As(err, &exit) || exit.code != tc.wantExit):
				t.Errorf("error = %v, want exit status %d", err, tc.wantExit)
			}
		})
	}
}

func TestAnalyzeMissingDirectory(t *testing.T) {
	_, err := runCommand(t, "analyze", "-f", "testdata/analyze/no-such-dir")
	if err == nil || !strings.Contains(err.Error(), "no-such-dir") {
		t.Errorf("error = %v, want one naming the directory", err)
	}
}

// TestReportProblems pins the exit status rule: warnings alone pass.
func TestReportProblems(t *testing.T) {
	warning := model.Problem{Source: "a.yaml", Index: 0, Kind: "DestinationRule", Name: "x", Message: "m", Warning: true}
	bad := model.Problem{Source: "a.yaml", Index: 1, Kind: "VirtualService", Name: "y", Message: "m"}
	for _, tc := range []struct {
		name     string
		problems []model.Problem
		fail     bool
	}{
		{"none", nil, false},
		{"warnings only", []model.Problem{warning}, false},
		{"an error", []model.Problem{warning, bad}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := reportProblems(&out, "dir", nil, tc.problems)
			if (err != nil) != tc.fail {
				t.Errorf("error = %v, want failure %v\n%s", err, tc.fail, out.String())
			}
			if got := strings.Count(out.String(), "a.yaml"); got != len(tc.problems) {
				t.Errorf("printed %d problems, want %d:\n%s", got, len(tc.problems), out.String())
			}
		})
	}
}
