package netns

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// owned matches the names this package makes and captures the PID (base
// 36, five digits) of the process that made them.
var owned = regexp.MustCompile(`^` + Prefix + `([0-9a-z]{5})[0-9a-z]{2}`)

// sweep deletes namespaces and links whose creating process is gone:
// leftovers of a test binary that was killed before its cleanups ran.
// Those of live processes (a parallel run) are left alone.
func sweep() error {
	var errs []error
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(out), "\n") {
		// Lines read "NAME" or "NAME (id: N)".
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if orphan(name) {
			errs = append(errs, ip("netns", "del", name))
		}
	}
	out, err = exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(out), "\n") {
		// Lines read "N: NAME: <FLAGS> ..." or "N: NAME@PEER: ...".
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(fields[1], ":"), "@")
		if orphan(name) {
			errs = append(errs, ip("link", "del", name))
		}
	}
	return errors.Join(errs...)
}

// orphan reports whether name is one of ours and its creator is gone.
func orphan(name string) bool {
	m := owned.FindStringSubmatch(name)
	if m == nil {
		return false
	}
	pid, err := strconv.ParseInt(strings.TrimLeft(m[1], "0"), 36, 64)
	if err != nil {
		return false
	}
	_, err = os.Stat("/proc/" + strconv.FormatInt(pid, 10))
	return errors.Is(err, os.ErrNotExist)
}
