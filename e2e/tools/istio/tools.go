//go:build tools

// Package tools names the commands this module builds, so that 'go mod tidy'
// keeps their dependencies. The e2e builder runs 'go build -o' on each.
package tools

import (
	_ "istio.io/istio/pilot/cmd/pilot-agent"
	_ "istio.io/istio/pilot/cmd/pilot-discovery"
)
