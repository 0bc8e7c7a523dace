package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/pilotlight/pilotlight/discovery/file"
	"github.com/pilotlight/pilotlight/discovery/kube"
	"github.com/pilotlight/pilotlight/translate/analyze"
	"github.com/pilotlight/pilotlight/translate/model"
)

func newAnalyzeCommand() *cobra.Command {
	var dir, meshConfig, domainSuffix, kubeconfig string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "analyze (-f DIR | --kubeconfig FILE)",
		Short: "Check a directory of Kubernetes and Istio YAML, or a cluster, the way serve would load it",
		Long: `Load DIR as 'pilotlight serve --config-dir DIR' would and list every object
pilotlight cannot use, or uses only in part, naming the file, the object
and the field; then analyse what loaded: references to hosts and subsets
that do not exist, conflicting VirtualServices, and fields pilotlight does
not carry out (each with a code and, where obvious, a fix). Exits with
status 1 if any problem is an error; warnings alone do not fail.

With --kubeconfig, read the cluster instead, as 'serve --kubeconfig'
would: wait for every informer to sync, analyse that state, and exit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mesh, err := loadMeshConfig(meshConfig)
			if err != nil {
				return err
			}
			var snap *model.Snapshot
			var problems []model.Problem
			where := dir
			switch {
			case dir != "" && kubeconfig != "":
				return errors.New("-f and --kubeconfig exclude each other: analyse either a directory or a cluster")
			case dir != "":
				src := file.New(dir, file.Options{Logger: zap.NewNop(), Mesh: mesh, DomainSuffix: domainSuffix})
				if snap, problems, err = src.Load(); err != nil {
					return err
				}
			case kubeconfig != "":
				if meshConfig == "" {
					mesh = nil // Follow the cluster's mesh ConfigMap, as serve does.
				}
				where = "the cluster"
				if snap, problems, err = loadCluster(cmd.Context(), kubeconfig, mesh, domainSuffix, timeout); err != nil {
					return err
				}
			default:
				return errors.New("say what to analyse: -f DIR or --kubeconfig FILE")
			}
			problems = append(problems, analyze.Run(snap)...)
			return reportProblems(cmd.OutOrStdout(), where, snap, problems)
		},
	}
	cmd.Flags().StringVarP(&dir, "filename", "f", "", "directory of Kubernetes and Istio YAML")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of a cluster to analyse instead of a directory")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "with --kubeconfig, how long to wait for the cluster's state")
	cmd.Flags().StringVar(&meshConfig, "mesh-config", "", "Istio MeshConfig YAML file (default: Istio's defaults)")
	cmd.Flags().StringVar(&domainSuffix, "domain-suffix", "cluster.local", "the cluster's DNS domain")
	return cmd
}

// reportProblems prints one line per problem and a summary, and fails
// (exit status 1, nothing more to print) when any problem is an error.
func reportProblems(w io.Writer, dir string, snap *model.Snapshot, problems []model.Problem) error {
	errs := 0
	for _, p := range problems {
		severity := "Warning"
		if !p.Warning {
			severity = "Error"
			errs++
		}
		fmt.Fprintf(w, "%s: %s\n", severity, p.String())
	}
	if len(problems) == 0 {
		fmt.Fprintf(w, "No problems found in %s.\n", dir)
	} else {
		fmt.Fprintf(w, "%d errors, %d warnings in %s.\n", errs, len(problems)-errs, dir)
	}
	if snap != nil {
		services, endpoints, configs := snap.Counts()
		fmt.Fprintf(w, "Loaded services: %d, endpoints: %d, Istio configs: %d.\n", services, endpoints, configs)
	}
	if errs > 0 {
		return exitError{code: 1}
	}
	return nil
}

// loadMeshConfig reads --mesh-config; no file means Istio's defaults.
func loadMeshConfig(path string) (*meshv1alpha1.MeshConfig, error) {
	if path == "" {
		return model.DefaultMeshConfig(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--mesh-config: %w", err)
	}
	mesh, err := model.ParseMeshConfig(data)
	if err != nil {
		return nil, fmt.Errorf("--mesh-config %s: %w", path, err)
	}
	return mesh, nil
}

// loadCluster reads a cluster's mesh the way serve does and returns the
// first state the Kubernetes source publishes, once every informer has
// synced.
func loadCluster(ctx context.Context, kubeconfig string, mesh *meshv1alpha1.MeshConfig, domainSuffix string, timeout time.Duration) (*model.Snapshot, []model.Problem, error) {
	o := serveOptions{domainSuffix: domainSuffix}
	o.kube.kubeconfig = kubeconfig
	o.kube.meshConfigMapNamespace = kube.DefaultMeshConfigMapNamespace
	o.kube.qps, o.kube.burst = 100, 200
	cfg, err := o.kube.restConfig()
	if err != nil {
		return nil, nil, err
	}
	src, err := newKubeSource(cfg, o, zap.NewNop(), mesh, nil)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type state struct {
		snap     *model.Snapshot
		problems []model.Problem
	}
	first := make(chan state, 1)
	go func() {
		_ = src.Run(ctx, func(snap *model.Snapshot, problems []model.Problem) {
			select {
			case first <- state{snap, problems}:
			default:
			}
			cancel()
		})
	}()
	select {
	case s := <-first:
		return s.snap, s.problems, nil
	case <-ctx.Done():
		select {
		case s := <-first:
			return s.snap, s.problems, nil
		default:
		}
		return nil, nil, fmt.Errorf("the cluster's state did not load within %v (is the API server reachable, and may this kubeconfig list Services, Pods and Istio's CRDs?)", timeout)
	}
}
