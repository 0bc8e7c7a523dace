package main

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pilotlight/pilotlight/discovery/kube"
	"github.com/pilotlight/pilotlight/xds"
)

// kubeOptions are the flags of serve's Kubernetes mode, the default one.
type kubeOptions struct {
	kubeconfig             string
	watchNamespaces        []string
	meshConfigMapNamespace string
	qps                    float32
	burst                  int
}

func (o *kubeOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to serve (default: the in-cluster service account)")
	f.StringSliceVar(&o.watchNamespaces, "watch-namespaces", nil, "namespaces to watch, comma-separated (default: all)")
	f.StringVar(&o.meshConfigMapNamespace, "mesh-configmap-namespace", kube.DefaultMeshConfigMapNamespace,
		"namespace of ConfigMap \"istio\", whose key \"mesh\" holds the mesh config (unless --mesh-config is given)")
	f.Float32Var(&o.qps, "kube-qps", 100, "queries per second pilotlight may make to the Kubernetes API server")
	f.IntVar(&o.burst, "kube-burst", 200, "burst of queries above --kube-qps allowed to the Kubernetes API server")
}

var errNoCluster = errors.New("no Kubernetes API to read the mesh from: pilotlight is not running in a cluster " +
	"(KUBERNETES_SERVICE_HOST is not set) and no --kubeconfig was given. Pass --kubeconfig FILE for a cluster, " +
	"or --config-dir DIR to serve a directory of Kubernetes and Istio YAML, e.g. --config-dir deploy/examples/bookstore")

// restConfig returns how to reach the API server: --kubeconfig when given,
// else the in-cluster service account.
func (o *kubeOptions) restConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if o.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig: %w", err)
		}
	} else {
		cfg, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, errNoCluster
		}
		if err != nil {
			return nil, fmt.Errorf("in-cluster Kubernetes config: %w", err)
		}
	}
	cfg.QPS, cfg.Burst = o.qps, o.burst
	cfg.UserAgent = "pilotlight " + rest.DefaultKubernetesUserAgent()
	return cfg, nil
}

// newKubeSource builds the Kubernetes source. mesh is the --mesh-config
// file's content, or nil to follow the mesh ConfigMap.
func newKubeSource(cfg *rest.Config, o serveOptions, log *zap.Logger, mesh *meshv1alpha1.MeshConfig, reg prometheus.Registerer) (*kube.Source, error) {
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	ic, err := istioclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("istio client: %w", err)
	}
	return kube.New(kube.Options{
		Logger:                 log,
		Kube:                   kc,
		Istio:                  ic,
		Mesh:                   mesh,
		MeshConfigMapNamespace: o.kube.meshConfigMapNamespace,
		DomainSuffix:           o.domainSuffix,
		WatchNamespaces:        o.kube.watchNamespaces,
		Registry:               reg,
		// Secrets are read (and need RBAC) only when they are served.
		Secrets: o.readSecrets || o.serveGatewaySecrets,
	}), nil
}

// sourceHealth adapts the source's link state to the xDS server's hook.
func sourceHealth(src *kube.Source) func() xds.SourceStatus {
	return func() xds.SourceStatus {
		h := src.Health()
		st := xds.SourceStatus{Healthy: h.Connected, Since: h.Since}
		if err := h.Error(); err != nil {
			st.Message = err.Error()
		}
		return st
	}
}
