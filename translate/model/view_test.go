package model

import (
	"reflect"
	"testing"
)

// Key hashes a view's JSON form; a field JSON cannot see (unexported, or
// tagged "-") would let proxies that differ in it share config. This test
// fails when such a field is added.
func TestViewFieldsAreAllHashed(t *testing.T) {
	for _, v := range []any{OutboundView{}, InboundView{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "-" {
				t.Errorf("%s.%s is not part of the view key", typ.Name(), f.Name)
			}
		}
	}
}

func TestViewKeysSeparateProxies(t *testing.T) {
	base := &Proxy{Type: SidecarProxy, Namespace: "a", IPAddresses: []string{"10.0.0.1"}, ServiceAccount: "sa", Labels: map[string]string{"app": "x"}}
	variants := map[string]*Proxy{
		"namespace":       {Type: SidecarProxy, Namespace: "b", IPAddresses: []string{"10.0.0.1"}, ServiceAccount: "sa", Labels: map[string]string{"app": "x"}},
		"type":            {Type: Router, Namespace: "a", IPAddresses: []string{"10.0.0.1"}, ServiceAccount: "sa", Labels: map[string]string{"app": "x"}},
		"generator":       {Type: SidecarProxy, Generator: GeneratorGRPC, Namespace: "a", IPAddresses: []string{"10.0.0.1"}, ServiceAccount: "sa", Labels: map[string]string{"app": "x"}},
		"service account": {Type: SidecarProxy, Namespace: "a", IPAddresses: []string{"10.0.0.1"}, ServiceAccount: "other", Labels: map[string]string{"app": "x"}},
		"labels":          {Type: SidecarProxy, Namespace: "a", IPAddresses: []string{"10.0.0.1"}, ServiceAccount: "sa", Labels: map[string]string{"app": "y"}},
		"address":         {Type: SidecarProxy, Namespace: "a", IPAddresses: []string{"10.0.0.2"}, ServiceAccount: "sa", Labels: map[string]string{"app": "x"}},
		"workload SDS":    {Type: SidecarProxy, WorkloadSDS: true, Namespace: "a", IPAddresses: []string{"10.0.0.1"}, ServiceAccount: "sa", Labels: map[string]string{"app": "x"}},
	}
	bo, bi := ViewsOf(base)
	for what, p := range variants {
		o, i := ViewsOf(p)
		if bi.Key() == i.Key() {
			t.Errorf("proxies differing in %s share an inbound view", what)
		}
		// Labels are in the outbound view; translate.OutboundScope narrows
		// them to the keys selectors read, which is where sidecars that
		// differ in other labels come to share.
		outboundMayShare := what == "service account" || what == "address"
		if (bo.Key() == o.Key()) != outboundMayShare {
			t.Errorf("proxies differing in %s: outbound shared = %v, want %v", what, bo.Key() == o.Key(), outboundMayShare)
		}
	}
	// Proxyless gRPC reads no SDS: the opt-in does not split its views.
	grpc := &Proxy{Type: SidecarProxy, Generator: GeneratorGRPC, Namespace: "a", IPAddresses: []string{"10.0.0.1"}, ServiceAccount: "sa"}
	grpcOptedIn := *grpc
	grpcOptedIn.WorkloadSDS = true
	go1, gi1 := ViewsOf(grpc)
	go2, gi2 := ViewsOf(&grpcOptedIn)
	if go1.Key() != go2.Key() || gi1.Key() != gi2.Key() {
		t.Error("proxyless views differ by the workload SDS opt-in, which they never read")
	}
	same := *base
	same.ID, same.PodName = "other-id", "other-pod"
	o, i := ViewsOf(&same)
	if o.Key() != bo.Key() || i.Key() != bi.Key() {
		t.Error("proxies with the same view must share")
	}
}
