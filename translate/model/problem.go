package model

import (
	"fmt"
	"strings"
)

// Problem is one input object pilotlight could not use, or used only in
// part. Problems are reported (logs, /debug/problemz, metrics, analyze);
// they never stop the rest of the mesh from being served.
type Problem struct {
	// Source is where the object came from: a file path, or "kubernetes".
	Source string `json:"source"`
	// Index is the document's position in a multi-document file, from 0;
	// -1 when it does not apply.
	Index     int    `json:"index"`
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	// Field is the offending field path, when known (spec.http[0].route).
	Field string `json:"field,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Warning problems are served anyway; errors mean the object (or its
	// new version) was rejected and the last good version, if any, stays.
	Warning bool `json:"warning,omitempty"`
	// Code names the kind of problem for analysis findings (e.g.
	// PL0101), stable across releases so tools can filter on it.
	Code string `json:"code,omitempty"`
	// Fix suggests what to change, when there is an obvious remedy.
	Fix string `json:"fix,omitempty"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Code != "" {
		b.WriteString("[" + p.Code + "] ")
	}
	b.WriteString(p.Source)
	if p.Index >= 0 {
		fmt.Fprintf(&b, " document %d", p.Index)
	}
	if p.Kind != "" {
		fmt.Fprintf(&b, " %s", p.Kind)
		if p.Name != "" {
			b.WriteString(" ")
			if p.Namespace != "" {
				b.WriteString(p.Namespace + "/")
			}
			b.WriteString(p.Name)
		}
	}
	if p.Field != "" {
		fmt.Fprintf(&b, " field %s", p.Field)
	}
	b.WriteString(": " + p.Message)
	if p.Fix != "" {
		b.WriteString(" (fix: " + p.Fix + ")")
	}
	return b.String()
}
