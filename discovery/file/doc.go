// Package file is the discovery source behind `pilotlight serve
// --config-dir DIR`: a directory of ordinary Kubernetes and Istio YAML,
// decoded with the real client-go schemes, served as the mesh and reloaded
// whenever the directory changes.
//
// Every *.yaml and *.yml file directly in the directory is read in name
// order; a file may hold many documents and Lists. Decoding is strict:
// unknown and duplicate fields are errors, in Istio specs too. Objects
// without a namespace land in "default". Kinds pilotlight does not use are
// reported as warnings and skipped.
//
// The package owns the rule that bad input loses nothing: an object that
// fails to decode or validate is reported and skipped while everything else
// applies, its last good version (if it had one) stays served, a file that
// cannot be read keeps what it served before, a deleted file takes its
// objects with it, and when two files define the same object the first by
// name wins. Problems name the file, the document, the object and the field.
//
// The package reads files and watches the directory; it never talks to the
// xDS server and does no debouncing of its own.
package file
