package proc

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStopReachesChildren checks that Stop ends the whole process group,
// not only the process it started: peers run under wrappers (ip netns
// exec, shells) whose children must not outlive the test.
func TestStopReachesChildren(t *testing.T) {
	dir := t.TempDir()
	// The shell ignores SIGTERM and starts a child that prints its PID;
	// only the group-wide SIGKILL after the grace period can end both.
	p := Start(t, dir, Spec{Name: "sh", Path: "/bin/sh", Args: []string{"-c", `trap "" TERM; sleep 300 & echo child $!; wait`},
		StopGrace: 200 * time.Millisecond})
	var child int
	deadline := time.Now().Add(10 * time.Second)
	for child == 0 && time.Now().Before(deadline) {
		for _, line := range strings.Split(p.Log(), "\n") {
			if v, ok := strings.CutPrefix(line, "child "); ok {
				child, _ = strconv.Atoi(v)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if child == 0 {
		t.Fatalf("child PID never printed; log:\n%s", p.Log())
	}
	p.Stop()
	if exited, _ := p.Exited(); !exited {
		t.Fatal("Stop returned before the process exited")
	}
	// The child was reparented when the shell died; whether its new parent
	// has reaped it yet or not, it must be dead (gone, or a zombie).
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(child) + "/stat")
		if errors.Is(err, os.ErrNotExist) || strings.Contains(string(stat), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("child %d outlived Stop", child)
}

func TestLogKeepsOutputAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	for _, word := range []string{"first", "second"} {
		p := Start(t, dir, Spec{Name: "echo", Path: "/bin/echo", Args: []string{word}})
		<-p.Done()
		if err := p.ExitError(); err == nil || !strings.Contains(err.Error(), "status 0") {
			t.Fatalf("ExitError = %v, want a clean exit reported", err)
		}
	}
	b, err := os.ReadFile(dir + "/echo.log")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "first") || !strings.Contains(string(b), "second") {
		t.Fatalf("log lost a run:\n%s", b)
	}
}
