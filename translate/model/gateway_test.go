package model_test

import (
	"slices"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
)

func names(cs []*model.Config) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Namespace+"/"+c.Name)
	}
	return out
}

func TestGatewaysForSelectsByLabelsInEveryNamespace(t *testing.T) {
	b := model.NewBuilder()
	gw := func(ns, name string, selector map[string]string) {
		b.AddConfig(&model.Config{Kind: model.KindGateway, Namespace: ns, Name: name,
			Spec: &networkingv1alpha3.Gateway{Selector: selector}})
	}
	gw("shop", "public", map[string]string{"istio": "ingressgateway"})
	gw("istio-system", "wide", map[string]string{"istio": "ingressgateway", "zone": "a"})
	gw("istio-system", "egress", map[string]string{"istio": "egressgateway"})
	gw("other", "all", nil)
	snap := b.Build()

	got := names(snap.GatewaysFor(map[string]string{"istio": "ingressgateway", "app": "x"}))
	want := []string{"other/all", "shop/public"}
	if !slices.Equal(got, want) {
		t.Errorf("GatewaysFor = %v, want %v", got, want)
	}
}

func TestVirtualServicesForGateway(t *testing.T) {
	b := model.NewBuilder()
	vs := func(ns, name string, gateways, exportTo []string) {
		b.AddConfig(&model.Config{Kind: model.KindVirtualService, Namespace: ns, Name: name,
			Spec: &networkingv1alpha3.VirtualService{Hosts: []string{"*"}, Gateways: gateways, ExportTo: exportTo}})
	}
	vs("shop", "short", []string{"public"}, nil)                                // shop/public
	vs("apps", "qualified", []string{"shop/public"}, nil)                       // shop/public
	vs("apps", "short-elsewhere", []string{"public"}, nil)                      // apps/public
	vs("apps", "private", []string{"shop/public"}, []string{"."})               // not visible from istio-system
	vs("apps", "exported", []string{"shop/public"}, []string{"istio-system"})   // visible
	vs("istio-system", "local", []string{"mesh", "shop/public"}, []string{"."}) // the router's namespace, first
	vs("apps", "mesh-only", nil, nil)                                           // bound to the mesh
	snap := b.Build()

	got := names(snap.VirtualServicesForGateway("shop/public", "istio-system"))
	want := []string{"istio-system/local", "apps/exported", "apps/qualified", "shop/short"}
	if !slices.Equal(got, want) {
		t.Errorf("VirtualServicesForGateway = %v, want %v", got, want)
	}
}
