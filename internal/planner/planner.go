// Package planner defines how a NetworkChangeRequest becomes a plan. The rules
// planner (internal/planner/rules) and the LLM planner (internal/llm) implement it.
package planner

import (
	"context"
	"errors"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// Planner turns a request into a validated plan.
type Planner interface {
	// Plan returns a plan for req whose actions, snapshot, region, provenance and
	// generation are filled in; the caller computes digest, blast radius and cost.
	// A *TerminalError means the request cannot be planned as written (the
	// message says what was not understood); any other error may pass and is retried.
	// A plan with no actions means nothing needs to change (NoAction).
	Plan(ctx context.Context, req *v1.NetworkChangeRequest) (*v1.Plan, error)
}

// TerminalError is a planning failure that retrying cannot fix: the request must change.
type TerminalError struct {
	// Reason is a CamelCase condition reason.
	Reason string
	// Message says what could not be understood and what to write instead.
	Message string
}

// Error implements error.
func (e *TerminalError) Error() string { return e.Message }

// Terminal returns a *TerminalError with reason PlanningFailed.
func Terminal(message string) error {
	return &TerminalError{Reason: v1.ReasonPlanningFailed, Message: message}
}

// IsTerminal reports whether err (or anything it wraps) is a *TerminalError.
func IsTerminal(err error) bool {
	var t *TerminalError
	return errors.As(err, &t)
}
