package kube

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/pilotlight"
	"github.com/pilotlight/pilotlight/e2e/framework/tcpproxy"
	"github.com/pilotlight/pilotlight/e2e/framework/traffic"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
	"github.com/pilotlight/pilotlight/e2e/framework/workload"
)

// servicePort is the port every test Service exposes; its target is the
// workloads' named container port.
const servicePort = 7070

// grpcService is a Service selecting app=app in ns, port servicePort to
// the workloads' gRPC port by name.
func grpcService(ns, name, app string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": app},
			Ports: []corev1.ServicePort{{
				Name: "grpc", Port: servicePort, TargetPort: intstr.FromString(workload.PortName), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// target is the xDS name a proxyless client dials for a Service.
func target(ns, name string) string {
	return name + "." + ns + ".svc.cluster.local:7070"
}

// controlPlane is pilotlight running against the test's cluster through a
// link the test can cut.
type controlPlane struct {
	*pilotlight.Instance
	// link is the TCP path from pilotlight to the API server.
	link *tcpproxy.Proxy
	// bin and kubeconfig run other pilotlight commands as pilotlight.
	bin, kubeconfig string
}

// startPilotlight deploys pilotlight's ServiceAccount and RBAC, starts it
// with its own token behind a cuttable link, and waits until it is ready.
func (e *env) startPilotlight(t testing.TB, args ...string) *controlPlane {
	t.Helper()
	bin := pilotlightBinary(t)
	link, err := tcpproxy.New(e.cluster.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(link.Stop)
	kubeconfig := pilotlight.Deploy(t, e.cluster, e.layout.Repo, link.Addr())
	inst := pilotlight.Start(t, bin, e.cluster.Dir, append([]string{
		"--kubeconfig", kubeconfig,
		"--log-level", "debug",
	}, args...)...)
	took := inst.WaitReady(t)
	t.Logf("pilotlight ready %v after start", took.Round(time.Millisecond))
	return &controlPlane{Instance: inst, link: link, bin: bin, kubeconfig: kubeconfig}
}

// client is a proxyless gRPC application in namespace ns (on the host,
// at the pod network's host address) calling target through pilotlight.
func (e *env) client(t *testing.T, cp *controlPlane, ns, name, target string) *traffic.Client {
	t.Helper()
	boot := cp.GRPCBootstrap(t, pilotlight.Workload{
		IP: e.network.Host.String(), Pod: name, Namespace: ns, Region: "region-1", Zone: "zone-a",
	})
	return traffic.Dial(t, boot, target)
}

// echoVersions runs echo-v1 and echo-v2 (app=echo, version v1 and v2)
// in a new namespace ns behind Service echo, starts pilotlight and
// returns it with a client that has reached both versions.
func (e *env) echoVersions(t *testing.T, ns string) (*controlPlane, *traffic.Client) {
	t.Helper()
	c := e.cluster
	c.CreateNamespace(t, ns, nil)
	c.CreateNode(t, "node-a", "region-1", "zone-a")
	for _, w := range []workload.Spec{
		{Name: "echo-v1", Labels: map[string]string{"app": "echo", "version": "v1"}},
		{Name: "echo-v2", Labels: map[string]string{"app": "echo", "version": "v2"}},
	} {
		w.Namespace, w.Node = ns, "node-a"
		workload.Run(t, c, e.network, e.bins.Path(build.Backend), w)
	}
	c.CreateService(t, grpcService(ns, "echo", "echo"))
	cp := e.startPilotlight(t)
	client := e.client(t, cp, ns, "client", target(ns, "echo"))
	client.WaitForBackends(t, wait.Long, "echo-v1", "echo-v2")
	return cp, client
}

// checkRBAC fails the test if pilotlight logged that the API server
// refused it something: deploy/base/rbac.yaml would be missing a rule.
func (cp *controlPlane) checkRBAC(t *testing.T) {
	t.Helper()
	if log := cp.Process().Log(); strings.Contains(log, "refuses a list or watch") || strings.Contains(log, "forbidden") {
		t.Errorf("pilotlight was refused by the API server; deploy/base/rbac.yaml lacks a rule:\n%s", grep(log, "forbidden", "refuses"))
	}
}

// metrics scrapes pilotlight's metrics, failing the test if it cannot.
func (cp *controlPlane) metrics(t testing.TB) pilotlight.Metrics {
	t.Helper()
	var m pilotlight.Metrics
	wait.For(t, wait.Short, "a scrape of /metrics", func() error {
		var err error
		m, err = cp.Metrics()
		return err
	})
	return m
}

// pushCounts are the push counters that tell an endpoint-only push from
// any other.
type pushCounts struct {
	// eds counts EDS pushes caused by endpoint changes.
	eds float64
	// other counts pushes of any other type, or for any other reason
	// than an endpoint change or a client's own request.
	other float64
	// full counts snapshots that invalidated everything.
	full float64
}

func (cp *controlPlane) pushes(t testing.TB) pushCounts {
	t.Helper()
	m := cp.metrics(t)
	const name = "pilotlight_xds_pushes_total"
	return pushCounts{
		eds: m.Sum(name, "type", "eds", "reason", "endpoints"),
		other: m.SumWhere(name, func(l map[string]string) bool {
			return l["reason"] != "initial" && (l["type"] != "eds" || l["reason"] != "endpoints")
		}),
		full: m.Sum("pilotlight_xds_full_pushes_total"),
	}
}

// checkEndpointOnly fails the test unless everything pushed between two
// readings of the counters was EDS for an endpoint change.
func checkEndpointOnly(t *testing.T, what string, before, after pushCounts) {
	t.Helper()
	if after.eds <= before.eds {
		t.Errorf("%s: no EDS push counted (eds pushes %v → %v)", what, before.eds, after.eds)
	}
	if after.other != before.other || after.full != before.full {
		t.Errorf("%s: pushed more than EDS: other pushes %v → %v, full pushes %v → %v",
			what, before.other, after.other, before.full, after.full)
	}
}

// grep returns the lines of s that contain any of words.
func grep(s string, words ...string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(line, w) {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
