// Package analyze finds what pilotlight accepts but cannot (fully) carry
// out: references to hosts or subsets that do not exist, VirtualServices
// that conflict, and fields the generators leave out, for every proxy,
// for proxyless gRPC only or for plain Envoy without istio-agent only.
// Like the generators it is pure; its findings are warnings — the rest
// of the object is served — reported by `pilotlight analyze` and
// /debug/problemz.
//
// Each check here matches an omission in translate/networking or the
// generators; when a generator learns a field, its check goes.
package analyze

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/pilotlight/pilotlight/translate/model"
)

// Codes of analysis findings.
const (
	// CodeReferenceNotFound: a host or subset the config names does not exist.
	CodeReferenceNotFound = "PL0101"
	// CodeConflict: several configs claim the same thing; one wins.
	CodeConflict = "PL0109"
	// CodeNotTranslated: a field is accepted but not yet carried out.
	CodeNotTranslated = "PL0201"
	// CodeNotForGRPC: proxyless gRPC clients cannot carry out a field.
	CodeNotForGRPC = "PL0202"
	// CodeNeedsAgent: a field needs istio-agent, which a plain Envoy that
	// gets its workload certificate from pilotlight
	// (model.MetaWorkloadSDS) does not have.
	CodeNeedsAgent = "PL0203"
)

// Source is the Problem.Source of analysis findings.
const Source = "analysis"

// Run checks a snapshot and returns its findings sorted by object and
// field.
func Run(snap *model.Snapshot) []model.Problem {
	var out []model.Problem
	out = append(out, virtualServices(snap)...)
	out = append(out, destinationRules(snap)...)
	out = append(out, sidecars(snap)...)
	out = append(out, serviceEntries(snap)...)
	out = append(out, authorizationPolicies(snap)...)
	out = append(out, peerAuthentications(snap)...)
	out = append(out, requestAuthentications(snap)...)
	slices.SortFunc(out, func(a, b model.Problem) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace),
			cmp.Compare(a.Name, b.Name), cmp.Compare(a.Field, b.Field), cmp.Compare(a.Code, b.Code))
	})
	return slices.CompactFunc(out, func(a, b model.Problem) bool { return a == b })
}

// finding builds a warning about one field of one config.
func finding(c *model.Config, code, field, fix, format string, args ...any) model.Problem {
	return model.Problem{
		Source: Source, Index: -1, Kind: string(c.Kind), Namespace: c.Namespace, Name: c.Name,
		Field: field, Message: fmt.Sprintf(format, args...), Warning: true, Code: code, Fix: fix,
	}
}

// serviceEntries reports what proxyless clients cannot reach. A
// ServiceEntry with several hosts is reported once.
func serviceEntries(snap *model.Snapshot) []model.Problem {
	var out []model.Problem
	for _, svc := range snap.Services() {
		if svc.Origin == model.FromServiceEntry && svc.Resolution == model.Passthrough {
			c := &model.Config{Kind: model.KindServiceEntry, Namespace: svc.Namespace, Name: svc.Name}
			out = append(out, finding(c, CodeNotForGRPC, "spec.resolution", "",
				"resolution NONE forwards to the address the client dialled, which proxyless gRPC clients cannot do: they get no listener for it"))
		}
	}
	return out
}
