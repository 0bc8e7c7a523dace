package ca

import (
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Caller is an authenticated identity: a Kubernetes service account in a
// trust domain.
type Caller struct {
	// ID is spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT.
	ID             spiffeid.ID
	Namespace      string
	ServiceAccount string
	// Method says how the identity was proved ("kubernetes-token" or
	// "client-certificate"), for logs.
	Method string
}

// WorkloadID returns the SPIFFE id of a service account.
func WorkloadID(td spiffeid.TrustDomain, namespace, serviceAccount string) (spiffeid.ID, error) {
	if namespace == "" || serviceAccount == "" {
		return spiffeid.ID{}, fmt.Errorf("namespace %q and service account %q must both be set", namespace, serviceAccount)
	}
	return spiffeid.FromSegments(td, "ns", namespace, "sa", serviceAccount)
}

// ParseWorkloadID reads the namespace and service account out of an id of
// the form spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT.
func ParseWorkloadID(id spiffeid.ID) (namespace, serviceAccount string, err error) {
	// spiffeid has validated the path: segments are non-empty and hold no
	// '/', so splitting is exact.
	segs := strings.Split(strings.TrimPrefix(id.Path(), "/"), "/")
	if len(segs) != 4 || segs[0] != "ns" || segs[2] != "sa" {
		return "", "", fmt.Errorf("%s is not of the form spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT", id)
	}
	return segs[1], segs[3], nil
}

// Authorize checks that the caller may act as a workload that claims to
// run in namespace as serviceAccount, as a proxy's node does: the
// namespace must be the caller's, and so must the service account when
// one is claimed (a node that names none claims only the namespace, as
// istiod reads it). A mismatch is a PermissionDenied *Error: the caller
// proved an identity, just not that one.
func (c *Caller) Authorize(namespace, serviceAccount string) error {
	if namespace != c.Namespace || (serviceAccount != "" && serviceAccount != c.ServiceAccount) {
		claimed := "namespace " + namespace
		if serviceAccount != "" {
			claimed += ", service account " + serviceAccount
		}
		return newError(KindPermissionDenied, ReasonIdentityMismatch,
			"the caller is %s (authenticated by %s) but claims %s", c.ID, c.Method, claimed)
	}
	return nil
}
