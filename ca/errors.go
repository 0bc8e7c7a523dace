package ca

import (
	"errors"
	"fmt"
)

// Kind classifies an Error by what the caller can do about it. It is what
// decides the gRPC code of a failed call.
type Kind int

const (
	// KindInvalidArgument: the request itself is wrong (a malformed or
	// oversized CSR, an unsupported key, a TTL out of range). Retrying the
	// same request cannot succeed.
	KindInvalidArgument Kind = iota + 1
	// KindUnauthenticated: the caller proved no identity (no credentials,
	// or credentials that were rejected).
	KindUnauthenticated
	// KindPermissionDenied: the caller proved an identity but asked for a
	// certificate it may not have.
	KindPermissionDenied
	// KindUnavailable: something the CA depends on (the Kubernetes API
	// server for TokenReview) could not be reached; a retry may succeed.
	KindUnavailable
	// KindInternal: the CA failed on a valid request.
	KindInternal
)

// Reasons, the values of the reason label of pilotlight_ca_failures_total.
// They are few and fixed so that the label's cardinality stays bounded.
const (
	ReasonMalformedCSR           = "malformed_csr"
	ReasonCSRTooLarge            = "csr_too_large"
	ReasonUnsupportedKey         = "unsupported_key"
	ReasonTTL                    = "ttl_out_of_range"
	ReasonIdentityMismatch       = "identity_mismatch"
	ReasonNoCredentials          = "no_credentials"
	ReasonTokenRejected          = "token_rejected"
	ReasonCertificateRejected    = "client_certificate_rejected"
	ReasonImpersonationDenied    = "impersonation_denied"
	ReasonTokenReviewUnavailable = "tokenreview_unavailable"
	ReasonSigning                = "signing_failed"
	// Reasons of SecretAccessReviewer, for the xDS server's refusals of
	// gateway certificates.
	ReasonSecretAccessDenied      = "secret_access_denied"
	ReasonAccessReviewUnavailable = "accessreview_unavailable"
)

// Error is every failure the CA reports to a caller. Its message is meant
// for the caller and the logs alike, so it never quotes a token or a key.
type Error struct {
	Kind Kind
	// Reason is one of the Reason constants.
	Reason string
	msg    string
	err    error
}

func (e *Error) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *Error) Unwrap() error { return e.err }

// newError builds an Error with a formatted message.
func newError(kind Kind, reason, format string, args ...any) *Error {
	return &Error{Kind: kind, Reason: reason, msg: fmt.Sprintf(format, args...)}
}

// wrapError builds an Error that explains err.
func wrapError(kind Kind, reason string, err error, format string, args ...any) *Error {
	return &Error{Kind: kind, Reason: reason, msg: fmt.Sprintf(format, args...), err: err}
}

// asError returns err as an *Error; anything else is an internal failure.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: KindInternal, Reason: ReasonSigning, msg: "internal error", err: err}
}
