package proc

import (
	"errors"
	"fmt"
	"os"
	"runtime"
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

// fatalRecorder stands in for a test whose Fatalf ends the goroutine
// that calls it, as testing's does, and keeps the message.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestWhile: the wrapped condition is asked while the process runs, and a
// process that exited fails the test at once, with its log.
func TestWhile(t *testing.T) {
	dir := t.TempDir()
	alive := Start(t, dir, Spec{Name: "sleep", Path: "/bin/sleep", Args: []string{"300"}, StopGrace: 100 * time.Millisecond})
	want := errors.New("not yet")
	if err := alive.While(t, func() error { return want })(); err != want {
		t.Errorf("While on a running process = %v, want the condition's %v", err, want)
	}

	dead := Start(t, dir, Spec{Name: "exits", Path: "/bin/sh", Args: []string{"-c", "echo goodbye; exit 3"}})
	<-dead.Done()
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = dead.While(rec, func() error {
			t.Error("the condition was asked although the process had exited")
			return nil
		})()
	}()
	<-done
	if !strings.Contains(rec.msg, "exit status 3") || !strings.Contains(rec.msg, "goodbye") {
		t.Errorf("While on an exited process failed with %q, want its exit status and log", rec.msg)
	}
}

// TestPeakRSS: a running sleep's peak memory reads in bytes (a sleep
// needs some hundreds of KiB to some MiB; a figure left in kB would be
// a thousand times smaller), and an exited, reaped process has none.
func TestPeakRSS(t *testing.T) {
	p := Start(t, t.TempDir(), Spec{Name: "sleep", Path: "/bin/sleep", Args: []string{"300"}, StopGrace: 100 * time.Millisecond})
	// Until the exec, the child is a copy of this test binary.
	comm := "/proc/" + strconv.Itoa(p.PID()) + "/comm"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(comm); strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sleep never started")
		}
	}
	// The kernel reports kB; the peak only grows, so the bytes PeakRSS
	// returns lie between 1024 × what /proc said before and after. (A
	// fixed range fails: just after exec a sleep's peak is a few pages.)
	before := vmHWMKiB(t, p.PID())
	rss, err := p.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	after := vmHWMKiB(t, p.PID())
	if before == 0 || rss < before<<10 || rss > after<<10 {
		t.Errorf("PeakRSS of a sleep = %d bytes, want between %d and %d (VmHWM %d..%d kB)", rss, before<<10, after<<10, before, after)
	}
	p.Stop()
	if rss, err := p.PeakRSS(); err == nil {
		t.Errorf("PeakRSS after Stop = %d, want an error", rss)
	}
}

// vmHWMKiB reads a process's peak resident set in kB, as the kernel
// reports it.
func vmHWMKiB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
