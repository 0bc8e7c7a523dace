// Package ports picks free loopback ports for the processes of an
// end-to-end test, which take their ports as flags and cannot report a
// port the kernel chose.
package ports

import (
	"net"
	"strconv"
	"testing"
)

// Free returns a loopback port that was free a moment ago. Another process
// could take it before the peer binds it; on a test machine that is rare,
// and the peer then fails loudly rather than silently.
func Free(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr is Free as a loopback address, "127.0.0.1:PORT", the form the
// peers' address flags take.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(Free(t))
}
