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
