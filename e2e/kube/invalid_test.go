package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/pilotlight/pilotlight/e2e/framework/wait"
	"github.com/pilotlight/pilotlight/xds/debugapi"
)

// routeToV2 sends every call to echo's subset v2.
const routeToV2 = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: echo
spec:
  host: echo.shop.svc.cluster.local
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: echo
spec:
  hosts: [echo.shop.svc.cluster.local]
  http:
  - route:
    - destination:
        host: echo.shop.svc.cluster.local
        subset: v2
`

// duplicateSubsets is the same DestinationRule with subset v2 named twice
// (the second time selecting v1): the CRD's schema accepts it, pilotlight
// must not, since which of the two a route means is anyone's guess.
const duplicateSubsets = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: echo
spec:
  host: echo.shop.svc.cluster.local
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
  - name: v2
    labels: {version: v1}
`

// TestInvalidIstioObject applies Istio configuration through the API
// server, then breaks it: the broken object is reported in the log, on
// /debug/problemz and in the metrics, and calls keep following the last
// good version.
func TestInvalidIstioObject(t *testing.T) {
	e := newEnv(t)
	c := e.cluster
	const ns = "shop"
	cp, client := e.echoVersions(t, ns)

	c.Apply(t, ns, []byte(routeToV2))
	client.WaitForBackends(t, wait.Short, "echo-v2")
	if p := problems(t, cp); len(p) != 0 {
		t.Fatalf("problems before anything is broken: %v", p)
	}

	c.Apply(t, ns, []byte(duplicateSubsets))
	wait.For(t, wait.Short, "the broken DestinationRule to be reported", func() error {
		var found []string
		for _, p := range problems(t, cp) {
			if p.Kind == "DestinationRule" && p.Namespace == ns && p.Name == "echo" {
				found = append(found, p.String())
			}
		}
		if len(found) == 0 {
			return errors.New("not on /debug/problemz")
		}
		if !strings.Contains(strings.Join(found, "\n"), "subsets[2]") {
			return fmt.Errorf("reported without the offending field: %v", found)
		}
		log := cp.Process().Log()
		if !strings.Contains(grep(log, "config problem"), "shop/echo") {
			return errors.New("not logged")
		}
		m, err := cp.Metrics()
		if err != nil {
			return err
		}
		if n := m.Sum("pilotlight_config_problems", "kind", "DestinationRule", "severity", "error"); n < 1 {
			return fmt.Errorf("pilotlight_config_problems{kind=DestinationRule,severity=error} = %v, want ≥ 1", n)
		}
		return nil
	})
	if got := client.Sample(30); len(got) != 1 || got["echo-v2"] != 30 {
		t.Errorf("with the broken DestinationRule, calls reached %v; want echo-v2 only (the last good version)", got)
	}

	// 'pilotlight analyze --kubeconfig' reads the cluster as serve does,
	// with pilotlight's own RBAC, and fails on the error.
	out, err := exec.Command(cp.bin, "analyze", "--kubeconfig", cp.kubeconfig).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "DestinationRule shop/echo") {
		t.Errorf("analyze --kubeconfig: %v, want exit status 1 naming DestinationRule shop/echo:\n%s", err, out)
	}

	c.Apply(t, ns, []byte(routeToV2))
	wait.For(t, wait.Short, "the fixed DestinationRule to leave /debug/problemz", func() error {
		if p := problems(t, cp); len(p) != 0 {
			return fmt.Errorf("still reported: %v", p)
		}
		m, err := cp.Metrics()
		if err != nil {
			return err
		}
		if n := m.Sum("pilotlight_config_problems"); n != 0 {
			return fmt.Errorf("pilotlight_config_problems still counts %v", n)
		}
		return nil
	})
	client.WaitForBackends(t, wait.Short, "echo-v2")
}

// problems reads /debug/problemz.
func problems(t *testing.T, cp *controlPlane) []debugapi.Problem {
	t.Helper()
	code, body, err := cp.Get(debugapi.ProblemzPath)
	if err != nil || code != 200 {
		t.Fatalf("/debug/problemz: %d %v", code, err)
	}
	var p []debugapi.Problem
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("/debug/problemz: %v: %s", err, body)
	}
	return p
}
