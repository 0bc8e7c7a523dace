package parity

import (
	"fmt"
	"regexp"
	"strings"
)

// diffKind is which side of a difference has the setting.
type diffKind int

const (
	onlyIstiod diffKind = iota
	onlyPilotlight
	differs
	// anyKind, in an allowance, accepts all three.
	anyKind
)

func (k diffKind) String() string {
	return [...]string{"only istiod", "only pilotlight", "values differ", "any"}[k]
}

// allowance is a known, justified difference: every difference it
// matches is accepted. One that matches nothing fails the test, so the
// list only ever shrinks to what is true.
type allowance struct {
	// proxy is "sidecar" or "gateway", or empty for both.
	proxy string
	// key is a regular expression that must match a whole fact key.
	key string
	// kind is which side has the setting.
	kind diffKind
	// why says what differs and why that is acceptable.
	why string
}

func (a allowance) matches(d difference) bool {
	return (a.proxy == "" || a.proxy == d.proxy) && (a.kind == anyKind || a.kind == d.kind()) && regexp.MustCompile("^(?:"+a.key+")$").MatchString(d.key)
}

// judged are the differences of one comparison sorted by the allowance
// that accepts them.
type judged struct {
	// accepted[i] are the differences allowances[i] accepts.
	accepted [][]difference
	// unexplained are the differences no allowance accepts.
	unexplained []difference
}

// judge sorts differences by the first allowance that accepts each.
func judge(diffs []difference, allowances []allowance) judged {
	j := judged{accepted: make([][]difference, len(allowances))}
	for _, d := range diffs {
		found := false
		for i, a := range allowances {
			if a.matches(d) {
				j.accepted[i] = append(j.accepted[i], d)
				found = true
				break
			}
		}
		if !found {
			j.unexplained = append(j.unexplained, d)
		}
	}
	return j
}

// report lists the differences, each with both sides, for a failure
// message.
func report(diffs []difference) string {
	var b strings.Builder
	for _, d := range diffs {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	return b.String()
}
