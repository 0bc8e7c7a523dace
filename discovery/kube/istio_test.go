package kube

import (
	"fmt"
	"strings"
	"testing"
	"time"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pilotlight/pilotlight/translate/model"
)

// vsTimeout returns the route timeout of VirtualService demo/web, or an
// error if the Snapshot does not hold it.
func vsTimeout(s *model.Snapshot) (time.Duration, error) {
	cfg := s.Config(model.ConfigKey{Kind: model.KindVirtualService, Namespace: "demo", Name: "web"})
	if cfg == nil {
		return 0, fmt.Errorf("VirtualService demo/web not in the Snapshot")
	}
	return cfg.Spec.(*networkingv1alpha3.VirtualService).GetHttp()[0].GetTimeout().AsDuration(), nil
}

func wantTimeout(want time.Duration) func(published) error {
	return func(p published) error {
		got, err := vsTimeout(p.snap)
		if err == nil && got != want {
			err = fmt.Errorf("timeout = %v, want %v", got, want)
		}
		return err
	}
}

// TestIstioObjects: Istio objects are added, updated and deleted with
// their informer events; an invalid version is reported with Source
// "kubernetes" and the last good one stays served; a valid version clears
// the problem.
func TestIstioObjects(t *testing.T) {
	e := newEnv(t, nil, virtualService("demo", "web", "web", time.Second))
	e.start()
	if err := wantTimeout(time.Second)(e.next()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	vss := e.istio.NetworkingV1().VirtualServices("demo")
	drs := e.istio.NetworkingV1().DestinationRules("demo")

	if _, err := vss.Update(ctx, virtualService("demo", "web", "web", 2*time.Second), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.until("updated VirtualService", wantTimeout(2*time.Second))

	// The API server's CRD schema lets a duplicate subset name through;
	// validation does not.
	if _, err := drs.Create(ctx, destinationRule("demo", "web", "web", "v1", "v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := e.until("invalid new DestinationRule reported", func(p published) error {
		if len(p.problems) != 1 {
			return fmt.Errorf("problems = %v, want one", p.problems)
		}
		return nil
	})
	prob := p.problems[0]
	if prob.Source != ProblemSource || prob.Kind != "DestinationRule" || prob.Namespace != "demo" || prob.Name != "web" ||
		prob.Field == "" || prob.Warning || strings.Contains(prob.Message, "last good") {
		t.Errorf("problem = %+v, want an error naming DestinationRule demo/web and its field, with no last good version", prob)
	}
	if p.snap.Config(model.ConfigKey{Kind: model.KindDestinationRule, Namespace: "demo", Name: "web"}) != nil {
		t.Error("an invalid DestinationRule with no good version is served")
	}

	if _, err := drs.Update(ctx, destinationRule("demo", "web", "web", "v1", "v2"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p = e.until("fixed DestinationRule served", func(p published) error {
		if len(p.problems) != 0 {
			return fmt.Errorf("problems = %v, want none", p.problems)
		}
		if p.snap.Config(model.ConfigKey{Kind: model.KindDestinationRule, Namespace: "demo", Name: "web"}) == nil {
			return fmt.Errorf("DestinationRule demo/web not served")
		}
		return nil
	})

	if _, err := drs.Update(ctx, destinationRule("demo", "web", "web", "v2", "v2"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p = e.until("invalid update reported", func(p published) error {
		if len(p.problems) != 1 {
			return fmt.Errorf("problems = %v, want one", p.problems)
		}
		return nil
	})
	if !strings.Contains(p.problems[0].Message, "the last good version stays served") {
		t.Errorf("problem = %q, want it to say the last good version stays", p.problems[0].Message)
	}
	dr := p.snap.Config(model.ConfigKey{Kind: model.KindDestinationRule, Namespace: "demo", Name: "web"})
	if dr == nil || dr.Spec.(*networkingv1alpha3.DestinationRule).GetSubsets()[0].GetName() != "v1" {
		t.Errorf("DestinationRule served after an invalid update = %v, want the last good one (subsets v1, v2)", dr)
	}
	if got := e.logs.FilterMessage("config problem").Len(); got != 2 {
		t.Errorf("%d config problem log lines, want one per new problem (2)", got)
	}

	if err := drs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := vss.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.until("deleted objects gone with their problems", func(p published) error {
		if _, _, configs := p.snap.Counts(); configs != 0 || len(p.problems) != 0 {
			return fmt.Errorf("%d configs and problems %v, want none", configs, p.problems)
		}
		return nil
	})
}

// TestMissingCRD: a cluster without security.istio.io is served, with one
// warning; when the CRDs are installed their informers start and their
// objects are served.
func TestMissingCRD(t *testing.T) {
	e := newEnv(t, nil, authorizationPolicy("demo", "allow-all"), virtualService("demo", "web", "web", time.Second))
	e.disc.remove("security.istio.io")
	e.start()
	p := e.next()
	if _, err := vsTimeout(p.snap); err != nil {
		t.Errorf("networking objects not served while security CRDs are missing: %v", err)
	}
	if got := p.snap.Configs(model.KindAuthorizationPolicy); len(got) != 0 {
		t.Errorf("AuthorizationPolicies served without their CRD: %v", got)
	}
	e.quiet(200 * time.Millisecond) // several CRD polls
	warnings := e.logs.FilterMessageSnippet("Istio CRDs missing")
	if warnings.Len() != 1 {
		t.Fatalf("%d warnings about missing CRDs, want 1", warnings.Len())
	}
	if crds := fmt.Sprint(warnings.All()[0].ContextMap()["crds"]); !strings.Contains(crds, "authorizationpolicies.security.istio.io") ||
		strings.Contains(crds, "networking") {
		t.Errorf("warning names %s, want exactly the security.istio.io CRDs", crds)
	}

	for _, k := range istioKinds {
		e.disc.add(k.gvr)
	}
	e.until("AuthorizationPolicy served once its CRD exists", func(p published) error {
		if got := p.snap.Configs(model.KindAuthorizationPolicy); len(got) != 1 {
			return fmt.Errorf("AuthorizationPolicies = %v, want allow-all", got)
		}
		return nil
	})
}
