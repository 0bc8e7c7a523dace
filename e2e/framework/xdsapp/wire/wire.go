// Package wire is what cmd/e2e-xds and the tests that run it agree on:
// the response headers in which its server reports the connection a call
// came on, and the JSON line its client prints per call. It has no
// dependencies so that the command links nothing of the test framework.
package wire

import "crypto/x509"

// Response headers in which the server reports what it saw of the
// connection a call came on.
const (
	// HeaderSecurity is SecurityTLS or SecurityInsecure.
	HeaderSecurity = "x-peer-security"
	// HeaderPeerID is the SPIFFE id of the client's certificate, empty
	// without one.
	HeaderPeerID = "x-peer-spiffe-id"
	// HeaderPeerSerial is the client certificate's Serial, empty without
	// one.
	HeaderPeerSerial = "x-peer-serial"
)

// How a connection is protected.
const (
	SecurityTLS      = "tls"
	SecurityInsecure = "insecure"
)

// Result is the JSON line the client prints for each call.
type Result struct {
	// Backend is the server's name; empty when the call failed.
	Backend string `json:"backend,omitempty"`
	// Code is the call's status code (as codes.Code prints it) and Error
	// its message.
	Code  string `json:"code"`
	Error string `json:"error,omitempty"`
	// Security, ServerID and ServerSerial are what the client saw of the
	// connection: how it is protected, and the server certificate's
	// SPIFFE id and Serial.
	Security     string `json:"security,omitempty"`
	ServerID     string `json:"server_id,omitempty"`
	ServerSerial string `json:"server_serial,omitempty"`
	// SeenSecurity, SeenClientID and SeenClientSerial are what the
	// server saw: how the connection is protected and the client
	// certificate it was given, if any.
	SeenSecurity     string `json:"seen_security,omitempty"`
	SeenClientID     string `json:"seen_client_id,omitempty"`
	SeenClientSerial string `json:"seen_client_serial,omitempty"`
}

// Serial is how certificates are told apart in headers and results: the
// serial number in hexadecimal.
func Serial(c *x509.Certificate) string { return c.SerialNumber.Text(16) }

// ServingModeLine starts the line the server prints whenever its serving
// mode changes, followed by the mode (SERVING, NOT_SERVING).
const ServingModeLine = "serving mode: "
