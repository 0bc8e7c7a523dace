package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"

	securityv1beta1 "istio.io/api/security/v1beta1"
)

// OpenIDConfigPath is where an issuer publishes its OpenID discovery
// document, which names its jwks_uri.
const OpenIDConfigPath = "/.well-known/openid-configuration"

// JWKSSource is where the keys of a JWT rule come from when it does not
// inline them: its jwksUri, or else its issuer's OpenID discovery
// document. Empty when the rule inlines its keys.
func JWKSSource(rule *securityv1beta1.JWTRule) string {
	switch {
	case rule.GetJwks() != "":
		return ""
	case rule.GetJwksUri() != "":
		return rule.GetJwksUri()
	}
	return strings.TrimSuffix(rule.GetIssuer(), "/") + OpenIDConfigPath
}

// AsRequestAuthentication returns the config's spec, or an empty one if
// the config is of another kind.
func AsRequestAuthentication(c *Config) *securityv1beta1.RequestAuthentication {
	if ra, ok := c.Spec.(*securityv1beta1.RequestAuthentication); ok {
		return ra
	}
	return &securityv1beta1.RequestAuthentication{}
}

// JWKSSources lists, sorted, every source some RequestAuthentication
// needs keys from: what a JWKS fetcher keeps fresh.
func (s *Snapshot) JWKSSources() []string {
	seen := map[string]bool{}
	for _, c := range s.configs[KindRequestAuthentication] {
		for _, r := range AsRequestAuthentication(c).GetJwtRules() {
			if src := JWKSSource(r); src != "" {
				seen[src] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// JWKSTimeout is how long fetching a source may take by the rules that
// name it: the longest timeout any of them sets, or 0 when none sets one.
func (s *Snapshot) JWKSTimeout(source string) time.Duration {
	var longest time.Duration
	for _, c := range s.configs[KindRequestAuthentication] {
		for _, r := range AsRequestAuthentication(c).GetJwtRules() {
			if JWKSSource(r) == source && r.GetTimeout() != nil {
				longest = max(longest, r.GetTimeout().AsDuration())
			}
		}
	}
	return longest
}

// JWKS returns the key set (a JWKS document) last fetched from a source.
func (s *Snapshot) JWKS(source string) (string, bool) {
	keys, ok := s.jwks[source]
	return keys, ok
}

// WithJWKS returns a Snapshot with the same content as s plus the key
// sets fetched for its JWKS sources (source → JWKS document). Keys are
// part of the content: the version and Diff see a change of keys like any
// other change. s itself is not modified.
func (s *Snapshot) WithJWKS(keys map[string]string) *Snapshot {
	out := *s
	out.jwks = maps.Clone(keys)
	out.jwksHash = make(map[string]uint64, len(keys))
	for src, doc := range keys {
		h := fnv.New64a()
		h.Write([]byte(doc))
		out.jwksHash[src] = h.Sum64()
	}
	out.Version = out.contentVersion()
	return &out
}

// CheckJWKS says why a document is not a JSON Web Key Set with at least
// one key, or returns nil. Envoy rejects inline keys that are not.
func CheckJWKS(doc string) error {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal([]byte(doc), &set); err != nil {
		return fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	if len(set.Keys) == 0 {
		return errors.New("the key set has no keys")
	}
	return nil
}
