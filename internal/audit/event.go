// Package audit is netchange's tamper-evident audit trail: hash-chained records
// per stream, signed checkpoints, sinks (file, PostgreSQL) and verification.
package audit

import (
	"context"
	"encoding/json"
	"time"
)

// EventType names what happened.
type EventType string

// Event types.
const (
	// EventRequestSeen is a new request (or generation) seen by the planner.
	EventRequestSeen EventType = "RequestSeen"
	// EventPlanned is a plan attached to a request, with model provenance.
	EventPlanned EventType = "Planned"
	// EventPlanningFailed is a request the planner could not plan.
	EventPlanningFailed EventType = "PlanningFailed"
	// EventVerdict is an auditor decision, with policy version and signer.
	EventVerdict EventType = "Verdict"
	// EventHumanApproval is one human's approval or rejection, with identity.
	EventHumanApproval EventType = "HumanApproval"
	// EventActionIntent is written, durably, before a mutating AWS call.
	EventActionIntent EventType = "ActionIntent"
	// EventActionApplied is an action the executor applied.
	EventActionApplied EventType = "ActionApplied"
	// EventActionVerified is an action confirmed by describing AWS.
	EventActionVerified EventType = "ActionVerified"
	// EventActionFailed is an action whose call failed.
	EventActionFailed EventType = "ActionFailed"
	// EventActionRolledBack is an action undone.
	EventActionRolledBack EventType = "ActionRolledBack"
	// EventExecutionRefused is an execution refused by a precondition.
	EventExecutionRefused EventType = "ExecutionRefused"
	// EventFreezeSet is a ChangeFreeze that came into force.
	EventFreezeSet EventType = "FreezeSet"
	// EventFreezeLifted is a ChangeFreeze that ended or was deleted.
	EventFreezeLifted EventType = "FreezeLifted"
	// EventCheckpoint is a signed checkpoint over a stream's head.
	EventCheckpoint EventType = "Checkpoint"
)

// RequestRef identifies the request an event is about.
type RequestRef struct {
	// Cluster is the control cluster's name ("" for the local one).
	Cluster string `json:"cluster,omitempty"`
	// Namespace is the request's namespace.
	Namespace string `json:"namespace,omitempty"`
	// Name is the request's name.
	Name string `json:"name,omitempty"`
	// UID is the request's uid.
	UID string `json:"uid,omitempty"`
	// Generation is the request's generation.
	Generation int64 `json:"generation,omitempty"`
}

// Event is what a component asks the trail to record.
type Event struct {
	// Stream is the chain the event belongs to, e.g. "control/<namespace>".
	Stream string `json:"stream"`
	// Type says what happened.
	Type EventType `json:"type"`
	// Actor is the component or user that caused the event (e.g. "executor", "alice").
	Actor string `json:"actor"`
	// Request is the request concerned, if any.
	Request RequestRef `json:"request,omitempty"`
	// Data is event-specific JSON (plan digest, action, AWS result, policy version, ...).
	Data json.RawMessage `json:"data,omitempty"`
	// Time is when it happened.
	Time time.Time `json:"time"`
}

// Appender appends events to the trail.
type Appender interface {
	// Append durably records ev as the next record of its stream and returns only
	// after the record is persisted. An error means nothing may be assumed written:
	// callers that guard an action with it must not act (fail closed).
	Append(ctx context.Context, ev Event) error
}
