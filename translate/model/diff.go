package model

// Diff says what changed between two Snapshots. Each set holds the keys of
// items that were added, removed or modified.
type Diff struct {
	// Full is set when there is no previous snapshot to compare with.
	Full       bool
	Mesh       bool
	Namespaces map[string]struct{}
	Services   map[string]struct{}
	Endpoints  map[string]struct{}
	Configs    map[ConfigKey]struct{}
	// Credentials are TLS credentials (Secrets) whose bytes changed.
	Credentials map[CredentialKey]struct{}
	// JWKS are the JWKS sources whose fetched keys changed.
	JWKS map[string]struct{}
}

// Empty reports whether nothing changed.
func (d Diff) Empty() bool {
	return !d.Full && !d.Mesh && len(d.Namespaces) == 0 && len(d.Services) == 0 &&
		len(d.Endpoints) == 0 && len(d.Configs) == 0 && len(d.Credentials) == 0 && len(d.JWKS) == 0
}

// EndpointsOnly reports whether the only changes are endpoint changes, which
// need an EDS push and nothing else.
func (d Diff) EndpointsOnly() bool {
	return !d.Full && !d.Mesh && len(d.Namespaces) == 0 && len(d.Services) == 0 &&
		len(d.Configs) == 0 && len(d.Credentials) == 0 && len(d.JWKS) == 0 && len(d.Endpoints) > 0
}

// CredentialsOnly reports whether the only changes are to TLS
// credentials, which only the secrets built from them depend on.
func (d Diff) CredentialsOnly() bool {
	return !d.Full && !d.Mesh && len(d.Namespaces) == 0 && len(d.Services) == 0 &&
		len(d.Configs) == 0 && len(d.Endpoints) == 0 && len(d.JWKS) == 0 && len(d.Credentials) > 0
}

// DiffSnapshots compares two snapshots by their per-item content hashes. A
// nil old snapshot yields a Full diff.
func DiffSnapshots(old, cur *Snapshot) Diff {
	if old == nil {
		return Diff{Full: true}
	}
	return Diff{
		Mesh:        old.meshHash != cur.meshHash,
		Namespaces:  changedKeys(old.nsHash, cur.nsHash),
		Services:    changedKeys(old.serviceHash, cur.serviceHash),
		Endpoints:   changedKeys(old.endpointHash, cur.endpointHash),
		Configs:     changedKeys(old.configHash, cur.configHash),
		Credentials: changedKeys(old.credHash, cur.credHash),
		JWKS:        changedKeys(old.jwksHash, cur.jwksHash),
	}
}

func changedKeys[K comparable](a, b map[K]uint64) map[K]struct{} {
	out := map[K]struct{}{}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out[k] = struct{}{}
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out[k] = struct{}{}
		}
	}
	return out
}
