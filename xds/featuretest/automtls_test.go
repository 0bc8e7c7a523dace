package featuretest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/bootstrap"
	"github.com/pilotlight/pilotlight/xds/client"
)

// ledgerPod is a Pod of bank/ledger labelled for Istio mTLS, running as
// service account sa at 10.244.20.n, with its endpoint.
func ledgerPod(n int, sa string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: ledger-%[1]d
  namespace: bank
  labels: {app: ledger, security.istio.io/tlsMode: istio}
spec:
  serviceAccountName: %[2]s
  containers: [{name: app, image: app}]
status:
  phase: Running
  podIP: 10.244.20.%[1]d
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ledger-%[1]d
  namespace: bank
  labels: {kubernetes.io/service-name: ledger}
addressType: IPv4
ports: [{name: grpc, port: 9090}]
endpoints:
- addresses: [10.244.20.%[1]d]
  targetRef: {kind: Pod, name: ledger-%[1]d, namespace: bank}
`, n, sa)
}

const ledgerService = `apiVersion: v1
kind: Namespace
metadata:
  name: bank
---
apiVersion: v1
kind: Service
metadata:
  name: ledger
  namespace: bank
spec:
  clusterIP: 10.96.20.1
  ports: [{name: grpc, port: 7070, targetPort: 9090}]
`

// autoMTLS says what a cluster's automatic mTLS accepts: the SANs of
// its tlsMode=istio transport socket, comma-separated, or "off" when the
// cluster has no automatic mTLS.
func autoMTLS(t *testing.T, c *clusterv3.Cluster) string {
	t.Helper()
	for _, m := range c.GetTransportSocketMatches() {
		if m.GetName() != "tlsMode-istio" {
			continue
		}
		ctx := &tlsv3.UpstreamTlsContext{}
		if err := m.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx); err != nil {
			t.Fatal(err)
		}
		var sans []string
		for _, s := range ctx.GetCommonTlsContext().GetCombinedValidationContext().GetDefaultValidationContext().GetMatchSubjectAltNames() { //nolint:staticcheck // where pilotlight writes SANs, as istiod.
			sans = append(sans, s.GetExact())
		}
		return strings.Join(sans, ",")
	}
	return "off"
}

// A connected sidecar follows the identities behind a service: a new Pod
// with another service account adds its SPIFFE id to the cluster's
// automatic mTLS (an endpoint change that must still push clusters), and
// a DISABLE PeerAuthentication in the service's namespace turns
// automatic mTLS off.
func TestConnectedSidecarFollowsServiceIdentities(t *testing.T) {
	p := startPilotlight(t, t.TempDir())
	p.write(t, "ledger.yaml", ledgerService)
	p.write(t, "ledger-1.yaml", ledgerPod(1, "ledger"))

	node, err := bootstrap.Node{ID: "sidecar~10.244.9.1~web-0.shop~shop.svc.cluster.local"}.Proto()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Streams are refused until the directory is loaded.
	eventually(t, "pilotlight to serve", func() bool {
		_, err := fetchAsSidecar(t, p)
		return err == nil
	})
	c, err := client.Dial(ctx, p.addr, node, client.Options{Delta: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(resource.ClusterType); err != nil {
		t.Fatal(err)
	}
	const name = "outbound|7070||ledger.bank.svc.cluster.local"
	// waitFor reads cluster updates until ledger's automatic mTLS is want.
	waitFor := func(what, want string) {
		t.Helper()
		got := "not sent"
		for {
			select {
			case u, ok := <-c.Updates():
				if !ok {
					t.Fatalf("stream ended: %v", c.Err())
				}
				if m, ok := u.Resources[name]; ok {
					if got = autoMTLS(t, m.(*clusterv3.Cluster)); got == want {
						return
					}
				}
			case <-ctx.Done():
				t.Fatalf("%s: ledger's automatic mTLS accepts %q, want %q", what, got, want)
			}
		}
	}
	waitFor("one pod", "spiffe://cluster.local/ns/bank/sa/ledger")

	p.write(t, "ledger-2.yaml", ledgerPod(2, "ledger-canary"))
	waitFor("a pod of another service account", "spiffe://cluster.local/ns/bank/sa/ledger,spiffe://cluster.local/ns/bank/sa/ledger-canary")

	p.write(t, "policy.yaml", peerAuthentication("bank", "DISABLE"))
	waitFor("bank DISABLEs mTLS", "off")
}
