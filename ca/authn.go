package ca

import (
	"context"
	"errors"
	"strings"
)

// Authenticator proves who is calling. It returns the caller, or an
// *Error: one with Reason ReasonNoCredentials when the call carries no
// credentials of its kind (so that another Authenticator may try), any
// other when the credentials were refused or could not be checked.
type Authenticator interface {
	Authenticate(ctx context.Context) (*Caller, error)
}

// Authenticators tries each Authenticator in turn and returns the first
// caller proved. If none proves one, the error is the first refusal, or,
// when no call carried credentials, one that lists what was missing.
type Authenticators []Authenticator

// Authenticate implements Authenticator.
func (as Authenticators) Authenticate(ctx context.Context) (*Caller, error) {
	var refused error
	var missing []string
	for _, a := range as {
		c, err := a.Authenticate(ctx)
		if err == nil {
			return c, nil
		}
		if isNoCredentials(err) {
			missing = append(missing, asError(err).msg)
			continue
		}
		if refused == nil {
			refused = err
		}
	}
	if refused != nil {
		return nil, refused
	}
	if len(missing) == 0 {
		return nil, newError(KindUnauthenticated, ReasonNoCredentials, "no way to authenticate callers is configured")
	}
	return nil, newError(KindUnauthenticated, ReasonNoCredentials, "no credentials: %s", strings.Join(missing, "; "))
}

// errNoCredentials says a call carries no credentials of one kind.
func errNoCredentials(what string) error {
	return newError(KindUnauthenticated, ReasonNoCredentials, "%s", what)
}

// isNoCredentials tells whether err only says credentials were missing.
func isNoCredentials(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Reason == ReasonNoCredentials
}
