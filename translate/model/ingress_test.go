package model

import (
	"strings"
	"testing"
)

func TestParseIngressEndpoint(t *testing.T) {
	for in, want := range map[string]IngressEndpoint{
		"":                     {},
		"127.0.0.1:8080":       {Host: "127.0.0.1", Port: 8080},
		"0.0.0.0:9000":         {Host: "0.0.0.0", Port: 9000},
		"[::1]:80":             {Host: "::1", Port: 80},
		"[::]:80":              {Host: "::", Port: 80},
		"unix:///var/run/sock": {UnixPath: "/var/run/sock"},
	} {
		got, err := ParseIngressEndpoint(in)
		if err != nil || got != want {
			t.Errorf("ParseIngressEndpoint(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"unix://":        "names no socket path",
		"localhost":      "is not HOST:PORT",
		"127.0.0.1:0":    "is not in 1-65535",
		"127.0.0.1:http": "is not in 1-65535",
		"10.0.0.1:80":    "host must be",
	} {
		if _, err := ParseIngressEndpoint(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseIngressEndpoint(%q) error = %v, want one saying %q", in, err, msg)
		}
	}
}
