package translate

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/translate/grpcgen"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/translate/sidecar"
)

// Resource is one named Envoy resource.
type Resource = resource.Resource

// Generator builds the resources of one proxy flavour. Implementations are
// pure and safe for concurrent use.
type Generator interface {
	// Outbound returns every outbound resource of typeURL that a proxy with
	// this view may see, sorted by name.
	Outbound(snap *model.Snapshot, v model.OutboundView, typeURL string) []Resource
	// Inbound returns the workload's own resources of typeURL, sorted by name.
	Inbound(snap *model.Snapshot, v model.InboundView, typeURL string) []Resource
	// OutboundNamed builds a resource that is not in the Outbound set but
	// exists when asked for by name (a proxyless client's short host name).
	OutboundNamed(snap *model.Snapshot, v model.OutboundView, typeURL, name string) (Resource, bool)
	// InboundNamed does the same for the inbound half (a proxyless server's
	// listener, named after the address it listens on).
	InboundNamed(snap *model.Snapshot, v model.InboundView, typeURL, name string) (Resource, bool)
}

// For returns the generator for a flavour.
func For(f model.Flavor) (Generator, error) {
	switch f {
	case model.FlavorSidecar, model.FlavorRouter:
		return sidecar.Generator{}, nil
	case model.FlavorGRPC:
		return grpcgen.Generator{}, nil
	}
	return nil, fmt.Errorf("no generator for flavour %q", f)
}

// Validate runs protoc-gen-validate's ValidateAll on a generated resource.
// Generators are tested to never produce invalid resources; the xDS server
// calls this too so that a bug costs one resource, not the proxy.
func Validate(m proto.Message) error { return resource.Validate(m) }
