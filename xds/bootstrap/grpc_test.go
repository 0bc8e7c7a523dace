package bootstrap

import (
	"strings"
	"testing"
	"time"
)

// The command line cannot produce these (it makes --cert-dir absolute and
// always has a refresh interval), but callers of GRPC can.
func TestGRPCCertificateFilesErrors(t *testing.T) {
	node := Node{ID: "sidecar~10.1.2.3~ratings-v1.bookstore~bookstore.svc.cluster.local"}
	for _, tc := range []struct {
		name  string
		certs CertificateFiles
		want  string
	}{
		{"relative directory", CertificateFiles{Dir: "certs", Refresh: time.Minute}, "want an absolute path"},
		{"no refresh", CertificateFiles{Dir: "/certs"}, "want a positive duration"},
		{"negative refresh", CertificateFiles{Dir: "/certs", Refresh: -time.Second}, "want a positive duration"},
		{"refresh without directory", CertificateFiles{Refresh: time.Minute}, "needs a certificate directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := GRPCWithCertificates(node, "localhost:15010", tc.certs); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Fractions of a second keep their precision in the Duration's JSON form.
func TestGRPCRefreshInterval(t *testing.T) {
	node := Node{ID: "sidecar~10.1.2.3~ratings-v1.bookstore~bookstore.svc.cluster.local"}
	out, err := GRPCWithCertificates(node, "localhost:15010", CertificateFiles{Dir: "/certs", Refresh: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"refresh_interval": "1.5s"`) {
		t.Errorf("bootstrap does not say refresh_interval 1.5s:\n%s", out)
	}
}
