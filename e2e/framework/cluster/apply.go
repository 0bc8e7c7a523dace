package cluster

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// fieldManager owns the fields the harness applies.
const fieldManager = "pilotlight-e2e"

// ApplyFile applies every object of a YAML file, like 'kubectl apply
// --server-side -f FILE -n NAMESPACE': namespaced objects without a
// namespace go into namespace.
func (c *Cluster) ApplyFile(t testing.TB, namespace, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(t, namespace, b)
}

// Apply applies every object of a YAML stream with server-side apply, so
// that applying twice is harmless and an object's kind needs no Go type.
func (c *Cluster) Apply(t testing.TB, namespace string, yaml []byte) {
	t.Helper()
	objs, err := decodeAll(yaml)
	if err != nil {
		t.Fatal(err)
	}
	// Discovery is read fresh: CRDs installed a moment ago must resolve.
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Kube.Discovery()))
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("apply %s %s: %v", gvk.Kind, obj.GetName(), err)
		}
		res := c.Dynamic.Resource(m.Resource)
		var client dynamic.ResourceInterface = res
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if obj.GetNamespace() == "" {
				obj.SetNamespace(namespace)
			}
			client = res.Namespace(obj.GetNamespace())
		}
		data, err := json.Marshal(obj.Object)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := apiCtx()
		_, err = client.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: fieldManager, Force: new(true)})
		cancel()
		if err != nil {
			t.Fatalf("apply %s %s: %v", gvk.Kind, describe(obj.GetNamespace(), obj.GetName()), err)
		}
	}
}

func describe(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return fmt.Sprintf("%s/%s", namespace, name)
}
