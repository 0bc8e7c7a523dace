package parity

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
)

// dump writes both sides' facts and resources under $PARITY_DUMP, if
// set: a difference's full context is there to read.
func dump(t *testing.T, proxy string, fromIstiod, fromPilotlight fetched, want, got facts) {
	t.Helper()
	dir := os.Getenv("PARITY_DUMP")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for side, v := range map[string]struct {
		f   fetched
		fct facts
	}{"istiod": {fromIstiod, want}, "pilotlight": {fromPilotlight, got}} {
		var facts, res strings.Builder
		for _, k := range slices.Sorted(maps.Keys(v.fct)) {
			fmt.Fprintf(&facts, "%s = %s\n", k, v.fct[k])
		}
		for _, typ := range slices.Sorted(maps.Keys(v.f.config.Resources)) {
			byName := v.f.config.Resources[typ]
			for _, name := range slices.Sorted(maps.Keys(byName)) {
				b, err := prototext.MarshalOptions{Multiline: true}.Marshal(byName[name])
				if err != nil {
					b = []byte(err.Error())
				}
				fmt.Fprintf(&res, "### %s %s\n%s\n", typeName(typ), name, b)
			}
		}
		base := filepath.Join(dir, proxy+"."+side)
		if err := os.WriteFile(base+".facts", []byte(facts.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(base+".resources.txt", []byte(res.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s: facts and resources of both sides in %s", proxy, dir)
}
