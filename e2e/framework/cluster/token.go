package cluster

import (
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceAccountToken mints a token for a ServiceAccount with the
// TokenRequest API, as the kubelet does for a Pod's projected token. The
// audience is the API server's own unless audiences are given.
func (c *Cluster) ServiceAccountToken(t testing.TB, namespace, name string, ttl time.Duration, audiences ...string) string {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	secs := int64(ttl / time.Second)
	tr, err := c.Kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &secs},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for ServiceAccount %s/%s: %v", namespace, name, err)
	}
	return tr.Status.Token
}
