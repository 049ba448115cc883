package planner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// AnnotationPlanner routes one request to a named planner ("rules" or "llm") when
// that planner is configured in this manager; other requests use the default
// (--planner). An unknown or unconfigured name falls back to the default with a
// Warning event.
const AnnotationPlanner = "netchange.io/planner"

// Plan triggers (v1.Plan.Trigger).
const (
	// TriggerInitial is the first plan for a request's generation.
	TriggerInitial = "initial"
	// TriggerStale is a new plan because the executor found AWS changed.
	TriggerStale = "stale"
	// TriggerUserPrefix starts the trigger of a plan asked for with netchange.io/replan.
	TriggerUserPrefix = "user:"
)

// maxMessage bounds status.message (the CRD's limit is 2048).
const maxMessage = 2000

// planTrigger decides whether req needs a (new) plan and why. It is pure: the
// decision is a function of the object only.
//
//   - stale: the executor set Ready=False/StalePlan for the current plan's digest;
//   - user:<token>: netchange.io/replan holds a token the current plan (or the last
//     failed attempt) does not answer, and the request is not Executing/Succeeded;
//   - initial: there is no plan for the current generation and planning it has not
//     already failed terminally.
func planTrigger(req *v1.NetworkChangeRequest) (string, bool) {
	p := req.Status.Plan
	planned := meta.FindStatusCondition(req.Status.Conditions, v1.ConditionPlanned)
	if isStale(req) {
		return TriggerStale, true
	}
	busy := req.Status.Phase == v1.PhaseExecuting || req.Status.Phase == v1.PhaseSucceeded
	if token := replanToken(req.Annotations[v1.AnnotationReplan]); token != "" && !busy {
		want := TriggerUserPrefix + token
		answered := (p != nil && p.Trigger == want) || failedTrigger(planned, req.Generation) == want
		if !answered {
			return want, true
		}
	}
	if p != nil && p.Generation == req.Generation {
		return "", false
	}
	if busy || failedTrigger(planned, req.Generation) != "" {
		return "", false
	}
	return TriggerInitial, true
}

var reSimpleToken = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// replanToken normalises the untrusted netchange.io/replan value into the token a
// plan's trigger records: a short token of safe characters as it is, anything else
// (long, or with other characters) as "sha256-" and 16 hex digits of its hash, so
// a trigger always fits status.plan.trigger and the failure message parses back.
func replanToken(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" || reSimpleToken.MatchString(raw) {
		return raw
	}
	sum := sha256.Sum256([]byte(raw))
	return "sha256-" + hex.EncodeToString(sum[:8])
}

// isStale reports whether the executor asked for a new plan for the current plan.
func isStale(req *v1.NetworkChangeRequest) bool {
	p, ex := req.Status.Plan, req.Status.Execution
	if p == nil || p.Digest == "" || ex == nil || ex.PlanDigest != p.Digest {
		return false
	}
	ready := meta.FindStatusCondition(req.Status.Conditions, v1.ConditionReady)
	return ready != nil && ready.Status == metav1.ConditionFalse && ready.Reason == v1.ReasonStalePlan
}

var reFailedTrigger = regexp.MustCompile(`\(trigger ([^()]+)\)$`)

// failedTrigger returns the trigger of a terminal planning failure recorded in
// the Planned condition for generation gen, or "".
func failedTrigger(c *metav1.Condition, gen int64) string {
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1.ReasonPlanningFailed || c.ObservedGeneration != gen {
		return ""
	}
	if m := reFailedTrigger.FindStringSubmatch(c.Message); m != nil {
		return m[1]
	}
	return TriggerInitial
}

// failureMessage is the user-facing message of a terminal failure; it ends with
// the trigger so a later reconcile knows which replan token already failed.
func failureMessage(err error, trigger string) string {
	suffix := fmt.Sprintf(" (trigger %s)", trigger)
	return truncate("planning failed: "+err.Error(), maxMessage-len(suffix)) + suffix
}

// setPlanned sets the Planned condition for req's generation.
func setPlanned(req *v1.NetworkChangeRequest, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&req.Status.Conditions, metav1.Condition{
		Type:               v1.ConditionPlanned,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: req.Generation,
	})
}

// setPhase sets the phase, message and observedGeneration together (whoever sets
// the phase owns the message).
func setPhase(req *v1.NetworkChangeRequest, phase v1.Phase, message string) {
	if len(message) > maxMessage {
		message = message[:maxMessage-3] + "..."
	}
	req.Status.Phase = phase
	req.Status.Message = message
	req.Status.ObservedGeneration = req.Generation
}

// planSummary is the one-line description of a plan for messages and events.
func planSummary(p *v1.Plan) string {
	if len(p.Actions) == 0 {
		return "no change needed: " + firstLine(p.Rationale)
	}
	types := make([]string, len(p.Actions))
	for i, a := range p.Actions {
		types[i] = string(a.Type)
	}
	return fmt.Sprintf("planned %d action(s) (%s) by %s, trigger %s, digest %s; waiting for the auditor's verdict",
		len(p.Actions), strings.Join(types, ", "), p.Provenance.Planner, p.Trigger, p.Digest)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	if s == "" {
		return "the planner found nothing to do"
	}
	return s
}
