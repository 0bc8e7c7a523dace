// Package client is pilotlight's own small ADS client, SotW and delta, for
// tests, the CLI and load generation. It subscribes to types by name or by
// wildcard, acknowledges every response (or rejects the ones a predicate
// refuses), and hands each response to the caller as an Update. It keeps
// no copy of the resources it received: what to keep is the caller's
// choice.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	// Registers the xDS resource types, so responses decode.
	_ "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// Options configure a Client. The zero value is a SotW client that
// decodes and acknowledges everything.
type Options struct {
	// Delta selects incremental xDS.
	Delta bool
	// Reject, when set, is asked about every resource received; a non-nil
	// error rejects (NACKs) the whole response with that message, as
	// Envoy and gRPC do.
	Reject func(typeURL, name string, res *anypb.Any) error
	// Raw skips decoding: Update.Resources stays nil and only
	// Update.Raw is filled. Load generators want this.
	Raw bool
	// Buffer is the capacity of the Updates channel; 64 when zero.
	Buffer int
	// DialOptions are added to Dial's (which default to plaintext).
	DialOptions []grpc.DialOption
}

// Update is one response received.
type Update struct {
	TypeURL string
	// Version is version_info (SotW) or system_version_info (delta).
	Version string
	Nonce   string
	// Resources are the decoded resources by name, unless Options.Raw.
	// For SotW it is the whole state of the type; for delta only what
	// changed.
	Resources map[string]proto.Message
	// Raw are the same resources as received.
	Raw map[string]*anypb.Any
	// Removed lists names the server removed (delta only).
	Removed []string
	// Rejected is the error this client NACKed the response with, if any.
	Rejected error
	// Bytes is the serialized size of the response.
	Bytes int
}

// Stats count what a client received and answered.
type Stats struct {
	Responses int64
	Bytes     int64
	ACKs      int64
	NACKs     int64
}

// Client is one ADS stream.
type Client struct {
	opts   Options
	node   *corev3.Node
	conn   *grpc.ClientConn
	owned  bool
	cancel context.CancelFunc

	sotw  discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	delta discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient

	// mu serialises requests (gRPC streams allow one sender) and guards
	// the subscription state they carry.
	mu       sync.Mutex
	sentNode bool
	types    map[string]*subscription

	updates   chan Update
	done      chan struct{}
	err       error
	closeOnce sync.Once
	closeErr  error

	responses, bytes, acks, nacks atomic.Int64
}

type subscription struct {
	names map[string]struct{}
	// version is the last accepted version and nonce the last nonce
	// received (SotW carries both in every request).
	version string
	nonce   string
}

// Dial connects to addr in plaintext (unless DialOptions say otherwise)
// and opens an ADS stream for node. Close releases the connection. The
// connection accepts responses of any size: a SotW response holds a
// type's whole state, which outgrows gRPC's 4 MiB default in big meshes.
func Dial(ctx context.Context, addr string, node *corev3.Node, opts Options) (*Client, error) {
	dialOpts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)),
	}, opts.DialOptions...)
	conn, err := grpc.NewClient(addr, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c, err := New(ctx, conn, node, opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c.owned = true
	return c, nil
}

// New opens an ADS stream on an existing connection, which Close leaves
// open: many clients can share one connection.
func New(ctx context.Context, conn *grpc.ClientConn, node *corev3.Node, opts Options) (*Client, error) {
	if opts.Buffer <= 0 {
		opts.Buffer = 64
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &Client{
		opts:    opts,
		node:    node,
		conn:    conn,
		cancel:  cancel,
		types:   map[string]*subscription{},
		updates: make(chan Update, opts.Buffer),
		done:    make(chan struct{}),
	}
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	var err error
	if opts.Delta {
		c.delta, err = ads.DeltaAggregatedResources(ctx)
	} else {
		c.sotw, err = ads.StreamAggregatedResources(ctx)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open ADS stream: %w", err)
	}
	go c.receive(ctx)
	return c, nil
}

// Updates delivers every response, in order. It is closed when the
// stream ends. The client waits for the caller to read: a caller that
// stops reading stops the stream.
func (c *Client) Updates() <-chan Update { return c.updates }

// Done is closed when the stream has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is the error the stream ended with, nil while it runs or if it was
// closed by Close.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	return Stats{Responses: c.responses.Load(), Bytes: c.bytes.Load(), ACKs: c.acks.Load(), NACKs: c.nacks.Load()}
}

// Close ends the stream and, for a Dial'ed client, the connection. It
// may be called more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.cancel()
		<-c.done
		if c.owned {
			c.closeErr = c.conn.Close()
		}
	})
	return c.closeErr
}

// Subscribe asks for resources of a type by name; no names means
// wildcard. For SotW the names replace the type's subscription; for delta
// they are added to it.
func (c *Client) Subscribe(typeURL string, names ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	sub, existed := c.types[typeURL]
	if !existed {
		sub = &subscription{names: map[string]struct{}{}}
		c.types[typeURL] = sub
	}
	if c.delta != nil {
		for _, n := range names {
			sub.names[n] = struct{}{}
		}
		if existed && len(names) == 0 {
			return nil
		}
		return c.sendDelta(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL, ResourceNamesSubscribe: names})
	}
	sub.names = map[string]struct{}{}
	for _, n := range names {
		sub.names[n] = struct{}{}
	}
	return c.sendSotw(typeURL, sub, nil)
}

// Unsubscribe drops names from a type's subscription.
func (c *Client) Unsubscribe(typeURL string, names ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	sub, ok := c.types[typeURL]
	if !ok {
		return fmt.Errorf("not subscribed to %s", typeURL)
	}
	for _, n := range names {
		delete(sub.names, n)
	}
	if c.delta != nil {
		return c.sendDelta(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL, ResourceNamesUnsubscribe: names})
	}
	return c.sendSotw(typeURL, sub, nil)
}

// sendSotw sends the type's full subscription, acknowledging the last
// response, or rejecting it when rejection is set. Called with mu held.
func (c *Client) sendSotw(typeURL string, sub *subscription, rejection *statuspb.Status) error {
	req := &discoveryv3.DiscoveryRequest{
		TypeUrl:       typeURL,
		VersionInfo:   sub.version,
		ResponseNonce: sub.nonce,
		ResourceNames: slices.Sorted(maps.Keys(sub.names)),
		ErrorDetail:   rejection,
	}
	if !c.sentNode {
		req.Node = c.node
		c.sentNode = true
	}
	return c.sotw.Send(req)
}

// sendDelta sends a delta request. Called with mu held.
func (c *Client) sendDelta(req *discoveryv3.DeltaDiscoveryRequest) error {
	if !c.sentNode {
		req.Node = c.node
		c.sentNode = true
	}
	return c.delta.Send(req)
}

func (c *Client) receive(ctx context.Context) {
	var err error
	defer func() {
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			err = nil
		}
		c.err = err
		close(c.updates)
		close(c.done)
	}()
	for {
		var u Update
		if c.delta != nil {
			var resp *discoveryv3.DeltaDiscoveryResponse
			if resp, err = c.delta.Recv(); err != nil {
				return
			}
			u, err = c.answerDelta(resp)
		} else {
			var resp *discoveryv3.DiscoveryResponse
			if resp, err = c.sotw.Recv(); err != nil {
				return
			}
			u, err = c.answerSotw(resp)
		}
		if err != nil {
			return
		}
		select {
		case c.updates <- u:
		case <-ctx.Done():
			return
		}
	}
}

func (c *Client) answerSotw(resp *discoveryv3.DiscoveryResponse) (Update, error) {
	u := Update{TypeURL: resp.GetTypeUrl(), Version: resp.GetVersionInfo(), Nonce: resp.GetNonce(), Bytes: proto.Size(resp)}
	c.count(u.Bytes)
	raw := make(map[string]*anypb.Any, len(resp.GetResources()))
	for _, a := range resp.GetResources() {
		raw[nameOf(a)] = a
	}
	if err := c.fill(&u, raw); err != nil {
		return u, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sub, ok := c.types[u.TypeURL]
	if !ok {
		sub = &subscription{names: map[string]struct{}{}}
		c.types[u.TypeURL] = sub
	}
	sub.nonce = u.Nonce
	var rejection *statuspb.Status
	if u.Rejected != nil {
		rejection = &statuspb.Status{Code: int32(codes.InvalidArgument), Message: u.Rejected.Error()}
	} else {
		sub.version = u.Version
	}
	return u, c.sendReply(u, func() error { return c.sendSotw(u.TypeURL, sub, rejection) })
}

func (c *Client) answerDelta(resp *discoveryv3.DeltaDiscoveryResponse) (Update, error) {
	u := Update{
		TypeURL: resp.GetTypeUrl(), Version: resp.GetSystemVersionInfo(), Nonce: resp.GetNonce(),
		Removed: resp.GetRemovedResources(), Bytes: proto.Size(resp),
	}
	c.count(u.Bytes)
	raw := make(map[string]*anypb.Any, len(resp.GetResources()))
	for _, r := range resp.GetResources() {
		if r.GetResource() != nil {
			raw[r.GetName()] = r.GetResource()
		}
	}
	if err := c.fill(&u, raw); err != nil {
		return u, err
	}
	req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: u.TypeURL, ResponseNonce: u.Nonce}
	if u.Rejected != nil {
		req.ErrorDetail = &statuspb.Status{Code: int32(codes.InvalidArgument), Message: u.Rejected.Error()}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return u, c.sendReply(u, func() error { return c.sendDelta(req) })
}

func (c *Client) count(bytes int) {
	c.responses.Add(1)
	c.bytes.Add(int64(bytes))
}

func (c *Client) sendReply(u Update, send func() error) error {
	if u.Rejected != nil {
		c.nacks.Add(1)
	} else {
		c.acks.Add(1)
	}
	return send()
}

// fill decodes the resources and asks Reject about them.
func (c *Client) fill(u *Update, raw map[string]*anypb.Any) error {
	u.Raw = raw
	if !c.opts.Raw {
		u.Resources = make(map[string]proto.Message, len(raw))
		for name, a := range raw {
			m, err := a.UnmarshalNew()
			if err != nil {
				return fmt.Errorf("decode %s %q: %w", a.GetTypeUrl(), name, err)
			}
			u.Resources[name] = m
		}
	}
	if c.opts.Reject != nil {
		for _, name := range slices.Sorted(maps.Keys(raw)) {
			if err := c.opts.Reject(u.TypeURL, name, raw[name]); err != nil {
				u.Rejected = fmt.Errorf("%s: %w", name, err)
				break
			}
		}
	}
	return nil
}

// nameOf reads a resource's name without decoding it: every xDS resource
// type (Cluster, ClusterLoadAssignment, Listener, RouteConfiguration,
// Secret, ...) keeps its name in field 1.
func nameOf(a *anypb.Any) string {
	b := a.GetValue()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return ""
			}
			return string(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ""
		}
		b = b[n:]
	}
	return ""
}
