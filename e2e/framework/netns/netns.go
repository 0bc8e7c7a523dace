// Package netns gives the Pods of an end-to-end test real, non-loopback
// addresses. kube-apiserver rejects loopback addresses in EndpointSlices,
// so each Pod gets a Linux network namespace with one end of a veth pair,
// the other end on a bridge per test that also carries an address of the
// host. The host (pilotlight, the test's clients) reaches every Pod
// through the bridge; a Pod's backend runs inside its namespace under
// 'ip netns exec'.
//
// Addresses come from PodRange, which exists only inside the tests: each
// Network takes one /24 of its lower half, held with a lock file so that
// parallel test processes never share one. Pods have no default route, so
// nothing they run can send traffic anywhere but the bridge.
//
// Every name starts with Prefix and carries the creating process's PID.
// New first removes what earlier test processes left behind when they
// were killed before their cleanup ran, and only what belongs to
// processes that are gone.
//
// It needs root and iproute2's ip command.
package netns

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// Prefix starts the name of every link and namespace this package makes.
const Prefix = "plt"

// PodRange is the test-only range Pod addresses come from. Subnets for
// Networks are 10.244.0.0/24 to 10.244.127.0/24; the upper half is left
// to tests that write addresses into EndpointSlices without sending them
// traffic (see FakeRange).
var PodRange = netip.MustParsePrefix("10.244.0.0/16")

// FakeRange is the upper half of PodRange: addresses for hand-written
// EndpointSlices that nothing ever connects to. No Network routes it.
var FakeRange = netip.MustParsePrefix("10.244.128.0/17")

// subnets is how many /24s of PodRange Networks may take.
const subnets = 128

// lockDir holds one lock file per subnet in use.
const lockDir = "/run/pilotlight-e2e"

// seq numbers the Networks of this process, so names stay unique across
// the tests of one run.
var seq atomic.Int32

// Network is a bridge with a /24 of PodRange, the host's address on it
// and the Pod namespaces attached to it.
type Network struct {
	// ID starts the names of everything that belongs to the Network.
	ID string
	// Bridge is the bridge's link name.
	Bridge string
	// Subnet is the Network's part of PodRange.
	Subnet netip.Prefix
	// Host is the host's address on the bridge.
	Host netip.Addr

	lock *os.File
	mu   sync.Mutex
	next int
}

// Check reports why this machine cannot run the tests that need network
// namespaces, or nil if it can.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root (CI runs the e2e tests as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("the ip command (iproute2) is missing: apt-get install iproute2")
	}
	return nil
}

// New creates a Network for t and removes it when t ends.
func New(t testing.TB) *Network {
	t.Helper()
	if err := Check(); err != nil {
		t.Fatal(err)
	}
	if err := sweep(); err != nil {
		t.Logf("netns: removing leftovers of earlier runs: %v", err)
	}
	lock, subnet, err := claimSubnet()
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%s%05s%02s", Prefix, strconv.FormatInt(int64(os.Getpid()), 36), strconv.FormatInt(int64(seq.Add(1)%1296), 36))
	n := &Network{ID: id, Bridge: id + "b", Subnet: subnet, Host: subnet.Addr().Next(), lock: lock, next: 2}
	t.Cleanup(n.remove)
	// A leftover route from a crashed run for this subnet would steal its
	// traffic; sweep removed the links that carried such routes.
	err = run(
		[]string{"link", "add", n.Bridge, "type", "bridge"},
		[]string{"addr", "add", netip.PrefixFrom(n.Host, subnet.Bits()).String(), "dev", n.Bridge},
		[]string{"link", "set", n.Bridge, "up"},
	)
	if err != nil {
		t.Fatalf("netns: bridge: %v", err)
	}
	return n
}

// remove deletes the bridge and frees the subnet. Namespaces are removed
// by their own cleanups, which run first.
func (n *Network) remove() {
	_ = ip("link", "del", n.Bridge)
	n.lock.Close()
}

// Namespace is a network namespace with one address on a Network.
type Namespace struct {
	// Name is the namespace's name for 'ip netns'.
	Name string
	// Addr is its address, reachable from the host.
	Addr netip.Addr
	// HostLink is the host end of its veth pair.
	HostLink string
}

// Add creates a namespace with the next free address of the Network and
// removes it when t ends. Processes started in it afterwards are stopped
// before it is removed (cleanups run last-in first-out).
func (n *Network) Add(t testing.TB) *Namespace {
	t.Helper()
	n.mu.Lock()
	idx := n.next
	n.next++
	n.mu.Unlock()
	// .0 is the subnet, .1 the host, .255 the broadcast address.
	if idx > 254 {
		t.Fatalf("netns: network %s is full", n.Subnet)
	}
	a := n.Subnet.Addr().As4()
	a[3] = byte(idx)
	addr := netip.AddrFrom4(a)
	suffix := strconv.FormatInt(int64(idx), 36)
	ns := &Namespace{Name: n.ID + "-" + suffix, Addr: addr, HostLink: n.ID + "h" + suffix}
	peer := n.ID + "p" + suffix
	t.Cleanup(func() {
		_ = ip("netns", "del", ns.Name)
		_ = ip("link", "del", ns.HostLink)
	})
	err := run(
		[]string{"netns", "add", ns.Name},
		[]string{"link", "add", ns.HostLink, "type", "veth", "peer", "name", peer, "netns", ns.Name},
		[]string{"link", "set", ns.HostLink, "master", n.Bridge, "up"},
		[]string{"-n", ns.Name, "link", "set", peer, "name", "eth0"},
		[]string{"-n", ns.Name, "addr", "add", netip.PrefixFrom(addr, n.Subnet.Bits()).String(), "dev", "eth0"},
		[]string{"-n", ns.Name, "link", "set", "eth0", "up"},
		[]string{"-n", ns.Name, "link", "set", "lo", "up"},
	)
	if err != nil {
		t.Fatalf("netns: namespace %s: %v", ns.Name, err)
	}
	return ns
}

// Command returns the command line that runs path with args inside the
// namespace, for proc.Spec's Path and Args.
func (ns *Namespace) Command(path string, args ...string) (string, []string) {
	return "ip", append([]string{"netns", "exec", ns.Name, path}, args...)
}

// claimSubnet takes the first /24 of PodRange's lower half that no other
// live process holds. The lock is an flock, which the kernel releases when
// its holder dies, so a crashed run never strands a subnet.
func claimSubnet() (*os.File, netip.Prefix, error) {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return nil, netip.Prefix{}, err
	}
	base := PodRange.Addr().As4()
	for i := range subnets {
		f, err := os.OpenFile(filepath.Join(lockDir, fmt.Sprintf("subnet-%d.lock", i)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, netip.Prefix{}, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		a := base
		a[2] = byte(i)
		return f, netip.PrefixFrom(netip.AddrFrom4(a), 24), nil
	}
	return nil, netip.Prefix{}, fmt.Errorf("netns: all %d subnets of %s are in use", subnets, PodRange)
}

// run runs ip once per argument list, stopping at the first failure.
func run(cmds ...[]string) error {
	for _, args := range cmds {
		if err := ip(args...); err != nil {
			return err
		}
	}
	return nil
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
