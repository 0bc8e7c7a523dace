package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pilotlight/pilotlight/xds/debugapi"
)

// defaultHTTPAddr is where 'pilotlight serve' listens for HTTP by default.
const defaultHTTPAddr = "localhost:15014"

// debugClient reads a running pilotlight's debug API.
type debugClient struct {
	addr string
	http *http.Client
}

func newDebugClient(addr string) *debugClient {
	return &debugClient{addr: addr, http: &http.Client{Timeout: 30 * time.Second}}
}

// get fetches a debug path and returns the body of a 200 answer.
func (c *debugClient) get(ctx context.Context, path string, query url.Values) ([]byte, error) {
	u := url.URL{Scheme: "http", Host: c.addr, Path: path, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach pilotlight at %s (is 'pilotlight serve' running? --http sets the address): %w", c.addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", u.String(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", u.String(), resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// syncz returns every connected proxy's sync state, and the raw JSON.
func (c *debugClient) syncz(ctx context.Context) ([]debugapi.SyncStatus, []byte, error) {
	body, err := c.get(ctx, debugapi.SynczPath, nil)
	if err != nil {
		return nil, nil, err
	}
	var out []debugapi.SyncStatus
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", debugapi.SynczPath, err)
	}
	return out, body, nil
}

// configDump returns everything a proxy was last sent.
func (c *debugClient) configDump(ctx context.Context, proxyID string) (*debugapi.ConfigDump, error) {
	body, err := c.get(ctx, debugapi.ConfigDumpPath, url.Values{debugapi.ProxyIDParam: {proxyID}})
	if err != nil {
		return nil, err
	}
	dump := &debugapi.ConfigDump{}
	if err := json.Unmarshal(body, dump); err != nil {
		return nil, fmt.Errorf("%s: %w", debugapi.ConfigDumpPath, err)
	}
	return dump, nil
}

// resolveProxy turns what a user typed into a proxy id: a full node id is
// used as is; POD.NAMESPACE (what proxy-status shows) is looked up among
// the connected proxies.
func (c *debugClient) resolveProxy(ctx context.Context, name string) (string, error) {
	if strings.Contains(name, "~") {
		return name, nil
	}
	proxies, _, err := c.syncz(ctx)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, p := range proxies {
		if proxyName(p.Proxy) == name {
			ids = append(ids, p.Proxy)
		}
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("no connected proxy is named %q; 'pilotlight proxy-status' lists them", name)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%q names %d proxies (%s); give the full node id", name, len(ids), strings.Join(ids, ", "))
}

// proxyName is the POD.NAMESPACE part of an Istio node id, the name
// istioctl shows; ids in another form are shown whole.
func proxyName(id string) string {
	parts := strings.Split(id, "~")
	if len(parts) != 4 {
		return id
	}
	return parts[2]
}
