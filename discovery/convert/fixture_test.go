package convert

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	istioscheme "istio.io/client-go/pkg/clientset/versioned/scheme"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	kubescheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// fixtureDecoder decodes test fixtures strictly with the same schemes the
// file source uses, so a typo in a fixture fails the test instead of
// silently testing less.
var fixtureDecoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	utilruntime.Must(kubescheme.AddToScheme(s))
	utilruntime.Must(istioscheme.AddToScheme(s))
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}()

// loadFixture returns the objects of a multi-document YAML file in testdata.
func loadFixture(t *testing.T, name string) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r := yamlutil.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if js, err := yaml.YAMLToJSON(doc); err != nil || string(js) == "null" {
			continue
		}
		obj, _, err := fixtureDecoder.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, obj)
	}
	return out
}

// storeOf loads fixtures into a new Store.
func storeOf(t *testing.T, names ...string) *Store {
	t.Helper()
	s := NewStore()
	for _, name := range names {
		for _, obj := range loadFixture(t, name) {
			if err := s.Set(obj); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	return s
}
