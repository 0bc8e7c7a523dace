package model_test

import (
	"testing"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/model/modeltest"
)

// BenchmarkSnapshotBuild indexes and hashes 1,000 services with 10,000
// endpoints: the cost of every discovery update at that size.
func BenchmarkSnapshotBuild(b *testing.B) {
	m := modeltest.Mesh{Namespaces: 10, Services: 1000, Endpoints: 10}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		builder := m.Builder()
		b.StartTimer()
		builder.Build()
	}
}

func BenchmarkDiff(b *testing.B) {
	m := modeltest.Mesh{Namespaces: 10, Services: 1000, Endpoints: 10}
	old := m.Build()
	builder := m.Builder()
	builder.AddEndpoints(&model.Endpoint{ServiceHostname: modeltest.Hostname("svc-5", modeltest.NamespaceName(5)), ServicePortName: "http", Address: "10.250.0.1", Port: 8080})
	cur := builder.Build()
	b.ReportAllocs()
	for b.Loop() {
		model.DiffSnapshots(old, cur)
	}
}
