package ca

import (
	"context"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Defaults of a SecretAccessReviewer.
const (
	// DefaultAccessReviewCacheTTL is how long an answer is reused: a
	// RoleBinding granted or revoked takes effect within it.
	DefaultAccessReviewCacheTTL = time.Minute
	// DefaultAccessReviewTimeout bounds one SubjectAccessReview.
	DefaultAccessReviewTimeout = 5 * time.Second
)

// SecretAccessReviewer decides whether a caller may be served the
// Secrets of its namespace (a gateway's credentialName certificates), as
// istiod decides it: the caller's service account must be allowed to
// list Secrets in that namespace, which the API server says through a
// SubjectAccessReview. Proving a namespace's identity is not enough: any
// workload of the namespace can, and only the gateway's service account
// is granted the Secrets. Answers are cached per service account for
// DefaultAccessReviewCacheTTL; an API server that cannot answer is asked
// again next time.
type SecretAccessReviewer struct {
	client kubernetes.Interface
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]accessEntry
}

type accessEntry struct {
	err     error
	expires time.Time
}

// NewSecretAccessReviewer returns a SecretAccessReviewer asking client's
// API server; now is the clock (nil is time.Now).
func NewSecretAccessReviewer(client kubernetes.Interface, now func() time.Time) *SecretAccessReviewer {
	return &SecretAccessReviewer{client: client, now: nowFunc(now), cache: map[string]accessEntry{}}
}

// MayReadSecrets returns nil if c may be served its namespace's Secrets,
// else an *Error: PermissionDenied, or Unavailable when the API server
// could not answer.
func (r *SecretAccessReviewer) MayReadSecrets(ctx context.Context, c *Caller) error {
	user := serviceAccountPrefix + c.Namespace + ":" + c.ServiceAccount
	now := r.now()
	r.mu.Lock()
	e, ok := r.cache[user]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.err
	}
	err := r.review(ctx, c, user)
	if isUnavailable(err) {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, old := range r.cache {
		if !now.Before(old.expires) {
			delete(r.cache, k)
		}
	}
	r.cache[user] = accessEntry{err: err, expires: now.Add(DefaultAccessReviewCacheTTL)}
	return err
}

func (r *SecretAccessReviewer) review(ctx context.Context, c *Caller, user string) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultAccessReviewTimeout)
	defer cancel()
	sar, err := r.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   user,
			Groups: []string{serviceAccountsGroup, serviceAccountsGroup + ":" + c.Namespace},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: c.Namespace, Verb: "list", Resource: "secrets",
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return wrapError(KindUnavailable, ReasonAccessReviewUnavailable, err, "the Kubernetes API server could not say whether %s may read Secrets", c.ID)
	}
	if !sar.Status.Allowed {
		why := sar.Status.Reason
		if why == "" {
			why = "no RBAC rule allows it"
		}
		return newError(KindPermissionDenied, ReasonSecretAccessDenied,
			"%s may not list Secrets in namespace %s (%s): grant its service account that to serve it the namespace's gateway certificates", c.ID, c.Namespace, why)
	}
	return nil
}
