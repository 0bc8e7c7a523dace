package ca

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeAccessReviews answers SubjectAccessReviews as RBAC would with one
// rule: service account ns/allowed may list Secrets in its namespace.
func fakeAccessReviews(calls *atomic.Int64, down *atomic.Bool) *fake.Clientset {
	client := fake.NewClientset()
	client.PrependReactor("create", "subjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		calls.Add(1)
		if down.Load() {
			return true, nil, errors.New("dial tcp 10.96.0.1:443: connect: connection refused")
		}
		sar := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		ra := sar.Spec.ResourceAttributes
		sar.Status.Allowed = sar.Spec.User == "system:serviceaccount:"+ra.Namespace+":allowed" &&
			ra.Verb == "list" && ra.Resource == "secrets" && ra.Group == ""
		return true, sar, nil
	})
	return client
}

func TestSecretAccessReviewer(t *testing.T) {
	var calls atomic.Int64
	var down atomic.Bool
	clock := newTestClock()
	r := NewSecretAccessReviewer(fakeAccessReviews(&calls, &down), clock.Now)
	caller := func(ns, sa string) *Caller {
		return &Caller{ID: spiffeid.RequireFromString(spiffeOf(ns, sa)), Namespace: ns, ServiceAccount: sa}
	}
	ctx := context.Background()
	if err := r.MayReadSecrets(ctx, caller("shop", "allowed")); err != nil {
		t.Fatalf("the gateway's account was refused: %v", err)
	}
	err := r.MayReadSecrets(ctx, caller("shop", "web"))
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindPermissionDenied || e.Reason != ReasonSecretAccessDenied {
		t.Fatalf("another account of the namespace: %v, want PermissionDenied %s", err, ReasonSecretAccessDenied)
	}

	// Answers are reused until they expire.
	for range 3 {
		_ = r.MayReadSecrets(ctx, caller("shop", "allowed"))
		_ = r.MayReadSecrets(ctx, caller("shop", "web"))
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d reviews, want 2 (one per account)", n)
	}
	clock.Advance(DefaultAccessReviewCacheTTL)
	_ = r.MayReadSecrets(ctx, caller("shop", "allowed"))
	if n := calls.Load(); n != 3 {
		t.Errorf("%d reviews after expiry, want 3", n)
	}

	// An API server that cannot answer is asked again next time.
	down.Store(true)
	for range 2 {
		err := r.MayReadSecrets(ctx, caller("shop", "new"))
		if !errors.As(err, &e) || e.Kind != KindUnavailable || e.Reason != ReasonAccessReviewUnavailable {
			t.Fatalf("API server down: %v, want Unavailable", err)
		}
	}
	if n := calls.Load(); n != 5 {
		t.Errorf("%d reviews, want every call to ask while the API server is down (5)", n)
	}
}
