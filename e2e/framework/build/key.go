package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// cacheKey names one build of a tool: the module's go.mod and go.sum
// (which pin every version that goes into the binaries), the Go toolchain
// and platform, and what is built from them. Anything else that changes
// leaves the cached binaries valid.
func cacheKey(ctx context.Context, modDir string, tool Tool) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(modDir, f))
		if err != nil {
			return "", fmt.Errorf("tool module %s: %w", tool.Dir, err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	cmd := exec.CommandContext(ctx, "go", "env", "GOVERSION", "GOOS", "GOARCH")
	cmd.Dir = modDir
	env, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	h.Write(env)
	names := make([]string, 0, len(tool.Binaries))
	for name := range tool.Binaries {
		names = append(names, name+"="+tool.Binaries[name])
	}
	slices.Sort(names)
	h.Write([]byte(strings.Join(names, "\n")))
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
