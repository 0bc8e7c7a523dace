package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/pilotlight/pilotlight/discovery/file"
	"github.com/pilotlight/pilotlight/translate/analyze"
	"github.com/pilotlight/pilotlight/translate/model"
)

func newAnalyzeCommand() *cobra.Command {
	var dir, meshConfig, domainSuffix string
	cmd := &cobra.Command{
		Use:   "analyze -f DIR",
		Short: "Check a directory of Kubernetes and Istio YAML the way serve would load it",
		Long: `Load DIR as 'pilotlight serve --config-dir DIR' would and list every object
pilotlight cannot use, or uses only in part, naming the file, the object
and the field; then analyse what loaded: references to hosts and subsets
that do not exist, conflicting VirtualServices, and fields pilotlight does
not carry out (each with a code and, where obvious, a fix). Exits with
status 1 if any problem is an error; warnings alone do not fail.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mesh, err := loadMeshConfig(meshConfig)
			if err != nil {
				return err
			}
			src := file.New(dir, file.Options{Logger: zap.NewNop(), Mesh: mesh, DomainSuffix: domainSuffix})
			snap, problems, err := src.Load()
			if err != nil {
				return err
			}
			problems = append(problems, analyze.Run(snap)...)
			return reportProblems(cmd.OutOrStdout(), dir, snap, problems)
		},
	}
	cmd.Flags().StringVarP(&dir, "filename", "f", "", "directory of Kubernetes and Istio YAML (required)")
	cmd.Flags().StringVar(&meshConfig, "mesh-config", "", "Istio MeshConfig YAML file (default: Istio's defaults)")
	cmd.Flags().StringVar(&domainSuffix, "domain-suffix", "cluster.local", "the cluster's DNS domain")
	if err := cmd.MarkFlagRequired("filename"); err != nil {
		panic(err)
	}
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
