package model

import (
	"slices"
	"sync"
)

// identityMemo holds each service's identities once computed. It is
// filled lazily because most hosts are never asked for (only clusters
// with Istio mTLS are), and it is shared by copies of a Snapshot
// (WithJWKS) since keys do not change identities.
type identityMemo = sync.Map

// ServiceIdentities returns the SPIFFE ids a client may accept from the
// workloads behind a service: one per service account of its endpoints
// (any port, any health: an endpoint becoming ready must not need new
// cluster TLS settings), in the mesh's trust domain and each of its
// aliases, as istiod computes them. Sorted; nil when no endpoint names a
// service account (DNS names, hand-written addresses). Computed once per
// snapshot and host: every cluster of a service (each port and subset, in
// every view) asks. The result is shared and must not be modified.
func (s *Snapshot) ServiceIdentities(hostname string) []string {
	if ids, ok := s.identities.Load(hostname); ok {
		return ids.([]string)
	}
	ids, _ := s.identities.LoadOrStore(hostname, s.serviceIdentities(hostname))
	return ids.([]string)
}

func (s *Snapshot) serviceIdentities(hostname string) []string {
	var accounts []string
	for _, e := range s.endpoints[hostname] {
		if e.ServiceAccount != "" {
			accounts = append(accounts, e.Namespace+"/sa/"+e.ServiceAccount)
		}
	}
	if len(accounts) == 0 {
		return nil
	}
	slices.Sort(accounts)
	accounts = slices.Compact(accounts)
	domains := append([]string{s.mesh.GetTrustDomain()}, s.mesh.GetTrustDomainAliases()...)
	out := make([]string, 0, len(accounts)*len(domains))
	for _, td := range domains {
		for _, a := range accounts {
			out = append(out, "spiffe://"+td+"/ns/"+a)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
