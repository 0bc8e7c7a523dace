package client

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/translate/resource"
)

// Config is a proxy's complete configuration as received.
type Config struct {
	// Resources by type URL, then by name.
	Resources map[string]map[string]proto.Message
	// Bytes is the serialized size of every response received.
	Bytes int64
}

// FetchEnvoy subscribes the way Envoy does on startup — clusters and
// listeners by wildcard, then the route tables the listeners name and the
// load assignments the clusters name — and returns the first complete
// configuration. The client must be fresh and decoding (not Raw).
func (c *Client) FetchEnvoy(ctx context.Context) (Config, error) {
	cfg := Config{Resources: map[string]map[string]proto.Message{}}
	for _, typ := range []string{resource.ClusterType, resource.ListenerType} {
		if err := c.Subscribe(typ); err != nil {
			return cfg, err
		}
	}
	if err := c.await(ctx, &cfg, resource.ClusterType, resource.ListenerType); err != nil {
		return cfg, err
	}
	routes := resource.RouteNames(slices.Collect(maps.Values(cfg.Resources[resource.ListenerType])))
	eds := resource.EDSNames(slices.Collect(maps.Values(cfg.Resources[resource.ClusterType])))
	var want []string
	for typ, names := range map[string][]string{resource.RouteType: routes, resource.EndpointType: eds} {
		if len(names) == 0 {
			continue
		}
		if err := c.Subscribe(typ, names...); err != nil {
			return cfg, err
		}
		want = append(want, typ)
	}
	return cfg, c.await(ctx, &cfg, want...)
}

// await reads updates until one of each type has arrived.
func (c *Client) await(ctx context.Context, cfg *Config, types ...string) error {
	pending := map[string]bool{}
	for _, t := range types {
		pending[t] = true
	}
	for len(pending) > 0 {
		select {
		case u := <-c.Updates():
			cfg.Bytes += int64(u.Bytes)
			if cfg.Resources[u.TypeURL] == nil {
				cfg.Resources[u.TypeURL] = map[string]proto.Message{}
			}
			maps.Copy(cfg.Resources[u.TypeURL], u.Resources)
			for _, n := range u.Removed {
				delete(cfg.Resources[u.TypeURL], n)
			}
			delete(pending, u.TypeURL)
		case <-c.Done():
			return fmt.Errorf("stream ended before the config was complete: %w", c.Err())
		case <-ctx.Done():
			return fmt.Errorf("waiting for %v: %w", slices.Sorted(maps.Keys(pending)), ctx.Err())
		}
	}
	return nil
}
