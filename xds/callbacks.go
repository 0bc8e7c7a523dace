package xds

import (
	"context"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// callbacks connects go-control-plane's stream lifecycle to the cache:
// admission, which stream a request came on, ACK/NACK tracking and sent
// responses. go-control-plane calls them synchronously on the stream's
// goroutine, before CreateWatch for requests and just before Send for
// responses.
type callbacks struct{ c *Cache }

var _ serverv3.Callbacks = callbacks{}

func (cb callbacks) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	return cb.c.openStream(streamKey{id: id}, callerOf(ctx))
}

func (cb callbacks) OnStreamClosed(id int64, _ *corev3.Node) {
	cb.c.closeStream(streamKey{id: id})
}

func (cb callbacks) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	st := cb.c.noteRequest(streamKey{id: id}, req, req.GetNode())
	var errMsg *string
	if req.GetErrorDetail() != nil {
		m := req.GetErrorDetail().GetMessage()
		errMsg = &m
	}
	cb.c.trackReply(st, req.GetTypeUrl(), req.GetResponseNonce(), req.GetVersionInfo(), errMsg)
	return nil
}

func (cb callbacks) OnStreamResponse(_ context.Context, id int64, req *discoveryv3.DiscoveryRequest, out *discoveryv3.DiscoveryResponse) {
	st := cb.c.lookupStream(streamKey{id: id})
	cb.c.trackSent(st, req.GetTypeUrl(), out, out.GetNonce(), out.GetVersionInfo())
}

func (cb callbacks) OnDeltaStreamOpen(ctx context.Context, id int64, _ string) error {
	return cb.c.openStream(streamKey{delta: true, id: id}, callerOf(ctx))
}

func (cb callbacks) OnDeltaStreamClosed(id int64, _ *corev3.Node) {
	cb.c.closeStream(streamKey{delta: true, id: id})
}

func (cb callbacks) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	// The delta server calls this before it fills in a missing node from
	// the stream's first request, so GetNode is nil after the first.
	st := cb.c.noteRequest(streamKey{delta: true, id: id}, req, req.GetNode())
	var errMsg *string
	if req.GetErrorDetail() != nil {
		m := req.GetErrorDetail().GetMessage()
		errMsg = &m
	}
	cb.c.trackReply(st, req.GetTypeUrl(), req.GetResponseNonce(), "", errMsg)
	return nil
}

func (cb callbacks) OnStreamDeltaResponse(id int64, req *discoveryv3.DeltaDiscoveryRequest, out *discoveryv3.DeltaDiscoveryResponse) {
	st := cb.c.lookupStream(streamKey{delta: true, id: id})
	cb.c.trackSent(st, req.GetTypeUrl(), out, out.GetNonce(), out.GetSystemVersionInfo())
}

// OnFetchRequest: REST fetches need no stream bookkeeping.
func (cb callbacks) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error { return nil }

// OnFetchResponse: see OnFetchRequest.
func (cb callbacks) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {
}
