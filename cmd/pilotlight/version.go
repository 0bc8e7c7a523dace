package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, _ := debug.ReadBuildInfo()
			writeVersion(cmd.OutOrStdout(), info)
			return nil
		},
	}
}

// writeVersion prints what the Go toolchain stamped into the binary: the
// module version (a tag, a pseudo-version, or "(devel)" for a local
// build) and, when built from a git checkout, the commit.
func writeVersion(w io.Writer, info *debug.BuildInfo) {
	version, goVersion := "unknown", runtime.Version()
	var revision, when, modified string
	if info != nil {
		version = info.Main.Version
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
	}
	fmt.Fprintf(w, "pilotlight %s\n", version)
	if revision != "" {
		dirty := ""
		if modified == "true" {
			dirty = " (modified)"
		}
		fmt.Fprintf(w, "commit     %s%s %s\n", revision, dirty, when)
	}
	fmt.Fprintf(w, "go         %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
}
