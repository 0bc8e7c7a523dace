package parity

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
)

// facts are a proxy's configuration reduced to what Envoy does with it.
// Each key names one setting by where it acts, never by what a control
// plane chose to call it: a listener by its address, a filter chain by
// what it matches, a route table by the listener chain that uses it, a
// virtual host by its service's host, a route by its position, a cluster
// by Istio's cluster name (a protocol name: routes and EDS refer to it).
// Each value says what the setting is.
type facts map[string]string

// absent stands for a setting one side does not have.
const absent = "∅"

// add records a fact. A key seen before (two chains that match the same
// connections, say) gets a number, so nothing is overwritten.
func (f facts) add(key, value string) {
	if _, dup := f[key]; dup {
		for i := 2; ; i++ {
			k := fmt.Sprintf("%s #%d", key, i)
			if _, dup := f[k]; !dup {
				key = k
				break
			}
		}
	}
	f[key] = value
}

// fields records one fact per populated field of m, keyed PREFIX .FIELD,
// except the fields named in handled (the caller records those itself)
// and the skipped ones (names, stats, metadata).
func (f facts) fields(prefix string, m proto.Message, handled ...string) {
	r := m.ProtoReflect()
	for _, fd := range populated(r) {
		if slices.Contains(handled, string(fd.Name())) {
			continue
		}
		var b strings.Builder
		writeField(&b, fd, r.Get(fd))
		f.add(prefix+" ."+string(fd.Name()), b.String())
	}
}

// difference is a setting the two control planes do not agree on.
type difference struct {
	proxy, key         string
	istiod, pilotlight string
}

// kind says which side has the setting.
func (d difference) kind() diffKind {
	switch {
	case d.pilotlight == absent:
		return onlyIstiod
	case d.istiod == absent:
		return onlyPilotlight
	default:
		return differs
	}
}

func (d difference) String() string {
	return fmt.Sprintf("%s: %s\n    istiod:     %s\n    pilotlight: %s", d.proxy, d.key, d.istiod, d.pilotlight)
}

// compare lists the settings where the facts differ, sorted by key.
func compare(proxy string, istiod, pilotlight facts) []difference {
	keys := map[string]bool{}
	for k := range istiod {
		keys[k] = true
	}
	for k := range pilotlight {
		keys[k] = true
	}
	var out []difference
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		i, iok := istiod[k]
		p, pok := pilotlight[k]
		if iok && pok && i == p {
			continue
		}
		if !iok {
			i = absent
		}
		if !pok {
			p = absent
		}
		out = append(out, difference{proxy: proxy, key: k, istiod: i, pilotlight: p})
	}
	return out
}
