// Package pilotlight is the root of a lightweight xDS control plane that
// replaces istiod. It holds no code of its own: the program is in
// cmd/pilotlight, the mesh model and generators in translate, the sources
// of mesh state in discovery and the gRPC server in xds. The tests here
// guard the layering between those folders (DESIGN.md, "Forbidden edges").
package pilotlight
