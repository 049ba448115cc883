package executor

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/plan"
	"github.com/netchange-io/netchange/internal/verdict"
)

// refusal is why the executor will not make a mutating call now.
type refusal struct {
	// Reason is a condition reason from api/v1alpha1 (VerdictMissing, VerdictInvalid, ...).
	Reason string
	// Message says what failed and what to do.
	Message string
	// VerdictReason is the verdict.Error reason when Reason is VerdictInvalid.
	VerdictReason string
	// RetryAfter, when set, is when the check may pass again (freeze end, rate refill).
	RetryAfter time.Duration
}

// transient reports whether the refusal may pass without anyone changing the
// request (freeze, rate budget, audit sink): an execution in progress pauses on
// it instead of rolling back.
func (r *refusal) transient() bool {
	switch r.Reason {
	case v1.ReasonFrozen, v1.ReasonRateLimited, v1.ReasonAuditUnavailable:
		return true
	}
	return false
}

// checkAuthorization checks what authorises a mutating call on ncr: Approved=True,
// a verdict signed by a trusted key bound to this cluster, request, generation and
// the recomputed plan digest, not expired; the plan's own digest and generation
// equal what they must be. It is pure.
func checkAuthorization(ncr *v1.NetworkChangeRequest, keys verdict.KeySet, cluster string, now time.Time) *refusal {
	p := ncr.Status.Plan
	if p == nil {
		return &refusal{Reason: v1.ReasonWaiting, Message: "waiting for the planner: the request has no plan yet"}
	}
	if c := meta.FindStatusCondition(ncr.Status.Conditions, v1.ConditionApproved); c == nil || c.Status != metav1.ConditionTrue {
		switch {
		case c != nil && c.Reason == v1.ReasonVetoed:
			return &refusal{Reason: v1.ReasonVetoed, Message: "the auditor vetoed the plan: nothing is executed"}
		case c != nil:
			return &refusal{Reason: v1.ReasonWaiting, Message: fmt.Sprintf("waiting for the auditor: Approved is %s (%s)", c.Status, c.Reason)}
		}
		return &refusal{Reason: v1.ReasonWaiting, Message: "waiting for the auditor's verdict"}
	}
	if ncr.Status.Verdict == nil {
		return &refusal{Reason: v1.ReasonVerdictMissing, Message: "Approved is True but there is no signed verdict on the request; nothing is executed without one — ask the auditor to re-issue it"}
	}
	digest, err := plan.Digest(ncr, p)
	if err != nil {
		return &refusal{Reason: v1.ReasonVerdictInvalid, VerdictReason: verdict.DigestMismatch, Message: fmt.Sprintf("cannot compute the plan digest: %v", err)}
	}
	if p.Generation != ncr.Generation {
		return &refusal{Reason: v1.ReasonVerdictInvalid, VerdictReason: verdict.GenerationMismatch,
			Message: fmt.Sprintf("GenerationMismatch: the plan is for generation %d, the request is at generation %d; wait for a new plan", p.Generation, ncr.Generation)}
	}
	err = verdict.Check(ncr.Status.Verdict, keys, verdict.Binding{
		Cluster: cluster, Namespace: ncr.Namespace, Name: ncr.Name, RequestUID: string(ncr.UID),
		Generation: ncr.Generation, PlanDigest: digest,
	}, now)
	if err != nil {
		var ve *verdict.Error
		if errors.As(err, &ve) {
			return &refusal{Reason: v1.ReasonVerdictInvalid, VerdictReason: ve.Reason, Message: ve.Error()}
		}
		return &refusal{Reason: v1.ReasonVerdictInvalid, VerdictReason: verdict.Malformed, Message: err.Error()}
	}
	if p.Digest != digest {
		return &refusal{Reason: v1.ReasonVerdictInvalid, VerdictReason: verdict.DigestMismatch,
			Message: fmt.Sprintf("DigestMismatch: status.plan.digest is %s but the plan's content hashes to %s; the plan was altered, wait for a new plan and verdict", p.Digest, digest)}
	}
	return nil
}

// freezeActive reports whether f is in force at now.
func freezeActive(f *v1.ChangeFreeze, now time.Time) bool {
	if f.DeletionTimestamp != nil {
		return false
	}
	if f.Spec.Start != nil && now.Before(f.Spec.Start.Time) {
		return false
	}
	if f.Spec.End != nil && !now.Before(f.Spec.End.Time) {
		return false
	}
	return true
}

// freezeMatches reports whether f's scope covers a request in namespace ns, for
// environment env, in region. An empty list in a scope dimension matches all.
func freezeMatches(f *v1.ChangeFreeze, ns string, env v1.Environment, region string) bool {
	s := f.Spec.Scope
	if len(s.Namespaces) > 0 && !slices.Contains(s.Namespaces, ns) {
		return false
	}
	if len(s.Environments) > 0 && !slices.Contains(s.Environments, env) {
		return false
	}
	if len(s.Regions) > 0 && !slices.Contains(s.Regions, region) {
		return false
	}
	return true
}

// checkFreeze returns a Frozen refusal naming the freezes that hold the request,
// with RetryAfter at the latest end among them (or a minute when one has no end).
func checkFreeze(freezes []v1.ChangeFreeze, ncr *v1.NetworkChangeRequest, now time.Time) *refusal {
	region := ""
	if ncr.Status.Plan != nil {
		region = ncr.Status.Plan.Region
	}
	var names []string
	var until time.Duration
	for i := range freezes {
		f := &freezes[i]
		if !freezeActive(f, now) || !freezeMatches(f, ncr.Namespace, ncr.Spec.Environment, region) {
			continue
		}
		names = append(names, fmt.Sprintf("%s (%s, by %s)", f.Name, f.Spec.Reason, f.Spec.Author))
		d := time.Minute
		if f.Spec.End != nil {
			d = f.Spec.End.Sub(now)
		}
		until = max(until, d)
	}
	if len(names) == 0 {
		return nil
	}
	return &refusal{Reason: v1.ReasonFrozen, RetryAfter: until,
		Message: "held by ChangeFreeze " + strings.Join(names, "; ") + "; the change runs when the freeze ends or is deleted"}
}

// checkGuardrails applies the built-in guardrails nobody can configure away: no
// internet-exposing ingress in production (a production request, or a touched
// resource whose snapshot is tagged production), whatever the verdict says.
func checkGuardrails(ncr *v1.NetworkChangeRequest) *refusal {
	if ncr.Status.Plan == nil {
		return nil
	}
	if f := plan.ProductionExposure(ncr, ncr.Status.Plan); len(f) > 0 {
		return &refusal{Reason: v1.ReasonGuardrail,
			Message: "refused in production even with a valid verdict: " + strings.Join(f, "; ") + "; narrow the source CIDR and file a new request"}
	}
	return nil
}

// checkStale compares a fresh snapshot with the plan's, per resource ID.
//
// Whole entries are compared, not only State: the auditor's guardrails trust each
// entry's Environment and Protected, so an entry whose flags differ from what AWS
// says now (tags changed, or the plan's record altered) is stale as well.
func checkStale(planned, fresh []v1.ResourceSnapshot) *refusal {
	want := map[string]v1.ResourceSnapshot{}
	for _, s := range planned {
		want[s.ID] = s
	}
	got := map[string]v1.ResourceSnapshot{}
	for _, s := range fresh {
		got[s.ID] = s
	}
	var changed []string
	for id, st := range want {
		if g, ok := got[id]; !ok || g != st {
			changed = append(changed, id)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			changed = append(changed, id)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	slices.Sort(changed)
	return &refusal{Reason: v1.ReasonStalePlan,
		Message: "AWS changed since the plan was made, or the plan's record of it does not match AWS (" + strings.Join(changed, ", ") + "); the planner makes a new plan, which needs a new verdict"}
}

// condition builds a condition of ncr's current generation.
func condition(ncr *v1.NetworkChangeRequest, typ string, status metav1.ConditionStatus, reason, msg string, now time.Time) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: truncate(msg, 32768),
		ObservedGeneration: ncr.Generation, LastTransitionTime: metav1.NewTime(now)}
}

// truncate shortens s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
