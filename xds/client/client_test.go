package client_test

import (
	"context"
	"maps"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds"
	"github.com/pilotlight/pilotlight/xds/client"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// serve runs an xDS server with a small mesh and returns its address.
func serve(t *testing.T) string {
	t.Helper()
	srv := xds.NewServer(xds.Options{Debounce: time.Millisecond})
	g := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); g.Stop() })
	srv.Update(modeltest.Mesh{Services: 4, Endpoints: 2}.Build(), nil)
	for !srv.Ready() {
		time.Sleep(time.Millisecond)
	}
	return lis.Addr().String()
}

func dial(t *testing.T, addr string, opts client.Options) *client.Client {
	t.Helper()
	node := xdstest.Node{Pod: "c", Namespace: "ns-0", IP: "10.200.0.1"}
	c, err := client.Dial(context.Background(), addr, node.Proto(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func subscribe(t *testing.T, c *client.Client, typeURL string, names ...string) {
	t.Helper()
	if err := c.Subscribe(typeURL, names...); err != nil {
		t.Fatal(err)
	}
}

func next(t *testing.T, c *client.Client) client.Update {
	t.Helper()
	select {
	case u, ok := <-c.Updates():
		if !ok {
			t.Fatalf("stream ended: %v", c.Err())
		}
		return u
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
	return client.Update{}
}

func quiet(t *testing.T, c *client.Client) {
	t.Helper()
	select {
	case u := <-c.Updates():
		t.Fatalf("unexpected update %s %v", u.TypeURL, slices.Sorted(maps.Keys(u.Raw)))
	case <-time.After(150 * time.Millisecond):
	}
}

func cluster(i int) string {
	return resource.OutboundClusterName(8080, "", modeltest.Hostname("svc-"+string(rune('0'+i)), "ns-0"))
}

func TestDeltaSubscribeUnsubscribe(t *testing.T) {
	c := dial(t, serve(t), client.Options{Delta: true})
	subscribe(t, c, resource.EndpointType, cluster(0), cluster(1))
	u := next(t, c)
	if got := slices.Sorted(maps.Keys(u.Resources)); !slices.Equal(got, []string{cluster(0), cluster(1)}) {
		t.Fatalf("got %v", got)
	}
	// Adding a name sends only that one.
	subscribe(t, c, resource.EndpointType, cluster(2))
	if got := slices.Sorted(maps.Keys(next(t, c).Resources)); !slices.Equal(got, []string{cluster(2)}) {
		t.Errorf("after adding: got %v, want only %s", got, cluster(2))
	}
	// Dropping a name needs no answer; asking again sends it again.
	if err := c.Unsubscribe(resource.EndpointType, cluster(0)); err != nil {
		t.Fatal(err)
	}
	quiet(t, c)
	subscribe(t, c, resource.EndpointType, cluster(0))
	if got := slices.Sorted(maps.Keys(next(t, c).Resources)); !slices.Equal(got, []string{cluster(0)}) {
		t.Errorf("after re-adding: got %v, want only %s", got, cluster(0))
	}
}

func TestSotwRawAndStats(t *testing.T) {
	c := dial(t, serve(t), client.Options{Raw: true})
	subscribe(t, c, resource.EndpointType, cluster(0), cluster(3))
	u := next(t, c)
	if u.Resources != nil {
		t.Error("raw client decoded resources")
	}
	if got := slices.Sorted(maps.Keys(u.Raw)); !slices.Equal(got, []string{cluster(0), cluster(3)}) {
		t.Errorf("raw names %v", got)
	}
	if err := c.Unsubscribe(resource.EndpointType, cluster(3)); err != nil {
		t.Fatal(err)
	}
	quiet(t, c)
	st := c.Stats()
	if st.Responses != 1 || st.Bytes != int64(u.Bytes) || u.Bytes == 0 || st.ACKs != 1 || st.NACKs != 0 {
		t.Errorf("stats %+v, want 1 response of %d bytes, 1 ACK", st, u.Bytes)
	}
}

func TestCloseEndsCleanly(t *testing.T) {
	c := dial(t, serve(t), client.Options{})
	subscribe(t, c, resource.ClusterType)
	next(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c.Err() != nil {
		t.Errorf("Err after Close = %v, want nil", c.Err())
	}
	if _, ok := <-c.Updates(); ok {
		t.Error("Updates still open after Close")
	}
}
