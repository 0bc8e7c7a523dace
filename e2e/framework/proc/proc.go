// Package proc runs the subprocesses of an end-to-end test (etcd,
// kube-apiserver, pilotlight, backends) so that none outlives the test:
// each runs in its own process group, is stopped group-wide by PID at the
// test's cleanup whether it passed or failed, and is killed by the kernel
// if the test process dies first. Output goes to a log file whose tail is
// shown when the test fails.
//
// It knows nothing about what it runs; the other framework packages build
// the command lines.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// defaultStopGrace is how long a process gets to exit after SIGTERM
// before the whole group is killed.
const defaultStopGrace = 10 * time.Second

// logTail is how many lines of a log a failed test shows.
const logTail = 40

// Spec describes a process to start.
type Spec struct {
	// Name identifies the process in logs and names its log file; it
	// must be unique within a test.
	Name string
	// Path and Args are the command line (Args without argv[0]).
	Path string
	Args []string
	// Env is added to the test's environment.
	Env []string
	// Dir is the working directory; the test's when empty.
	Dir string
	// StopGrace is how long Stop waits after SIGTERM before it kills the
	// group; ten seconds when zero.
	StopGrace time.Duration
}

// Process is a running (or exited) subprocess.
type Process struct {
	Spec    Spec
	LogPath string

	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error

	stopOnce sync.Once
}

// Start starts spec with its output in LOGDIR/NAME.log, where LOGDIR is
// logDir. The process is stopped when t ends; if t failed, the log's last
// lines are logged first.
func Start(t testing.TB, logDir string, spec Spec) *Process {
	t.Helper()
	p, err := start(logDir, spec)
	if err != nil {
		t.Fatalf("start %s: %v", spec.Name, err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("last lines of %s (%s):\n%s", spec.Name, p.LogPath, p.Tail(logTail))
		}
	})
	return p
}

func start(logDir string, spec Spec) (*Process, error) {
	logPath := filepath.Join(logDir, spec.Name+".log")
	// Appending keeps the output of earlier runs of a restarted process.
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "=== %s %s %s\n", time.Now().Format(time.RFC3339Nano), spec.Path, strings.Join(spec.Args, " "))
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Dir = spec.Dir
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// A group of its own, so Stop reaches the children too (ip netns
		// exec, go run, anything a peer forks).
		Setpgid: true,
		// If the test binary is killed, no cleanup runs; the kernel then
		// kills the child instead.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	p := &Process{Spec: spec, LogPath: logPath, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process id, which is also its process group id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited and, if so, how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM to the process group, waits up to a grace period for
// the process to exit, then kills the group. It may be called more than
// once and returns once the process is gone.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		pgid := p.PID()
		grace := p.Spec.StopGrace
		if grace <= 0 {
			grace = defaultStopGrace
		}
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
		// Whatever is left of the group (the leader, or children that
		// ignored SIGTERM) goes now.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	})
}

// Kill kills the process group at once, as a crash or OOM kill would.
func (p *Process) Kill() {
	p.stopOnce.Do(func() {
		_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
		<-p.done
	})
}

// Log returns everything the process has written so far.
func (p *Process) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	return string(b)
}

// Tail returns the last n lines of the log.
func (p *Process) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ExitError describes how an exited process ended, for messages; nil
// while it runs.
func (p *Process) ExitError() error {
	exited, err := p.Exited()
	if !exited {
		return nil
	}
	if err == nil {
		return errors.New(p.Spec.Name + " exited with status 0")
	}
	return fmt.Errorf("%s exited: %w", p.Spec.Name, err)
}

// While wraps the condition of a wait on the process (readiness, a log
// line) so that the test fails at once, with the log's tail, if the
// process has exited: the wait could only time out.
func (p *Process) While(t testing.TB, cond func() error) func() error {
	return func() error {
		if err := p.ExitError(); err != nil {
			t.Fatalf("%v; last lines of %s:\n%s", err, p.LogPath, p.Tail(20))
		}
		return cond()
	}
}

// PeakRSS is the process's peak resident memory in bytes so far (VmHWM
// of /proc/PID/status). It fails once the process has exited and been
// reaped, so read it while the process runs.
func (p *Process) PeakRSS() (int64, error) {
	path := fmt.Sprintf("/proc/%d/status", p.PID())
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in %s", path)
}
