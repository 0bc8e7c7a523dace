package xds

import (
	"context"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// sotwResponse is a complete SotW response. go-control-plane's own
// response types keep their fields unexported, so the cache has its own.
// out is built once by the cache; go-control-plane only sets its nonce.
type sotwResponse struct {
	req      *discoveryv3.DiscoveryRequest
	out      *discoveryv3.DiscoveryResponse
	returned map[string]string
}

var _ cachev3.Response = (*sotwResponse)(nil)

func (r *sotwResponse) GetDiscoveryResponse() (*discoveryv3.DiscoveryResponse, error) {
	return r.out, nil
}
func (r *sotwResponse) GetRequest() *discoveryv3.DiscoveryRequest { return r.req }
func (r *sotwResponse) GetVersion() (string, error)               { return r.out.GetVersionInfo(), nil }
func (r *sotwResponse) GetResponseVersion() string                { return r.out.GetVersionInfo() }

// GetReturnedResources maps every resource the client holds after this
// response to its content version. go-control-plane keeps the map and
// edits it in place, so each response owns a fresh one.
func (r *sotwResponse) GetReturnedResources() map[string]string { return r.returned }
func (r *sotwResponse) GetContext() context.Context             { return context.Background() }

// deltaResponse is an incremental response: changed resources, removed
// names, and the client's full state after it.
type deltaResponse struct {
	req  *discoveryv3.DeltaDiscoveryRequest
	out  *discoveryv3.DeltaDiscoveryResponse
	next map[string]string
}

var _ cachev3.DeltaResponse = (*deltaResponse)(nil)

func (r *deltaResponse) GetDeltaDiscoveryResponse() (*discoveryv3.DeltaDiscoveryResponse, error) {
	return r.out, nil
}
func (r *deltaResponse) GetDeltaRequest() *discoveryv3.DeltaDiscoveryRequest { return r.req }
func (r *deltaResponse) GetSystemVersion() (string, error) {
	return r.out.GetSystemVersionInfo(), nil
}
func (r *deltaResponse) GetResponseVersion() string              { return r.out.GetSystemVersionInfo() }
func (r *deltaResponse) GetNextVersionMap() map[string]string    { return r.next }
func (r *deltaResponse) GetReturnedResources() map[string]string { return r.next }
func (r *deltaResponse) GetContext() context.Context             { return context.Background() }
