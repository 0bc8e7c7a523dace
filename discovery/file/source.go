package file

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/pilotlight/pilotlight/discovery/convert"
	"github.com/pilotlight/pilotlight/translate/model"
)

// Options configure a Source.
type Options struct {
	// Logger receives load results and new problems; nil means no logs.
	Logger *zap.Logger
	// Mesh is the mesh configuration every Snapshot carries; nil means
	// Istio's defaults.
	Mesh *meshv1alpha1.MeshConfig
	// DomainSuffix is the cluster DNS domain; empty means cluster.local.
	DomainSuffix string
}

// Source serves the objects of one directory. Load and Run may be called
// from any goroutine; loads are serialized because each one starts from the
// objects the previous one served.
type Source struct {
	dir  string
	opts Options
	log  *zap.Logger

	mu sync.Mutex
	// served are the objects the previous load put in its Snapshot, with
	// the file and document that define them now.
	served map[convert.Key]origin
	// files caches each file's decoded content, so that a reload decodes
	// only the files that changed: YAML decoding is most of a load's cost.
	files map[string]decodedFile
}

// decodedFile is a file's content and the objects decoded from it. Decoded
// objects are never modified, so loads can share them.
type decodedFile struct {
	data []byte
	docs []decodedDoc
}

type decodedDoc struct {
	index int
	items []item
}

func decodeFile(path string, data []byte) decodedFile {
	f := decodedFile{data: data}
	for _, doc := range splitDocuments(data) {
		f.docs = append(f.docs, decodedDoc{index: doc.index, items: decodeDocument(path, doc)})
	}
	return f
}

// origin is a served object and where it is defined.
type origin struct {
	obj   runtime.Object
	file  string // base name within the directory
	index int
}

// New returns a Source for dir. Nothing is read until Load or Run.
func New(dir string, opts Options) *Source {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Source{dir: dir, opts: opts, log: log.With(zap.String("dir", dir)), served: map[convert.Key]origin{}}
}

// Load reads the directory and returns the Snapshot to serve and every
// problem found. Bad input never loses good state: a rejected object keeps
// its last good version, and a file with a document that cannot be read at
// all keeps whatever objects it defined before. The error is set only when
// the directory itself cannot be read; the previous state is then left as
// it was.
func (s *Source) Load() (*model.Snapshot, []model.Problem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	names, err := configFiles(s.dir)
	if err != nil {
		return nil, nil, err
	}
	l := &load{
		prev:      s.served,
		served:    map[convert.Key]origin{},
		claimed:   map[convert.Key]origin{},
		uncertain: map[string]string{},
		cache:     s.files,
		files:     map[string]decodedFile{},
	}
	for _, name := range names {
		l.file(s.dir, name)
	}
	l.keepUncertain(s.dir)
	s.served, s.files = l.served, l.files

	store := convert.NewStore()
	for _, o := range l.served {
		if err := store.Set(o.obj); err != nil {
			// The decoder only lets supported kinds through.
			panic(fmt.Sprintf("file: decoded an object the store rejects: %v", err))
		}
	}
	slices.SortStableFunc(l.problems, func(a, b model.Problem) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Index, b.Index))
	})
	return store.Build(s.opts.Mesh, s.opts.DomainSuffix), l.problems, nil
}

// configFiles lists the YAML files of a directory, sorted by name. Hidden
// files are skipped: editors keep swap and lock files there.
func configFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("config directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		if strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		// Stat follows symlinks, as in a mounted ConfigMap.
		if info, err := os.Stat(filepath.Join(dir, name)); err != nil || !info.Mode().IsRegular() {
			continue
		}
		names = append(names, name)
	}
	return names, nil
}

// load is the state of one Load.
type load struct {
	prev, served map[convert.Key]origin
	// claimed records the first definition of every object seen, valid or
	// not: later definitions are duplicates.
	claimed map[convert.Key]origin
	// uncertain holds, by file name, why a file's content cannot be
	// trusted to list all its objects: a document that could not be tied
	// to an object may be any of them.
	uncertain map[string]string
	problems  []model.Problem
	// cache is the previous load's decoded files; files collects this
	// load's.
	cache, files map[string]decodedFile
}

func (l *load) file(dir, name string) {
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		// Deleted since the directory was listed: its objects go.
		return
	}
	if err != nil {
		l.uncertain[name] = "the file cannot be read"
		l.problems = append(l.problems, model.Problem{Source: path, Index: -1, Message: "cannot read the file: " + err.Error()})
		return
	}
	if len(data) == 0 {
		// An editor writing in place truncates the file first; a load that
		// runs in between must not drop the file's objects, or a broken
		// write that follows would have no last good version to keep.
		// Deleting the file is how its objects are removed.
		l.uncertain[name] = "the file is empty (perhaps being written); delete it to remove its objects"
		return
	}
	f, ok := l.cache[name]
	if !ok || !bytes.Equal(f.data, data) {
		f = decodeFile(path, data)
	}
	l.files[name] = f
	for _, doc := range f.docs {
		for _, it := range doc.items {
			l.item(path, name, doc.index, it)
		}
	}
}

func (l *load) item(path, name string, index int, it item) {
	if !it.identified {
		if !it.ignored {
			l.uncertain[name] = "a document of the file cannot be read"
		}
		l.problems = append(l.problems, it.problems...)
		return
	}
	if first, dup := l.claimed[it.key]; dup {
		p := model.Problem{
			Source: path, Index: index,
			Kind: string(it.key.Kind), Namespace: it.key.Namespace, Name: it.key.Name,
			Message: fmt.Sprintf("duplicate: already defined in %s document %d, which wins; this definition is ignored", first.file, first.index),
		}
		l.problems = append(l.problems, p)
		return
	}
	here := origin{obj: it.obj, file: name, index: index}
	l.claimed[it.key] = here
	if it.obj != nil {
		l.served[it.key] = here
		l.problems = append(l.problems, it.problems...)
		return
	}
	prev, ok := l.prev[it.key]
	for _, p := range it.problems {
		if ok && !p.Warning {
			p.Message += " (the last good version stays served)"
		}
		l.problems = append(l.problems, p)
	}
	if ok {
		here.obj = prev.obj
		l.served[it.key] = here
	}
}

// keepUncertain carries over the objects of files that had an unreadable
// document, unless another document now defines them.
func (l *load) keepUncertain(dir string) {
	keys := make([]convert.Key, 0, len(l.prev))
	for k, o := range l.prev {
		if _, defined := l.claimed[k]; !defined && l.uncertain[o.file] != "" {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b convert.Key) int { return strings.Compare(a.String(), b.String()) })
	for _, k := range keys {
		o := l.prev[k]
		l.served[k] = o
		l.problems = append(l.problems, model.Problem{
			Source: filepath.Join(dir, o.file), Index: -1,
			Kind: string(k.Kind), Namespace: k.Namespace, Name: k.Name, Warning: true,
			Message: l.uncertain[o.file] + "; the last good version stays served",
		})
	}
}
