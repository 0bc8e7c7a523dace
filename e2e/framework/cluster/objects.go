package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pilotlight/pilotlight/e2e/framework/wait"
)

// Topology labels a kubelet (or the cloud provider) puts on a Node; the
// EndpointSlice controller copies the zone into each endpoint.
const (
	LabelRegion = "topology.kubernetes.io/region"
	LabelZone   = "topology.kubernetes.io/zone"
)

// CreateNamespace creates a namespace and waits for its "default"
// ServiceAccount, without which the API server admits no Pod.
func (c *Cluster) CreateNamespace(t testing.TB, name string, labels map[string]string) *corev1.Namespace {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	ns, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	wait.For(t, wait.Long, "ServiceAccount default in namespace "+name, func() error {
		if err := c.checkAlive(); err != nil {
			return err
		}
		ctx, cancel := apiCtx()
		defer cancel()
		_, err := c.Kube.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	return ns
}

// CreateServiceAccount creates a ServiceAccount, the identity of the Pods
// that name it and of the certificates they get.
func (c *Cluster) CreateServiceAccount(t testing.TB, namespace, name string) {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if _, err := c.Kube.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service account %s/%s: %v", namespace, name, err)
	}
}

// CreateTLSSecret creates a kubernetes.io/tls Secret holding a fresh
// self-signed serving certificate for host and its key, as a Gateway's
// credentialName names.
func (c *Cluster) CreateTLSSecret(t testing.TB, namespace, name, host string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := apiCtx()
	defer cancel()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		},
	}
	if _, err := c.Kube.CoreV1().Secrets(namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create secret %s/%s: %v", namespace, name, err)
	}
}

// CreateNode registers a Node the way a kubelet does, with topology
// labels, and reports it Ready. Nothing marks it NotReady later: the
// node-lifecycle controller is not running, so it needs no heartbeat.
func (c *Cluster) CreateNode(t testing.TB, name, region, zone string) *corev1.Node {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	node, err := c.Kube.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"kubernetes.io/hostname": name,
			"kubernetes.io/os":       "linux",
			LabelRegion:              region,
			LabelZone:                zone,
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	now := metav1.Now()
	node.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now,
	}}
	node.Status.Phase = corev1.NodeRunning
	node, err = c.Kube.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("report node %s ready: %v", name, err)
	}
	return node
}

// Pod describes a Pod to create, bound to a Node and already running.
type Pod struct {
	Namespace, Name string
	// Node is the Node it is bound to; it must exist, or the EndpointSlice
	// controller skips the Pod.
	Node   string
	Labels map[string]string
	// IPs are the Pod's addresses, the first one primary. They must not
	// be loopback: the EndpointSlice controller would copy them and the
	// API server would reject the slice.
	IPs []string
	// Ports are the container's ports (named ports are resolved from
	// these).
	Ports          []corev1.ContainerPort
	ServiceAccount string
}

// CreatePod creates the Pod bound to its Node and then, as the Node's
// kubelet would once the container runs, reports it Running and Ready
// with its IPs through the status subresource.
func (c *Cluster) CreatePod(t testing.TB, p Pod) *corev1.Pod {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	pod, err := c.Kube.CoreV1().Pods(p.Namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels},
		Spec: corev1.PodSpec{
			NodeName:           p.Node,
			ServiceAccountName: p.ServiceAccount,
			Containers: []corev1.Container{{
				Name: "app",
				// Never pulled: there is no kubelet. The test runs the
				// backend itself, in the Pod's network namespace.
				Image: "pilotlight.invalid/e2e-backend",
				Ports: p.Ports,
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", p.Namespace, p.Name, err)
	}
	now := metav1.Now()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.StartTime = &now
	if len(p.IPs) > 0 {
		pod.Status.PodIP = p.IPs[0]
	}
	pod.Status.PodIPs = nil
	for _, ip := range p.IPs {
		pod.Status.PodIPs = append(pod.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "app", Image: pod.Spec.Containers[0].Image, Ready: true, Started: new(true),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
	}}
	pod.Status.Conditions = podConditions(true, now)
	pod, err = c.Kube.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("report pod %s/%s running: %v", p.Namespace, p.Name, err)
	}
	return pod
}

// SetPodReady reports a Pod's readiness, as a kubelet does when its
// readiness probe starts or stops passing.
func (c *Cluster) SetPodReady(t testing.TB, namespace, name string, ready bool) {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	pod, err := c.Kube.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s/%s: %v", namespace, name, err)
	}
	pod.Status.Conditions = podConditions(ready, metav1.Now())
	for i := range pod.Status.ContainerStatuses {
		pod.Status.ContainerStatuses[i].Ready = ready
	}
	if _, err := c.Kube.CoreV1().Pods(namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("report pod %s/%s ready=%v: %v", namespace, name, ready, err)
	}
}

func podConditions(ready bool, at metav1.Time) []corev1.PodCondition {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: at},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: at},
		{Type: corev1.ContainersReady, Status: status, LastTransitionTime: at},
		{Type: corev1.PodReady, Status: status, LastTransitionTime: at},
	}
}

// DeletePod deletes a Pod with the given grace period. With no kubelet to
// finish a graceful deletion, a grace period above zero leaves the Pod
// Terminating (its endpoints stay in the slice, marked terminating and
// not ready) until the test deletes it again with zero.
func (c *Cluster) DeletePod(t testing.TB, namespace, name string, grace time.Duration) {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	secs := int64(grace / time.Second)
	if err := c.Kube.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &secs}); err != nil {
		t.Fatalf("delete pod %s/%s: %v", namespace, name, err)
	}
}

// CreateService creates a Service.
func (c *Cluster) CreateService(t testing.TB, svc *corev1.Service) *corev1.Service {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	got, err := c.Kube.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s/%s: %v", svc.Namespace, svc.Name, err)
	}
	return got
}

// Endpoints are a Service's endpoint addresses across its EndpointSlices,
// by condition.
type Endpoints struct {
	Ready, NotReady []string
}

// ServiceEndpoints reads the EndpointSlices of a Service and sorts their
// addresses into ready and not ready, each list sorted.
func (c *Cluster) ServiceEndpoints(namespace, service string) (Endpoints, error) {
	if err := c.checkAlive(); err != nil {
		return Endpoints{}, err
	}
	ctx, cancel := apiCtx()
	defer cancel()
	list, err := c.Kube.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service,
	})
	if err != nil {
		return Endpoints{}, err
	}
	var eps Endpoints
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			for _, a := range e.Addresses {
				if ready {
					eps.Ready = append(eps.Ready, a)
				} else {
					eps.NotReady = append(eps.NotReady, a)
				}
			}
		}
	}
	slices.Sort(eps.Ready)
	slices.Sort(eps.NotReady)
	return eps, nil
}

// WaitForEndpoints waits until a Service's slices hold exactly the ready
// addresses given (in any order), and returns how long that took.
func (c *Cluster) WaitForEndpoints(t testing.TB, namespace, service string, ready ...string) time.Duration {
	t.Helper()
	want := slices.Clone(ready)
	slices.Sort(want)
	return wait.For(t, wait.Long, fmt.Sprintf("ready endpoints of %s/%s to be %v", namespace, service, want), func() error {
		eps, err := c.ServiceEndpoints(namespace, service)
		if err != nil {
			return err
		}
		if !slices.Equal(eps.Ready, want) {
			return errors.New("ready endpoints are " + fmt.Sprint(eps.Ready))
		}
		return nil
	})
}
