package kube

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pilotlight/pilotlight/translate/model"
)

func wantTrustDomain(want string) func(published) error {
	return func(p published) error {
		if got := p.snap.Mesh().GetTrustDomain(); got != want {
			return fmt.Errorf("trust domain = %q, want %q", got, want)
		}
		return nil
	}
}

// TestMeshConfigMap: the mesh settings follow ConfigMap istio-system/istio
// key "mesh"; a broken version is a problem and the last good settings
// stay; a deleted ConfigMap means Istio's defaults.
func TestMeshConfigMap(t *testing.T) {
	e := newEnv(t, nil,
		meshConfigMap("istio-system", "trustDomain: first.example\n"),
		// Only the control plane's ConfigMap counts.
		meshConfigMap("elsewhere", "trustDomain: wrong.example\n"),
	)
	e.start()
	if err := wantTrustDomain("first.example")(e.next()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	cms := e.kube.CoreV1().ConfigMaps("istio-system")

	if _, err := cms.Update(ctx, meshConfigMap("istio-system", "trustDomain: second.example\n"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.until("changed mesh config", wantTrustDomain("second.example"))

	if _, err := cms.Update(ctx, meshConfigMap("istio-system", "trustDomain: [not, a, string]\n"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := e.until("broken mesh config reported", func(p published) error {
		if len(p.problems) != 1 {
			return fmt.Errorf("problems = %v, want one", p.problems)
		}
		return nil
	})
	prob := p.problems[0]
	if prob.Source != ProblemSource || prob.Kind != "ConfigMap" || prob.Namespace != "istio-system" || prob.Name != "istio" ||
		prob.Field != "data.mesh" || !strings.Contains(prob.Message, "last good mesh config stays") {
		t.Errorf("problem = %+v", prob)
	}
	if err := wantTrustDomain("second.example")(p); err != nil {
		t.Errorf("after a broken update: %v", err)
	}

	noKey := meshConfigMap("istio-system", "")
	noKey.Data = map[string]string{"meshNetworks": "networks: {}"}
	if _, err := cms.Update(ctx, noKey, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p = e.until("ConfigMap without the mesh key reported", func(p published) error {
		if len(p.problems) != 1 || !strings.Contains(p.problems[0].Message, `no key "mesh"`) {
			return fmt.Errorf("problems = %v, want one about the missing key", p.problems)
		}
		return nil
	})
	if err := wantTrustDomain("second.example")(p); err != nil {
		t.Errorf("after losing the key: %v", err)
	}

	if err := cms.Delete(ctx, "istio", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.until("deleted ConfigMap means defaults", func(p published) error {
		if len(p.problems) != 0 {
			return fmt.Errorf("problems = %v, want none", p.problems)
		}
		return wantTrustDomain(model.DefaultMeshConfig().GetTrustDomain())(p)
	})
}

// TestMeshConfigFileWins: with a mesh config from --mesh-config, the
// ConfigMap is not even watched.
func TestMeshConfigFileWins(t *testing.T) {
	mesh, err := model.ParseMeshConfig([]byte("trustDomain: file.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.Mesh = mesh }, meshConfigMap("istio-system", "trustDomain: configmap.example\n"))
	e.start()
	if err := wantTrustDomain("file.example")(e.next()); err != nil {
		t.Fatal(err)
	}
	for _, a := range e.kube.Actions() {
		if a.GetResource().Resource == "configmaps" {
			t.Errorf("ConfigMaps read (%s) although the mesh config came from a file", a.GetVerb())
		}
	}
}
