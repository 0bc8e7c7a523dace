package netns

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

func name(pid int) string {
	return fmt.Sprintf("%s%05s%02s", Prefix, strconv.FormatInt(int64(pid), 36), "1")
}

func TestOrphan(t *testing.T) {
	mine := name(os.Getpid())
	if len(mine) != len(Prefix)+7 {
		t.Fatalf("id %q is not fixed-width", mine)
	}
	// PIDs above the kernel's pid_max (4194304 at most) never exist.
	const gone = 4194305
	for _, tc := range []struct {
		name string
		want bool
	}{
		{mine + "b", false},
		{mine + "-2", false},
		{name(gone) + "b", true},
		{name(gone) + "h2", true},
		{name(gone) + "-2", true},
		{"eth0", false},
		{"plt", false},
		{"pltbridge", false},
	} {
		if got := orphan(tc.name); got != tc.want {
			t.Errorf("orphan(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
