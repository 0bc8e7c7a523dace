package parity

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
)

// skipped are fields that change nothing Envoy does with a request:
// names that only label a resource or a filter (the protocol names that
// link resources, such as cluster names, are kept), stat prefixes, access
// logs, tracing and metadata. Both control planes are free to differ in
// them.
var skipped = map[protoreflect.FullName]bool{
	"envoy.config.listener.v3.Listener.name":                                                               true,
	"envoy.config.listener.v3.Listener.stat_prefix":                                                        true,
	"envoy.config.listener.v3.Listener.access_log":                                                         true,
	"envoy.config.listener.v3.Listener.metadata":                                                           true,
	"envoy.config.listener.v3.FilterChain.name":                                                            true,
	"envoy.config.listener.v3.FilterChain.metadata":                                                        true,
	"envoy.config.listener.v3.Filter.name":                                                                 true,
	"envoy.config.listener.v3.ListenerFilter.name":                                                         true,
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.stat_prefix":        true,
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.access_log":         true,
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.access_log_options": true,
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.tracing":            true,
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter.name":                          true,
	"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.stat_prefix":                                   true,
	"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.access_log":                                    true,
	"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.access_log_options":                            true,
	"envoy.config.route.v3.RouteConfiguration.name":                                                        true,
	"envoy.config.route.v3.VirtualHost.name":                                                               true,
	"envoy.config.route.v3.VirtualHost.metadata":                                                           true,
	"envoy.config.route.v3.Route.name":                                                                     true,
	"envoy.config.route.v3.Route.decorator":                                                                true,
	"envoy.config.route.v3.Route.metadata":                                                                 true,
	"envoy.config.route.v3.Route.stat_prefix":                                                              true,
	"envoy.config.route.v3.Route.tracing":                                                                  true,
	"envoy.config.route.v3.RetryPolicy.RetryHostPredicate.name":                                            true,
	"envoy.config.route.v3.RouteAction.RequestMirrorPolicy.trace_sampled":                                  true,
	"envoy.config.route.v3.RetryPolicy.RetryPriority.name":                                                 true,
	"envoy.config.cluster.v3.Cluster.name":                                                                 true,
	"envoy.config.cluster.v3.Cluster.alt_stat_name":                                                        true,
	"envoy.config.cluster.v3.Cluster.metadata":                                                             true,
	"envoy.config.cluster.v3.Cluster.TransportSocketMatch.name":                                            true,
	"envoy.config.cluster.v3.CircuitBreakers.Thresholds.track_remaining":                                   true,
	"envoy.config.core.v3.TransportSocket.name":                                                            true,
	"envoy.config.core.v3.TypedExtensionConfig.name":                                                       true,
	"envoy.config.core.v3.RuntimeFractionalPercent.runtime_key":                                            true,
	"envoy.config.core.v3.RuntimeUInt32.runtime_key":                                                       true,
	"envoy.config.core.v3.RuntimeFeatureFlag.runtime_key":                                                  true,
	"envoy.config.endpoint.v3.LbEndpoint.metadata":                                                         true,
}

// text renders a message on one line, deterministically: populated
// fields in field-number order as name=value, except the skipped ones;
// durations, wrappers, percentages, structs and Any values in a natural
// form. Two messages that Envoy reads alike render alike.
func text(m proto.Message) string {
	if m == nil || !m.ProtoReflect().IsValid() {
		return "∅"
	}
	var b strings.Builder
	writeMessage(&b, m.ProtoReflect())
	return b.String()
}

// populated lists the populated, unskipped fields of m in field-number
// order.
func populated(m protoreflect.Message) []protoreflect.FieldDescriptor {
	var fds []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !skipped[fd.FullName()] {
			fds = append(fds, fd)
		}
		return true
	})
	slices.SortFunc(fds, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number() - b.Number()) })
	return fds
}

func writeMessage(b *strings.Builder, m protoreflect.Message) {
	if writeWellKnown(b, m) {
		return
	}
	b.WriteString("{")
	for i, fd := range populated(m) {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(string(fd.Name()))
		b.WriteString("=")
		writeField(b, fd, m.Get(fd))
	}
	b.WriteString("}")
}

func writeField(b *strings.Builder, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	switch {
	case fd.IsList():
		l := v.List()
		b.WriteString("[")
		for i := range l.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			writeSingle(b, fd, l.Get(i))
		}
		b.WriteString("]")
	case fd.IsMap():
		var keys []string
		vals := map[string]protoreflect.Value{}
		v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			keys = append(keys, k.String())
			vals[k.String()] = v
			return true
		})
		slices.Sort(keys)
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k)
			b.WriteString(": ")
			writeSingle(b, fd.MapValue(), vals[k])
		}
		b.WriteString("}")
	default:
		writeSingle(b, fd, v)
	}
}

func writeSingle(b *strings.Builder, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		writeMessage(b, v.Message())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			b.WriteString(string(ev.Name()))
		} else {
			b.WriteString(strconv.Itoa(int(v.Enum())))
		}
	case protoreflect.StringKind:
		b.WriteString(strconv.Quote(v.String()))
	case protoreflect.BytesKind:
		b.WriteString(digest(v.Bytes()))
	default:
		fmt.Fprint(b, v.Interface())
	}
}

// writeWellKnown writes the types whose field-by-field form would hide
// their meaning, and reports whether m was one.
func writeWellKnown(b *strings.Builder, m protoreflect.Message) bool {
	switch m.Descriptor().FullName() {
	case "google.protobuf.Duration":
		b.WriteString(m.Interface().(*durationpb.Duration).AsDuration().String())
	case "google.protobuf.BoolValue", "google.protobuf.UInt32Value", "google.protobuf.UInt64Value",
		"google.protobuf.Int32Value", "google.protobuf.Int64Value", "google.protobuf.DoubleValue",
		"google.protobuf.FloatValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		fd := m.Descriptor().Fields().ByName("value")
		writeSingle(b, fd, m.Get(fd))
	case "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue":
		j, err := json.Marshal(m.Interface())
		if s, ok := m.Interface().(*structpb.Struct); ok {
			j, err = json.Marshal(s.AsMap())
		}
		if err != nil {
			b.WriteString("struct?")
		} else {
			b.Write(j)
		}
	case "google.protobuf.Any":
		a := m.Interface().(*anypb.Any)
		inner, err := a.UnmarshalNew()
		if err != nil {
			// A type this test does not know (Istio's own filters):
			// compared by type and content.
			fmt.Fprintf(b, "%s(%s)", typeName(a.GetTypeUrl()), digest(a.GetValue()))
			return true
		}
		b.WriteString(string(inner.ProtoReflect().Descriptor().Name()))
		writeMessage(b, inner.ProtoReflect())
	case "envoy.type.v3.FractionalPercent":
		b.WriteString(percent(m))
	default:
		return false
	}
	return true
}

// percent renders a FractionalPercent as a percentage: 5/100 and
// 50000/1000000 are the same 5%.
func percent(m protoreflect.Message) string {
	fields := m.Descriptor().Fields()
	num := float64(m.Get(fields.ByName("numerator")).Uint())
	den := 100.0
	switch m.Get(fields.ByName("denominator")).Enum() {
	case 1:
		den = 10_000
	case 2:
		den = 1_000_000
	}
	return strconv.FormatFloat(num/den*100, 'g', -1, 64) + "%"
}

// typeName is the last element of a type URL: the message's full name.
func typeName(url string) string {
	return url[strings.LastIndex(url, "/")+1:]
}

// shortType names the type of an Any for keys: the message name without
// its package, as in HTTPFault or HttpConnectionManager.
func shortType(a *anypb.Any) string {
	name := typeName(a.GetTypeUrl())
	return name[strings.LastIndex(name, ".")+1:]
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("bytes[%d]#%s", len(b), hex.EncodeToString(sum[:4]))
}
