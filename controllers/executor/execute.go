package executor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/audit"
	"github.com/netchange-io/netchange/internal/awsapply"
	"github.com/netchange-io/netchange/internal/awscontext"
	"github.com/netchange-io/netchange/internal/metrics"
	"github.com/netchange-io/netchange/internal/ratelimit"
	"github.com/netchange-io/netchange/internal/verdict"
)

// Rollback kinds, kept as the prefix of status.execution.rollbackReason so a
// restarted executor knows how to finish a rollback.
const (
	rollbackFailed   = v1.ReasonApplyFailed
	rollbackReverted = v1.ReasonReverted
	rollbackDeleted  = "Deleted"
)

// start checks everything that gates a new execution and, when all holds, opens the
// journal and runs it. A refusal makes no AWS mutation.
func (s *scope) start(ctx context.Context) (reconcile.Result, error) {
	n, r := s.ncr, s.r
	if ref := checkAuthorization(n, r.Options.Keys, r.Options.ClusterName, r.now()); ref != nil {
		return s.refuse(ctx, ref)
	}
	nonce := n.Status.Verdict.Statement.Nonce
	if ref, err := s.checkNonce(ctx, nonce); err != nil || ref != nil {
		if err != nil {
			return reconcile.Result{}, err
		}
		return s.refuse(ctx, ref)
	}
	if ref, err := s.checkFreeze(ctx); err != nil || ref != nil {
		if err != nil {
			return reconcile.Result{}, err
		}
		return s.refuse(ctx, ref)
	}
	if ref := checkGuardrails(n); ref != nil {
		return s.refuse(ctx, ref)
	}
	if ref, err := s.clients(ctx); err != nil || ref != nil {
		if err != nil {
			return reconcile.Result{}, err
		}
		return s.refuse(ctx, ref)
	}
	if ref, err := s.checkAuditTag(ctx); err != nil || ref != nil {
		if err != nil {
			return reconcile.Result{}, err
		}
		return s.refuse(ctx, ref)
	}
	fresh, err := s.snap.Snapshot(ctx, n.Status.Plan.Actions)
	switch {
	case errors.Is(err, awscontext.ErrNotFound):
		// A resource the plan touches is gone: AWS changed under the plan.
		return s.refuse(ctx, &refusal{Reason: v1.ReasonStalePlan, Message: fmt.Sprintf("a resource of the plan no longer exists (%v); the planner makes a new plan", err)})
	case err != nil:
		// Not evidence that AWS changed (access denied, throttling, network): asking
		// for a new plan would loop; retry later and say why.
		return s.refuse(ctx, &refusal{Reason: v1.ReasonAWSUnavailable, RetryAfter: r.Options.RetryBase,
			Message: fmt.Sprintf("cannot describe the plan's resources before acting (%v); nothing was changed, retrying — check the executor's AWS credentials and permissions", err)})
	}
	if ref := checkStale(n.Status.Plan.Snapshot, fresh); ref != nil {
		return s.refuse(ctx, ref)
	}
	key := ratelimit.Key(n.Namespace, string(n.Spec.Environment))
	if ok, wait := r.Limiter.Take(key); !ok {
		return s.refuse(ctx, &refusal{Reason: v1.ReasonRateLimited, RetryAfter: wait,
			Message: fmt.Sprintf("the change budget of namespace %s in %s is spent; retrying in %s", n.Namespace, n.Spec.Environment, wait.Round(time.Second))})
	}
	if n.Spec.DeletionPolicy == v1.DeletionPolicyRollback {
		if err := s.addFinalizer(ctx); err != nil {
			r.Limiter.Return(key)
			return reconcile.Result{}, err
		}
	}
	r.mu.Lock()
	r.nonces[nonce] = n.UID
	r.mu.Unlock()
	err = s.patch(ctx, func(n *v1.NetworkChangeRequest) {
		now := metav1.NewTime(r.now())
		exe := &v1.Execution{PlanDigest: n.Status.Plan.Digest, VerdictNonce: nonce, StartedAt: &now}
		for i, a := range n.Status.Plan.Actions {
			exe.Journal = append(exe.Journal, v1.JournalEntry{Index: int32(i), Type: a.Type, State: v1.JournalPending, LastTransitionTime: &now})
		}
		n.Status.Execution = exe
		s.setPhase(n, v1.PhaseExecuting, fmt.Sprintf("applying %d actions", len(exe.Journal)))
		s.setCondition(n, v1.ConditionApplied, metav1.ConditionFalse, v1.ReasonApplying, "applying the approved plan")
		s.setCondition(n, v1.ConditionReady, metav1.ConditionFalse, v1.ReasonApplying, "applying the approved plan")
	})
	if err != nil {
		r.Limiter.Return(key)
		r.mu.Lock()
		delete(r.nonces, nonce)
		r.mu.Unlock()
		return reconcile.Result{}, err
	}
	r.event(n, false, "Executing", "applying %d actions of plan %s", len(n.Status.Plan.Actions), n.Status.Plan.Digest)
	return s.run(ctx)
}

// checkNonce refuses a verdict whose nonce another request (or an earlier
// execution of this one) consumed: the index over every request's
// status.execution.verdictNonce survives restarts; the in-memory map covers the
// cache's lag.
func (s *scope) checkNonce(ctx context.Context, nonce string) (*refusal, error) {
	replay := &refusal{Reason: v1.ReasonVerdictInvalid, VerdictReason: "NonceReused",
		Message: "NonceReused: this verdict's nonce was already consumed by an execution; a verdict authorises one execution only — ask the auditor for a new verdict"}
	// The durable ledger on the request's own metadata survives a reset of its status.
	if slices.Contains(consumedNonces(s.ncr), nonce) {
		return replay, nil
	}
	s.r.mu.Lock()
	owner, seen := s.r.nonces[nonce]
	s.r.mu.Unlock()
	if seen && owner != s.ncr.UID {
		return replay, nil
	}
	var list v1.NetworkChangeRequestList
	if err := s.r.Client.List(ctx, &list, client.MatchingFields{nonceIndex: nonce}); err != nil {
		return nil, fmt.Errorf("look up verdict nonce: %w", err)
	}
	for _, o := range list.Items {
		if o.UID != s.ncr.UID {
			return replay, nil
		}
		if o.Status.Execution != nil && o.Status.Execution.StartedAt != nil && o.Status.Execution.CompletedAt != nil {
			return replay, nil
		}
	}
	return nil, nil
}

// maxConsumedNonces bounds the ledger annotation; older nonces belong to verdicts
// long expired, which verdict.Check refuses anyway.
const maxConsumedNonces = 32

// consumedNonces returns the request's ledger of consumed verdict nonces.
func consumedNonces(n *v1.NetworkChangeRequest) []string {
	v := n.Annotations[v1.AnnotationConsumedNonces]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// recordNonce adds the execution's verdict nonce to the request's ledger
// annotation before any mutating call of that execution. Only the executor writes
// it; a merge patch of the annotation alone does not touch the status.
func (s *scope) recordNonce(ctx context.Context) error {
	exe := s.ncr.Status.Execution
	if exe == nil || exe.VerdictNonce == "" || slices.Contains(consumedNonces(s.ncr), exe.VerdictNonce) {
		return nil
	}
	ledger := append(consumedNonces(s.ncr), exe.VerdictNonce)
	if len(ledger) > maxConsumedNonces {
		ledger = ledger[len(ledger)-maxConsumedNonces:]
	}
	orig := s.ncr.DeepCopy()
	if s.ncr.Annotations == nil {
		s.ncr.Annotations = map[string]string{}
	}
	s.ncr.Annotations[v1.AnnotationConsumedNonces] = strings.Join(ledger, ",")
	if err := s.r.Client.Patch(ctx, s.ncr, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("record verdict nonce on %s/%s: %w", s.ncr.Namespace, s.ncr.Name, err)
	}
	return nil
}

// checkFreeze reads the freezes fresh from the API server, so a freeze created a
// moment ago holds the very next call.
func (s *scope) checkFreeze(ctx context.Context) (*refusal, error) {
	var freezes v1.ChangeFreezeList
	if err := s.r.APIReader.List(ctx, &freezes); err != nil {
		return &refusal{Reason: v1.ReasonFrozen, RetryAfter: 30 * time.Second,
			Message: fmt.Sprintf("cannot read ChangeFreezes (%v); nothing runs until they can be checked", err)}, nil
	}
	return checkFreeze(freezes.Items, s.ncr, s.r.now()), nil
}

// checkAuditTag refuses plans that touch netchange's own audit infrastructure.
func (s *scope) checkAuditTag(ctx context.Context) (*refusal, error) {
	var ids []string
	for _, a := range s.ncr.Status.Plan.Actions {
		ids = append(ids, awsapply.ResourceIDs(a)...)
	}
	hits, err := s.app.TaggedWith(ctx, ids, awsapply.TagAudit)
	if err != nil {
		return nil, fmt.Errorf("check %s tags: %w", awsapply.TagAudit, err)
	}
	if len(hits) > 0 {
		return &refusal{Reason: v1.ReasonGuardrail, Message: "the plan touches netchange's audit infrastructure (" + strings.Join(hits, ", ") +
			" tagged " + awsapply.TagAudit + "), which is never changed automatically"}, nil
	}
	return nil, nil
}

// refuse records a refusal: Ready=False (and Applied=False before anything was
// applied) with the reason, an Event, the refusal metric and an audit record. Only
// changes are written, so repeated reconciles of a refused request are quiet.
func (s *scope) refuse(ctx context.Context, ref *refusal) (reconcile.Result, error) {
	n, r := s.ncr, s.r
	changed := false
	err := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
		before := n.Status.DeepCopy()
		s.setCondition(n, v1.ConditionReady, metav1.ConditionFalse, ref.Reason, ref.Message)
		if !inProgress(n.Status.Execution) {
			s.setCondition(n, v1.ConditionApplied, metav1.ConditionFalse, ref.Reason, ref.Message)
		}
		switch {
		case ref.VerdictReason == verdict.Expired && !inProgress(n.Status.Execution):
			s.setPhase(n, v1.PhaseExpired, ref.Message)
		case ref.Reason == v1.ReasonGuardrail && !inProgress(n.Status.Execution):
			s.setPhase(n, v1.PhaseFailed, ref.Message)
		case ref.Reason == v1.ReasonStalePlan && n.Status.Plan != nil:
			// Tell the planner: it re-plans when execution.planDigest == plan.digest
			// and Ready is False with reason StalePlan.
			n.Status.Execution = &v1.Execution{PlanDigest: n.Status.Plan.Digest}
		}
		changed = !equalIgnoringTime(before, &n.Status)
	})
	if err != nil {
		return reconcile.Result{}, err
	}
	// Waiting for the planner or the auditor, or a veto, is the normal course, not
	// a refusal: the Ready condition says so, with no Warning event, metric or
	// audit record.
	if changed && ref.Reason != v1.ReasonWaiting && ref.Reason != v1.ReasonVetoed {
		metrics.ExecutionRefusals.WithLabelValues(ref.Reason).Inc()
		r.event(n, true, ref.Reason, "%s", ref.Message)
		if ref.Reason != v1.ReasonAuditUnavailable {
			if aerr := s.audit(ctx, audit.EventExecutionRefused, map[string]any{"reason": ref.Reason, "verdictReason": ref.VerdictReason, "message": ref.Message}); aerr != nil {
				logf.FromContext(ctx).Error(aerr, "audit refusal")
			}
		}
	}
	switch {
	case ref.RetryAfter > 0:
		return reconcile.Result{RequeueAfter: ref.RetryAfter}, nil
	case ref.Reason == v1.ReasonAuditUnavailable:
		return reconcile.Result{RequeueAfter: r.Options.RetryBase}, nil
	}
	return reconcile.Result{}, nil
}

func equalIgnoringTime(a, b *v1.NetworkChangeRequestStatus) bool {
	strip := func(s *v1.NetworkChangeRequestStatus) *v1.NetworkChangeRequestStatus {
		c := s.DeepCopy()
		for i := range c.Conditions {
			c.Conditions[i].LastTransitionTime = metav1.Time{}
		}
		return c
	}
	x, y := strip(a), strip(b)
	if len(x.Conditions) != len(y.Conditions) {
		return false
	}
	for i := range x.Conditions {
		if x.Conditions[i] != y.Conditions[i] {
			return false
		}
	}
	return x.Phase == y.Phase && x.Message == y.Message && (x.Execution == nil) == (y.Execution == nil)
}

// precall re-checks, right before mutating call number i, what must hold for
// every call: authorization, freezes, guardrails; then writes the audit intent
// record. A non-nil refusal means: do not call.
func (s *scope) precall(ctx context.Context, i int, what string, rollback bool) (*refusal, error) {
	n, r := s.ncr, s.r
	if !rollback {
		if ref := checkAuthorization(n, r.Options.Keys, r.Options.ClusterName, r.now()); ref != nil {
			return ref, nil
		}
		if ref := checkGuardrails(n); ref != nil {
			return ref, nil
		}
	}
	if !rollback || !strings.HasPrefix(n.Status.Execution.RollbackReason, rollbackFailed) {
		if ref, err := s.checkFreeze(ctx); err != nil || ref != nil {
			return ref, err
		}
	}
	kind := "apply"
	if rollback {
		kind = "rollback"
	}
	if err := s.audit(ctx, audit.EventActionIntent, map[string]any{"index": i, "type": n.Status.Plan.Actions[i].Type, "step": kind, "action": what}); err != nil {
		return &refusal{Reason: v1.ReasonAuditUnavailable, Message: fmt.Sprintf("the audit trail refused the intent record (%v); no AWS call is made until it accepts writes", err)}, nil
	}
	return nil, nil
}

// run continues the execution from its journal: rollback if one was started,
// else apply and verify the actions in order.
func (s *scope) run(ctx context.Context) (reconcile.Result, error) {
	n := s.ncr
	exe := n.Status.Execution
	if exe.PlanDigest != n.Status.Plan.Digest || len(exe.Journal) != len(n.Status.Plan.Actions) {
		return s.stuck(ctx, fmt.Sprintf("the plan was replaced while plan %s was executing; its journal cannot be matched to the new actions — check AWS by hand, then delete and re-file the request", exe.PlanDigest))
	}
	if ref, err := s.clients(ctx); err != nil || ref != nil {
		if err != nil {
			return reconcile.Result{}, err
		}
		return s.beginRollback(ctx, rollbackFailed, ref.Message)
	}
	if err := s.recordNonce(ctx); err != nil {
		return reconcile.Result{}, err
	}
	if exe.RollbackReason != "" {
		return s.rollback(ctx)
	}
	uid := string(n.UID)
	for i := range exe.Journal {
		act := n.Status.Plan.Actions[i]
		what := awsapply.Describe(act)
		e := n.Status.Execution.Journal[i]
		switch e.State {
		case v1.JournalVerified:
			continue
		case v1.JournalFailed, v1.JournalRollingBack, v1.JournalRolledBack:
			return s.beginRollback(ctx, rollbackFailed, fmt.Sprintf("action %d (%s) is %s", i, what, e.State))
		case v1.JournalPending, v1.JournalApplying:
			done := false
			if e.State == v1.JournalApplying {
				// A call may have happened without its answer being recorded: look first.
				ok, res, err := s.app.Observe(ctx, act)
				if err != nil {
					if s.exhausted(i) {
						return s.beginRollback(ctx, rollbackFailed, fmt.Sprintf("action %d (%s): AWS kept failing while checking whether it took effect: %v", i, what, err))
					}
					return s.retryLater(ctx, i, err, true)
				}
				if ok {
					if err := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
						s.setEntry(n, i, v1.JournalApplied, "in effect in AWS after a restart; not applied again", res.ResourceID)
					}); err != nil {
						return reconcile.Result{}, err
					}
					s.auditBestEffort(ctx, audit.EventActionApplied, i, what, "observed in effect after restart")
					done = true
				}
			}
			if !done {
				if res, err := s.applyOne(ctx, i, act, what, uid); err != nil || res != nil {
					if res != nil {
						return *res, err
					}
					return reconcile.Result{}, err
				}
			}
			fallthrough
		case v1.JournalApplied:
			if err := s.app.Verify(ctx, act); err != nil {
				if ctx.Err() != nil {
					return reconcile.Result{}, ctx.Err()
				}
				if awsapply.IsRetryable(err) && !s.exhausted(i) {
					return s.retryLater(ctx, i, err, true)
				}
				return s.beginRollback(ctx, rollbackFailed, fmt.Sprintf("action %d (%s) did not verify: %v", i, what, err))
			}
			if err := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
				s.setEntry(n, i, v1.JournalVerified, "verified by describing AWS", "")
			}); err != nil {
				return reconcile.Result{}, err
			}
			s.auditBestEffort(ctx, audit.EventActionVerified, i, what, "")
		}
	}
	return s.succeed(ctx)
}

// applyOne makes the mutating call of action i with its journal records around it.
// It returns a non-nil result when run must stop (and return it).
func (s *scope) applyOne(ctx context.Context, i int, act v1.Action, what, uid string) (*reconcile.Result, error) {
	ref, err := s.precall(ctx, i, what, false)
	if err != nil {
		return &reconcile.Result{}, err
	}
	if ref != nil {
		if ref.transient() {
			res, err := s.refuse(ctx, ref)
			return &res, err
		}
		res, err := s.beginRollback(ctx, rollbackFailed, fmt.Sprintf("refused before action %d (%s): %s", i, what, ref.Message))
		return &res, err
	}
	if err := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
		n.Status.Execution.Journal[i].Attempts++
		s.setEntry(n, i, v1.JournalApplying, "calling AWS: "+what, "")
	}); err != nil {
		return &reconcile.Result{}, err
	}
	res, err := s.app.Apply(ctx, act, uid)
	if ctx.Err() != nil {
		// Stopped mid-call (shutdown): the journal says Applying, the next run observes.
		return &reconcile.Result{}, ctx.Err()
	}
	if err != nil {
		if awsapply.IsRetryable(err) && int(s.ncr.Status.Execution.Journal[i].Attempts) < s.r.Options.MaxRounds {
			rr, rerr := s.retryLater(ctx, i, err, false)
			return &rr, rerr
		}
		if perr := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
			s.setEntry(n, i, v1.JournalFailed, err.Error(), "")
		}); perr != nil {
			return &reconcile.Result{}, perr
		}
		s.auditBestEffort(ctx, audit.EventActionFailed, i, what, err.Error())
		s.r.event(s.ncr, true, v1.ReasonApplyFailed, "action %d (%s) failed: %v", i, what, err)
		rr, rerr := s.beginRollback(ctx, rollbackFailed, fmt.Sprintf("action %d (%s) failed: %v", i, what, err))
		return &rr, rerr
	}
	msg := res.Message
	if msg == "" {
		msg = "applied"
	}
	if err := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
		s.setEntry(n, i, v1.JournalApplied, msg, res.ResourceID)
	}); err != nil {
		return &reconcile.Result{}, err
	}
	s.auditBestEffort(ctx, audit.EventActionApplied, i, what, msg)
	s.r.event(s.ncr, false, "ActionApplied", "action %d applied: %s", i, what)
	return nil, nil
}

// retryLater records a retryable failure on entry i and requeues with backoff; the
// journal keeps its state, and the next run observes before calling again.
//
// count adds a round to the entry's attempts (observe, verify and rollback calls;
// applyOne counts its own before the call), so the backoff grows and apply-side
// retries end after MaxRounds (see exhausted).
func (s *scope) retryLater(ctx context.Context, i int, cause error, count bool) (reconcile.Result, error) {
	if ctx.Err() != nil {
		return reconcile.Result{}, ctx.Err()
	}
	attempts := int(s.ncr.Status.Execution.Journal[i].Attempts)
	if count {
		attempts++
	}
	delay := awsapply.Backoff(s.r.Options.RetryBase, 10*time.Minute, max(attempts, 1))
	msg := fmt.Sprintf("AWS is failing in a way that may pass (%v); retrying in %s", cause, delay)
	if err := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
		n.Status.Execution.Journal[i].Attempts = int32(attempts)
		n.Status.Execution.Journal[i].Message = truncate(msg, 1024)
		s.setCondition(n, v1.ConditionReady, metav1.ConditionFalse, v1.ReasonApplying, msg)
	}); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: delay}, nil
}

// exhausted reports whether entry i used up its rounds (MaxRounds).
func (s *scope) exhausted(i int) bool {
	return int(s.ncr.Status.Execution.Journal[i].Attempts) >= s.r.Options.MaxRounds
}

// succeed closes a fully verified execution and schedules the revert of a time-boxed change.
func (s *scope) succeed(ctx context.Context) (reconcile.Result, error) {
	r := s.r
	var revertIn time.Duration
	err := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
		now := metav1.NewTime(r.now())
		n.Status.Execution.CompletedAt = &now
		msg := fmt.Sprintf("%d action(s) applied and verified", len(n.Status.Execution.Journal))
		if n.Spec.RevertAfter != nil {
			at := metav1.NewTime(now.Add(n.Spec.RevertAfter.Duration))
			n.Status.Execution.RevertAt = &at
			revertIn = n.Spec.RevertAfter.Duration
			msg += "; reverted at " + at.UTC().Format(time.RFC3339)
		}
		s.setPhase(n, v1.PhaseSucceeded, msg)
		s.setCondition(n, v1.ConditionApplied, metav1.ConditionTrue, v1.ReasonApplied, "every action was applied")
		s.setCondition(n, v1.ConditionVerified, metav1.ConditionTrue, v1.ReasonVerified, "every action was confirmed by describing AWS")
		s.setCondition(n, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonVerified, msg)
	})
	if err != nil {
		return reconcile.Result{}, err
	}
	r.event(s.ncr, false, "Succeeded", "%s", s.ncr.Status.Message)
	if revertIn > 0 {
		return reconcile.Result{RequeueAfter: revertIn}, nil
	}
	return reconcile.Result{}, nil
}

// revertWhenDue starts the rollback of a time-boxed change at revertAt.
func (s *scope) revertWhenDue(ctx context.Context) (reconcile.Result, error) {
	at := s.ncr.Status.Execution.RevertAt.Time
	if now := s.r.now(); now.Before(at) {
		return reconcile.Result{RequeueAfter: at.Sub(now)}, nil
	}
	if ref, err := s.clients(ctx); err != nil || ref != nil {
		if err != nil {
			return reconcile.Result{}, err
		}
		return s.stuck(ctx, "cannot revert: "+ref.Message)
	}
	return s.beginRollback(ctx, rollbackReverted, "revertAfter elapsed at "+at.UTC().Format(time.RFC3339))
}

// beginRollback records why applied actions are being undone, then rolls back.
func (s *scope) beginRollback(ctx context.Context, kind, why string) (reconcile.Result, error) {
	if err := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
		n.Status.Execution.RollbackReason = truncate(kind+": "+why, 1024)
		n.Status.Execution.CompletedAt = nil
		if kind != rollbackDeleted {
			s.setPhase(n, v1.PhaseExecuting, "rolling back: "+why)
		}
		s.setCondition(n, v1.ConditionReady, metav1.ConditionFalse, kind, "rolling back: "+why)
	}); err != nil {
		return reconcile.Result{}, err
	}
	if s.app == nil {
		if ref, err := s.clients(ctx); err != nil || ref != nil {
			if err != nil {
				return reconcile.Result{}, err
			}
			return s.stuck(ctx, "cannot roll back: "+ref.Message)
		}
	}
	return s.rollback(ctx)
}

// rollback undoes, in reverse order, every action the journal says is (or may be)
// in effect, with journal records around each inverse call.
func (s *scope) rollback(ctx context.Context) (reconcile.Result, error) {
	n := s.ncr
	uid := string(n.UID)
	for i := len(n.Status.Execution.Journal) - 1; i >= 0; i-- {
		e := n.Status.Execution.Journal[i]
		act := n.Status.Plan.Actions[i]
		what := awsapply.Describe(act)
		switch e.State {
		case v1.JournalPending, v1.JournalFailed, v1.JournalRolledBack:
			continue
		case v1.JournalApplying:
			ok, _, err := s.app.Observe(ctx, act)
			if err != nil {
				return s.retryLater(ctx, i, err, true)
			}
			if !ok {
				if err := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
					s.setEntry(n, i, v1.JournalPending, "never took effect; nothing to roll back", "")
				}); err != nil {
					return reconcile.Result{}, err
				}
				continue
			}
		}
		ref, err := s.precall(ctx, i, "undo "+what, true)
		if err != nil {
			return reconcile.Result{}, err
		}
		if ref != nil {
			return s.refuse(ctx, ref)
		}
		if err := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
			s.setEntry(n, i, v1.JournalRollingBack, "undoing: "+what, "")
		}); err != nil {
			return reconcile.Result{}, err
		}
		err = s.app.Rollback(ctx, act, awsapply.Result{ResourceID: e.ResultID}, uid)
		if ctx.Err() != nil {
			return reconcile.Result{}, ctx.Err()
		}
		if err != nil {
			if awsapply.IsRetryable(err) {
				// A rollback is never abandoned for a passing failure: it retries with
				// a backoff that grows to 10 minutes.
				return s.retryLater(ctx, i, err, true)
			}
			return s.stuck(ctx, fmt.Sprintf("rollback of action %d (%s) failed: %v; AWS is partly changed — repair it by hand", i, what, err))
		}
		if err := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
			s.setEntry(n, i, v1.JournalRolledBack, "rolled back", "")
		}); err != nil {
			return reconcile.Result{}, err
		}
		s.auditBestEffort(ctx, audit.EventActionRolledBack, i, what, "")
		s.r.event(n, false, "ActionRolledBack", "action %d rolled back: %s", i, what)
	}
	return s.finishRollback(ctx)
}

// finishRollback sets the end state of a completed rollback.
func (s *scope) finishRollback(ctx context.Context) (reconcile.Result, error) {
	r := s.r
	reason := s.ncr.Status.Execution.RollbackReason
	kind, why, _ := strings.Cut(reason, ": ")
	err := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
		now := metav1.NewTime(r.now())
		n.Status.Execution.CompletedAt = &now
		switch kind {
		case rollbackReverted:
			s.setPhase(n, v1.PhaseReverted, "time-boxed change reverted: "+why)
			s.setCondition(n, v1.ConditionRolledBack, metav1.ConditionTrue, v1.ReasonReverted, "reverted at revertAfter")
			s.setCondition(n, v1.ConditionApplied, metav1.ConditionFalse, v1.ReasonReverted, "the change was reverted")
			s.setCondition(n, v1.ConditionReady, metav1.ConditionFalse, v1.ReasonReverted, "the change was reverted")
		case rollbackDeleted:
			s.setCondition(n, v1.ConditionRolledBack, metav1.ConditionTrue, v1.ReasonRolledBack, "rolled back because the request was deleted (deletionPolicy Rollback)")
			s.setCondition(n, v1.ConditionApplied, metav1.ConditionFalse, v1.ReasonRolledBack, "the change was rolled back")
			s.setCondition(n, v1.ConditionReady, metav1.ConditionFalse, v1.ReasonRolledBack, "the change was rolled back")
		default:
			s.setPhase(n, v1.PhaseRolledBack, "rolled back: "+why)
			s.setCondition(n, v1.ConditionRolledBack, metav1.ConditionTrue, v1.ReasonRolledBack, "applied actions were undone in reverse order")
			s.setCondition(n, v1.ConditionApplied, metav1.ConditionFalse, v1.ReasonApplyFailed, why)
			s.setCondition(n, v1.ConditionVerified, metav1.ConditionFalse, v1.ReasonApplyFailed, why)
			s.setCondition(n, v1.ConditionReady, metav1.ConditionFalse, v1.ReasonApplyFailed, why)
		}
	})
	if err != nil {
		return reconcile.Result{}, err
	}
	r.event(s.ncr, kind != rollbackReverted, "RolledBack", "%s", reason)
	if kind == rollbackDeleted {
		return reconcile.Result{}, s.removeFinalizer(ctx)
	}
	return reconcile.Result{}, nil
}

// stuck ends the execution as Failed when it cannot continue or roll back safely.
func (s *scope) stuck(ctx context.Context, msg string) (reconcile.Result, error) {
	r := s.r
	err := s.patch(ctx, func(n *v1.NetworkChangeRequest) {
		now := metav1.NewTime(r.now())
		if n.Status.Execution != nil {
			n.Status.Execution.CompletedAt = &now
		}
		s.setPhase(n, v1.PhaseFailed, msg)
		s.setCondition(n, v1.ConditionRolledBack, metav1.ConditionFalse, v1.ReasonApplyFailed, msg)
		s.setCondition(n, v1.ConditionApplied, metav1.ConditionFalse, v1.ReasonApplyFailed, msg)
		s.setCondition(n, v1.ConditionReady, metav1.ConditionFalse, v1.ReasonApplyFailed, msg)
	})
	if err != nil {
		return reconcile.Result{}, err
	}
	r.event(s.ncr, true, "Failed", "%s", msg)
	return reconcile.Result{}, nil
}

// reconcileDelete rolls back applied actions of a deleted request with
// deletionPolicy Rollback, then lets it go.
func (s *scope) reconcileDelete(ctx context.Context) (reconcile.Result, error) {
	n := s.ncr
	if !hasFinalizer(n) {
		return reconcile.Result{}, nil
	}
	exe := n.Status.Execution
	if n.Spec.DeletionPolicy != v1.DeletionPolicyRollback || exe == nil || exe.StartedAt == nil || n.Status.Plan == nil ||
		exe.PlanDigest != n.Status.Plan.Digest || len(exe.Journal) != len(n.Status.Plan.Actions) {
		return reconcile.Result{}, s.removeFinalizer(ctx)
	}
	if strings.HasPrefix(exe.RollbackReason, rollbackDeleted) && exe.CompletedAt == nil {
		if ref, err := s.clients(ctx); err != nil || ref != nil {
			if err != nil {
				return reconcile.Result{}, err
			}
			return s.stuck(ctx, "cannot roll back on deletion: "+ref.Message)
		}
		return s.rollback(ctx)
	}
	if exe.RollbackReason != "" && exe.CompletedAt != nil {
		// Already rolled back (failure or revert): nothing left in effect.
		return reconcile.Result{}, s.removeFinalizer(ctx)
	}
	return s.beginRollback(ctx, rollbackDeleted, "the request was deleted with deletionPolicy Rollback")
}

// auditBestEffort records an after-the-fact event; a failure is logged and shown
// as an Event (the next intent record, which gates the next call, fails closed).
func (s *scope) auditBestEffort(ctx context.Context, typ audit.EventType, i int, what, msg string) {
	if err := s.audit(ctx, typ, map[string]any{"index": i, "action": what, "result": msg}); err != nil {
		logf.FromContext(ctx).Error(err, "audit record", "type", typ)
		s.r.event(s.ncr, true, v1.ReasonAuditUnavailable, "could not record %s of action %d: %v", typ, i, err)
	}
}
