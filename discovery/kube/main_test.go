package kube

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// Istio's fake clientset cannot stream lists (WatchListClient), and
	// unlike client-go's fakes it does not say so; reflectors would wait
	// ten seconds for a bookmark before falling back to a plain list.
	// Real API servers stream lists, so production keeps the default.
	if err := os.Setenv("KUBE_FEATURE_WatchListClient", "false"); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}
