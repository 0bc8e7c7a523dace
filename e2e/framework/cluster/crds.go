package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
)

// IstioModule is the istio.io/istio version whose CRDs the tests install:
// the same Istio as the pilot-agent and istiod of shared/TESTBED.md.
const IstioModule = "istio.io/istio@v0.0.0-20260827124520-eed52ebb66ad"

// istioCRDFile is where the module keeps every CRD, without Helm
// templating.
const istioCRDFile = "manifests/charts/base/files/crd-all.gen.yaml"

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InstallIstioCRDs creates Istio's CRDs of the given API groups (all of
// them when none are given) and waits until the API server serves them.
func (c *Cluster) InstallIstioCRDs(t testing.TB, groups ...string) {
	t.Helper()
	crds, err := istioCRDs()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, crd := range crds {
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		if len(groups) > 0 && !slices.Contains(groups, group) {
			continue
		}
		ctx, cancel := apiCtx()
		_, err := c.Dynamic.Resource(crdGVR).Create(ctx, crd.DeepCopy(), metav1.CreateOptions{})
		cancel()
		if err != nil {
			t.Fatalf("create CRD %s: %v", crd.GetName(), err)
		}
		names = append(names, crd.GetName())
	}
	if len(names) == 0 {
		t.Fatalf("no Istio CRD in groups %v", groups)
	}
	for _, name := range names {
		wait.For(t, wait.Short, "CRD "+name+" to be established", func() error {
			return c.crdEstablished(name)
		})
	}
}

func (c *Cluster) crdEstablished(name string) error {
	ctx, cancel := apiCtx()
	defer cancel()
	crd, err := c.Dynamic.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, cond := range conds {
		m, _ := cond.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return nil
		}
	}
	return errors.New("not established yet")
}

var (
	crdsOnce sync.Once
	crdsList []*unstructured.Unstructured
	crdsErr  error
)

// istioCRDs reads the CRDs from the istio.io/istio module, downloading it
// into the module cache if needed. The file is read where it is, never
// copied into the repository, and parsed once per test process.
func istioCRDs() ([]*unstructured.Unstructured, error) {
	crdsOnce.Do(func() {
		var dir string
		dir, crdsErr = istioModuleDir()
		if crdsErr != nil {
			return
		}
		path := filepath.Join(dir, istioCRDFile)
		var b []byte
		if b, crdsErr = os.ReadFile(path); crdsErr != nil {
			return
		}
		crdsList, crdsErr = decodeAll(b)
		if crdsErr != nil {
			crdsErr = fmt.Errorf("%s: %w", path, crdsErr)
		}
	})
	return crdsList, crdsErr
}

// istioModuleDir asks the go command where the module is, from inside the
// kube tool module so the e2e module's go.mod is neither read nor changed.
func istioModuleDir() (string, error) {
	l, err := build.Locate()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(context.Background(), "go", "mod", "download", "-json", IstioModule)
	cmd.Dir = filepath.Join(l.E2E, "tools", "kube")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jsonErr := json.Unmarshal(out, &info); jsonErr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", IstioModule, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", IstioModule, err, strings.TrimSpace(stderr.String()))
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no directory in %s", IstioModule, out)
	}
	return info.Dir, nil
}

// decodeAll decodes a multi-document YAML stream into objects, skipping
// empty documents.
func decodeAll(b []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var objs []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(obj) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: obj})
	}
}
