package awsapply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	ackerr "github.com/aws-controllers-k8s/runtime/pkg/errors"
	"github.com/aws/smithy-go"
)

// Class says what an AWS error means for the caller.
type Class string

// Error classes.
const (
	// ClassRetryable is a failure that may pass: throttling, HTTP 5xx, timeouts,
	// dropped connections. The outcome of the call is unknown; observe before retrying.
	ClassRetryable Class = "retryable"
	// ClassTerminal is a failure the request must change to fix (bad parameters,
	// missing resources, no permission). Retrying cannot help.
	ClassTerminal Class = "terminal"
	// ClassAlreadyDone is AWS saying the desired state already holds ("already
	// exists" for an add, "not found" for a remove). It counts as success only after
	// a describe confirms it.
	ClassAlreadyDone Class = "already"
	// ClassDryRunOK is the DryRunOperation answer: the call would have succeeded.
	ClassDryRunOK Class = "dryrun"
)

// retryableCodes are AWS error codes that mean "try again later".
var retryableCodes = map[string]bool{
	"RequestLimitExceeded":       true,
	"Throttling":                 true,
	"ThrottlingException":        true,
	"TooManyRequestsException":   true,
	"RequestThrottled":           true,
	"RequestThrottledException":  true,
	"SlowDown":                   true,
	"PriorRequestNotComplete":    true,
	"InternalError":              true,
	"InternalFailure":            true,
	"ServiceUnavailable":         true,
	"Unavailable":                true,
	"RequestTimeout":             true,
	"RequestTimeoutException":    true,
	"WAFOptimisticLockException": true,
	"WAFInternalErrorException":  true,
	"IncorrectState":             true,
	"ConcurrentTagAccess":        true,
}

// alreadyCodes are AWS error codes that mean the desired state may already hold.
var alreadyCodes = map[string]bool{
	"InvalidPermission.Duplicate":     true,
	"InvalidPermission.NotFound":      true,
	"NetworkAclEntryAlreadyExists":    true,
	"InvalidNetworkAclEntry.NotFound": true,
	"RouteAlreadyExists":              true,
	"InvalidRoute.NotFound":           true,
	"InvalidGroup.Duplicate":          true,
	"WAFDuplicateItemException":       true,
	"InvalidPrefixListModification":   true,
	"InvalidParameterValue.Duplicate": true,
}

// Classify sorts an error from an AWS call into a Class. nil is not an error and
// yields "". Unknown API error codes are terminal (fail closed: never loop on an
// error nobody understands); unknown transport failures are retryable because the
// call's outcome is unknown and the applier observes before any retry.
func Classify(err error) Class {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.Canceled) {
		return ClassTerminal
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		switch {
		case code == "DryRunOperation":
			return ClassDryRunOK
		case retryableCodes[code]:
			return ClassRetryable
		case alreadyCodes[code]:
			return ClassAlreadyDone
		}
		if s := ackerr.HTTPStatusCode(err); s >= 500 {
			return ClassRetryable
		}
		if s := ackerr.HTTPStatusCode(err); s == 429 {
			return ClassRetryable
		}
		return ClassTerminal
	}
	if s := ackerr.HTTPStatusCode(err); s >= 500 || s == 429 {
		return ClassRetryable
	} else if s >= 400 {
		return ClassTerminal
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return ClassRetryable
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return ClassRetryable
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return ClassRetryable
	}
	// The SDK wraps transport failures in *smithy.OperationError / retry errors whose
	// text is the only hint left (e.g. "connection reset by peer", "EOF").
	msg := err.Error()
	for _, s := range []string{"connection reset", "EOF", "broken pipe", "connection refused", "timeout", "server closed"} {
		if strings.Contains(msg, s) {
			return ClassRetryable
		}
	}
	return ClassTerminal
}

// ErrorCode returns the AWS error code of err, or "" when it carries none.
func ErrorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// TerminalError is an action failure that retrying cannot fix. It wraps ACK's
// TerminalError so errors.Is(err, ackerr.Terminal) style checks keep working.
type TerminalError struct {
	// Op is the action or call that failed.
	Op string
	// Err is the AWS error.
	Err error
}

// Error implements error.
func (e *TerminalError) Error() string { return fmt.Sprintf("%s: %v", e.Op, e.Err) }

// Unwrap returns the AWS error.
func (e *TerminalError) Unwrap() error { return e.Err }

// RetryableError is an action failure that may pass; the attempt budget of one
// call was spent. The caller requeues with backoff and observes before retrying.
type RetryableError struct {
	// Op is the action or call that failed.
	Op string
	// Attempts is how many tries were made.
	Attempts int
	// Err is the last AWS error.
	Err error
}

// Error implements error.
func (e *RetryableError) Error() string {
	return fmt.Sprintf("%s: still failing after %d attempts: %v", e.Op, e.Attempts, e.Err)
}

// Unwrap returns the last AWS error.
func (e *RetryableError) Unwrap() error { return e.Err }

// IsTerminal reports whether err is (or wraps) a *TerminalError or ACK's TerminalError.
func IsTerminal(err error) bool {
	var t *TerminalError
	var ack *ackerr.TerminalError
	return errors.As(err, &t) || errors.As(err, &ack)
}

// IsRetryable reports whether err is (or wraps) a *RetryableError.
func IsRetryable(err error) bool {
	var r *RetryableError
	return errors.As(err, &r)
}
