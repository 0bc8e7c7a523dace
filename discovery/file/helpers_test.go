package file

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pilotlight/pilotlight/translate/model"
)

// write puts a file into dir, creating or truncating it in place.
func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.TrimLeft(content, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replace writes a file the way many editors and ConfigMap mounts do: a
// new file renamed over the old one, so a reader never sees half of it.
func replace(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.WriteFile(tmp, []byte(strings.TrimLeft(content, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// problemLine is the part of a problem a test pins down. Message holds a
// fragment the real message must contain.
type problemLine struct {
	File      string
	Index     int
	Kind      string
	Namespace string
	Name      string
	Field     string
	Warning   bool
	Message   string
}

// lines turns problems into problemLines, keeping only the message
// fragment the expectation names when the real message contains it, so
// that cmp.Diff shows the whole message on a mismatch.
func lines(problems []model.Problem, want []problemLine) []problemLine {
	var out []problemLine
	for i, p := range problems {
		l := problemLine{
			File: filepath.Base(p.Source), Index: p.Index, Kind: p.Kind, Namespace: p.Namespace,
			Name: p.Name, Field: p.Field, Warning: p.Warning, Message: p.Message,
		}
		if i < len(want) && strings.Contains(p.Message, want[i].Message) {
			l.Message = want[i].Message
		}
		out = append(out, l)
	}
	return out
}

func mustLoad(t *testing.T, s *Source) (*model.Snapshot, []model.Problem) {
	t.Helper()
	snap, problems, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	return snap, problems
}

// servicePorts returns a service's port numbers, or nil when the service is
// not served.
func servicePorts(snap *model.Snapshot, host string) []uint32 {
	svc := snap.Service(host)
	if svc == nil {
		return nil
	}
	var out []uint32
	for _, p := range svc.Ports {
		out = append(out, p.Number)
	}
	return out
}

// serviceYAML is a Service with one HTTP port.
func serviceYAML(name, namespace string, port int) string {
	return `
apiVersion: v1
kind: Service
metadata:
  name: ` + name + `
  namespace: ` + namespace + `
spec:
  clusterIP: 10.96.0.1
  ports:
  - name: http
    port: ` + strconv.Itoa(port) + `
`
}
