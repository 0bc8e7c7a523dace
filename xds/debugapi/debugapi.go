// Package debugapi holds the JSON shapes of the xDS server's debug
// endpoints (/debug/syncz, /debug/config_dump, /debug/problemz), so that
// the server that writes them and the CLI that reads them share one
// definition. It holds types only: no behaviour, no I/O.
package debugapi

import (
	"encoding/json"
	"time"

	"github.com/pilotlight/pilotlight/translate/model"
)

// Paths of the debug endpoints, relative to the debug HTTP root.
const (
	ReadyPath      = "/ready"
	SynczPath      = "/debug/syncz"
	ConfigDumpPath = "/debug/config_dump"
	ProblemzPath   = "/debug/problemz"
	// ProxyIDParam is the query parameter of ConfigDumpPath naming the proxy.
	ProxyIDParam = "proxyID"
)

// Status of one resource type of one proxy.
const (
	// StatusSynced: the last response sent was ACKed.
	StatusSynced = "SYNCED"
	// StatusNotSent: the proxy subscribed but nothing was sent yet.
	StatusNotSent = "NOT SENT"
	// StatusStale: a response was sent and is not ACKed yet, or was NACKed,
	// so the proxy runs an older version than the one it was sent.
	StatusStale = "STALE"
)

// SyncStatus is one connected proxy in /debug/syncz, which serves a JSON
// array of them sorted by proxy id.
type SyncStatus struct {
	Proxy     string `json:"proxy"`
	Namespace string `json:"namespace"`
	Flavor    string `json:"flavor"`
	// ClusterID and IstioVersion come from the node metadata (CLUSTER_ID,
	// ISTIO_VERSION); empty when the proxy did not send them.
	ClusterID    string `json:"cluster_id"`
	IstioVersion string `json:"istio_version"`
	// Identity is the SPIFFE id the stream proved on the TLS port, and
	// AuthenticatedBy how (kubernetes-token, client-certificate); both
	// empty on a plaintext stream.
	Identity        string `json:"identity,omitempty"`
	AuthenticatedBy string `json:"authenticated_by,omitempty"`
	// Protocol is "sotw" or "delta".
	Protocol    string    `json:"protocol"`
	ConnectedAt time.Time `json:"connected_at"`
	// Types is keyed by type URL.
	Types map[string]TypeStatus `json:"types"`
}

// TypeStatus is the state of one resource type of one proxy.
type TypeStatus struct {
	Status       string `json:"status"`
	SentVersion  string `json:"sent_version"`
	AckedVersion string `json:"acked_version"`
	SentNonce    string `json:"sent_nonce"`
	// LastNACK is the last rejection that no later ACK has cleared.
	LastNACK *NACK `json:"last_nack"`
	// Resources is how many resources of the type the proxy holds after
	// the last response.
	Resources int `json:"resources"`
}

// NACK is one rejected response.
type NACK struct {
	Version string    `json:"version"`
	Nonce   string    `json:"nonce"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

// ConfigDump is what /debug/config_dump?proxyID=ID serves: every resource
// the proxy was last sent, per type URL, each rendered as protojson with
// its "@type".
type ConfigDump struct {
	Proxy     string                       `json:"proxy"`
	Resources map[string][]json.RawMessage `json:"resources"`
}

// Problem is one entry of /debug/problemz, which serves a JSON array.
type Problem = model.Problem
