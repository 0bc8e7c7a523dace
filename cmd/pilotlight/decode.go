package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
)

// decodeResources turns config_dump's protojson resources (each with its
// "@type") back into protos.
//
// A pilotlight newer than this CLI may send extension types the CLI has
// never heard of, nested in typed_config fields. Strict decoding would
// fail on the first one; instead unknown types decode as an opaque empty
// message, so everything the tables show still reads.
func decodeResources(raw []json.RawMessage) ([]proto.Message, error) {
	opts := protojson.UnmarshalOptions{Resolver: lenientResolver{}, DiscardUnknown: true}
	out := make([]proto.Message, 0, len(raw))
	for i, r := range raw {
		a := &anypb.Any{}
		if err := opts.Unmarshal(r, a); err != nil {
			return nil, fmt.Errorf("resource %d: %w", i, err)
		}
		m, err := a.UnmarshalNew()
		if err != nil {
			return nil, fmt.Errorf("resource %d (%s): %w", i, a.GetTypeUrl(), err)
		}
		out = append(out, m)
	}
	return out, nil
}

// lenientResolver is the global registry, except that a type URL it does
// not know resolves to opaqueType instead of failing.
type lenientResolver struct{}

func (lenientResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
	if errors.Is(err, protoregistry.NotFound) {
		return opaqueType, nil
	}
	return mt, err
}

func (lenientResolver) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

func (lenientResolver) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(name)
}

func (lenientResolver) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(message, field)
}

// opaqueType is a message with no fields: with DiscardUnknown, any JSON
// object decodes into it.
var opaqueType = func() protoreflect.MessageType {
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:        proto.String("pilotlight/cli/opaque.proto"),
		Package:     proto.String("pilotlight.cli"),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Opaque")}},
	}, nil)
	if err != nil {
		panic(err)
	}
	return dynamicpb.NewMessageType(fd.Messages().Get(0))
}()
