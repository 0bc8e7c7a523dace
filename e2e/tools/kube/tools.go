//go:build tools

// Package tools names the commands this module builds, so that 'go mod tidy'
// keeps their dependencies. The e2e builder runs 'go build -o' on each.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
