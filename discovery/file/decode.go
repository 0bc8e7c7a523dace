package file

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"google.golang.org/protobuf/encoding/protojson"
	istioscheme "istio.io/client-go/pkg/clientset/versioned/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	serializerjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kubescheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/discovery/convert"
	"github.com/pilotlight/pilotlight/discovery/validate"
	"github.com/pilotlight/pilotlight/translate/model"
)

// scheme knows every Kubernetes and Istio type that client-go does, so a
// document is decoded into exactly the type an informer would deliver.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(kubescheme.AddToScheme(s))
	utilruntime.Must(istioscheme.AddToScheme(s))
	return s
}()

// strictJSON rejects unknown and duplicate fields. Documents reach it as
// JSON: the YAML step before it is strict on its own.
var strictJSON = serializerjson.NewSerializerWithOptions(
	serializerjson.DefaultMetaFactory, scheme, scheme,
	serializerjson.SerializerOptions{Strict: true},
)

// document is one YAML document of a file.
type document struct {
	// index counts the non-empty documents of the file from 0.
	index int
	// line is where the document starts, from 1.
	line int
	data []byte
}

// splitDocuments cuts a file at its "---" lines and drops documents that
// hold only blanks and comments, so that index counts objects the way a
// reader does.
func splitDocuments(data []byte) []document {
	var out []document
	start, startLine := 0, 1
	flush := func(end int) {
		if d := data[start:end]; !blank(d) {
			out = append(out, document{index: len(out), line: startLine, data: d})
		}
	}
	line := 1
	for pos := 0; pos < len(data); line++ {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		if isSeparator(data[pos:next]) {
			flush(pos)
			start, startLine = next, line+1
		}
		pos = next
	}
	flush(len(data))
	return out
}

func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	return ok && len(bytes.TrimSpace(rest)) == 0
}

func blank(doc []byte) bool {
	for l := range bytes.Lines(doc) {
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}

// item is one object found in a document (a List document holds several).
type item struct {
	// identified is set when the object's kind, namespace and name are
	// known, even if its body was rejected.
	identified bool
	// ignored is set for objects of kinds pilotlight does not use.
	ignored bool
	key     convert.Key
	// obj is the decoded, validated object; nil when it was rejected.
	obj      runtime.Object
	problems []model.Problem
}

// head is the part of an object that identifies it, read leniently so that
// an object whose body is wrong can still be named.
type head struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// decodeDocument turns one document into its objects.
func decodeDocument(source string, doc document) []item {
	fail := func(format string, args ...any) []item {
		return []item{{problems: []model.Problem{{Source: source, Index: doc.index, Message: fmt.Sprintf(format, args...)}}}}
	}
	// A document that is valid YAML but not strictly so (a key set twice)
	// can still be named, so its object is rejected by name and keeps its
	// last good version; only YAML that does not parse at all is anonymous.
	var strictErr string
	js, err := yaml.YAMLToJSONStrict(doc.data)
	if err != nil {
		strictErr = "invalid YAML: " + oneLine(absoluteLines(err.Error(), doc.line))
		if js, err = yaml.YAMLToJSON(doc.data); err != nil {
			return fail("invalid YAML in the document starting at line %d: %s", doc.line, oneLine(absoluteLines(err.Error(), doc.line)))
		}
	}
	if string(js) == "null" {
		return nil
	}
	var h head
	if err := json.Unmarshal(js, &h); err != nil {
		return fail("not a Kubernetes object (document starting at line %d): %v", doc.line, err)
	}
	if h.Kind != "List" {
		return []item{redactSecret(decodeObject(source, doc.index, "", js, h, strictErr), js)}
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &list); err != nil {
		return fail("invalid List: %v", err)
	}
	var out []item
	for i, raw := range list.Items {
		prefix := "items[" + strconv.Itoa(i) + "]"
		var ih head
		if err := json.Unmarshal(raw, &ih); err != nil {
			out = append(out, item{problems: []model.Problem{{Source: source, Index: doc.index, Field: prefix, Message: "not a Kubernetes object: " + err.Error()}}})
			continue
		}
		if ih.Kind == "List" {
			out = append(out, item{problems: []model.Problem{{Source: source, Index: doc.index, Field: prefix, Message: "a List inside a List is not supported"}}})
			continue
		}
		out = append(out, redactSecret(decodeObject(source, doc.index, prefix, raw, ih, strictErr), raw))
	}
	return out
}

// decodeObject decodes, defaults and validates one object. prefix is the
// object's path inside its document ("items[2]" in a List), prepended to
// every problem's field; yamlErr, when set, rejects the object once it is
// identified.
func decodeObject(source string, index int, prefix string, js []byte, h head, yamlErr string) item {
	problem := func(p model.Problem) model.Problem {
		p.Source, p.Index = source, index
		p.Field = joinField(prefix, p.Field)
		return p
	}
	unidentified := func(fieldPath, format string, args ...any) item {
		return item{problems: []model.Problem{problem(model.Problem{
			Kind: h.Kind, Namespace: h.Metadata.Namespace, Name: h.Metadata.Name,
			Field: fieldPath, Message: fmt.Sprintf(format, args...),
		})}}
	}
	if h.APIVersion == "" || h.Kind == "" {
		return unidentified("", "apiVersion and kind are required")
	}
	gv, err := schema.ParseGroupVersion(h.APIVersion)
	if err != nil {
		return unidentified("apiVersion", "%v", err)
	}
	gvk := gv.WithKind(h.Kind)
	kind, ok := convert.KindForGroupKind(gvk.GroupKind())
	if !ok {
		return item{ignored: true, problems: []model.Problem{problem(model.Problem{
			Kind: h.Kind, Namespace: h.Metadata.Namespace, Name: h.Metadata.Name, Warning: true,
			Message: fmt.Sprintf("kind %s of %s is not used by pilotlight; ignored", h.Kind, h.APIVersion),
		})}}
	}
	if h.Metadata.Name == "" {
		return unidentified("metadata.name", "name is required")
	}
	key := convert.Key{Kind: kind, Namespace: h.Metadata.Namespace, Name: h.Metadata.Name}
	switch {
	case kind.ClusterScoped():
		key.Namespace = ""
	case key.Namespace == "":
		key.Namespace = metav1.NamespaceDefault
	}
	it := item{identified: true, key: key}
	reject := func(fieldPath, msg string) item {
		it.problems = append(it.problems, problem(model.Problem{
			Kind: string(kind), Namespace: key.Namespace, Name: key.Name, Field: fieldPath, Message: msg,
		}))
		return it
	}

	if yamlErr != "" {
		return reject("", yamlErr)
	}
	if !scheme.Recognizes(gvk) {
		return reject("apiVersion", fmt.Sprintf("%s is not served in version %s", h.Kind, h.APIVersion))
	}
	obj, _, err := strictJSON.Decode(js, nil, nil)
	if strict, ok := runtime.AsStrictDecodingError(err); ok {
		for _, e := range strict.Errors() {
			fieldPath, msg := strictField(e.Error())
			reject(fieldPath, msg)
		}
		return it
	}
	if err != nil {
		return reject("", err.Error())
	}
	if msg := strictIstioSpec(obj, js); msg != "" {
		return reject("spec", msg)
	}
	// The key, not the document, decides the namespace: this is what the
	// API server would store.
	obj.(metav1.Object).SetNamespace(key.Namespace)

	for _, p := range validate.Object(obj) {
		it.problems = append(it.problems, problem(p))
	}
	if !validate.HasErrors(it.problems) {
		it.obj = obj
	}
	return it
}

// strictIstioSpec decodes an Istio object's spec again with protojson,
// which unlike Istio's own JSON unmarshaler rejects unknown fields: a typo
// in a VirtualService must not silently drop a route rule.
func strictIstioSpec(obj runtime.Object, js []byte) string {
	_, spec, ok := convert.IstioSpec(obj)
	if !ok {
		return ""
	}
	var body struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(js, &body); err != nil || len(body.Spec) == 0 {
		return ""
	}
	fresh := spec.ProtoReflect().New().Interface()
	if err := protojson.Unmarshal(body.Spec, fresh); err != nil {
		return cleanProtoError(err.Error())
	}
	return ""
}

// strictFieldError matches the errors of strict JSON decoding, which name
// the offending field by its path: unknown field "spec.prots".
var strictFieldError = regexp.MustCompile(`^(unknown|duplicate) field "([^"]+)"$`)

// strictField splits a strict decoding error into the field it names and
// what is wrong with it.
func strictField(msg string) (fieldPath, reason string) {
	if m := strictFieldError.FindStringSubmatch(msg); m != nil {
		return m[2], m[1] + " field"
	}
	return "", msg
}

// protoErrorPosition matches the "(line 1:23)" protojson puts in its
// errors: positions in the re-encoded JSON mean nothing to the reader of
// the YAML file.
var protoErrorPosition = regexp.MustCompile(`\(line \d+:\d+\)`)

// cleanProtoError drops the "proto:" prefix and the position from a
// protojson error. The prefix is followed by randomly chosen whitespace
// (protobuf-go does that on purpose so nobody matches its messages
// exactly), hence trimming rather than cutting a fixed string.
func cleanProtoError(msg string) string {
	msg = protoErrorPosition.ReplaceAllString(msg, "")
	msg = strings.TrimPrefix(msg, "proto:")
	return strings.TrimFunc(msg, func(r rune) bool { return unicode.IsSpace(r) || r == ':' })
}

// yamlLine matches the document-relative line numbers in YAML errors.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// absoluteLines rewrites a YAML error's line numbers, which count from the
// start of the document, to count from the start of the file.
func absoluteLines(msg string, docLine int) string {
	return yamlLine.ReplaceAllStringFunc(msg, func(m string) string {
		n, err := strconv.Atoi(strings.TrimPrefix(m, "line "))
		if err != nil {
			return m
		}
		return "line " + strconv.Itoa(n+docLine-1)
	})
}

// oneLine folds a multi-line error into one line for logs and tables.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func joinField(prefix, f string) string {
	switch {
	case prefix == "":
		return f
	case f == "":
		return prefix
	}
	return prefix + "." + f
}
