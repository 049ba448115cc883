package executor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/audit"
	"github.com/netchange-io/netchange/internal/plan"
	"github.com/netchange-io/netchange/internal/verdict"
	"github.com/netchange-io/netchange/test/awsproxy"
)

// One control cluster, one moto and one proxy for all executor tests (each starts
// in ~10 s on this machine); subtests run in order and reseed moto.
func TestReconciler_Reconcile(t *testing.T) {
	h := newHarness(t)
	h.start(t)
	t.Run("refusals make no mutating AWS call", func(t *testing.T) { testRefusals(t, h) })
	t.Run("three actions applied and verified once", func(t *testing.T) { testSuccess(t, h) })
	t.Run("a status reset cannot replay a consumed verdict", func(t *testing.T) { testStatusResetReplay(t, h) })
	t.Run("throttling is retried and the change made once", func(t *testing.T) { testThrottled(t, h) })
	t.Run("permanent error rolls back the first action", func(t *testing.T) { testPermanentRollsBack(t, h) })
	t.Run("crash between call and journal write", func(t *testing.T) { testCrashSafety(t, h) })
	t.Run("revertAfter undoes the change", func(t *testing.T) { testRevertAfter(t, h) })
	t.Run("deletionPolicy Rollback undoes the change on delete", func(t *testing.T) { testDeleteRollsBack(t, h) })
	t.Run("freeze holds the request until lifted", func(t *testing.T) { testFreeze(t, h) })
	t.Run("freeze declared mid-execution holds the next call", func(t *testing.T) { testFreezeMidExecution(t, h) })
	t.Run("failing audit sink blocks every call", func(t *testing.T) { testAuditDown(t, h) })
}

func testRefusals(t *testing.T, h *harness) {
	h.seed(t)
	otherPrivPEM, _, err := verdict.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherPriv, err := verdict.ParsePrivateKey(otherPrivPEM)
	if err != nil {
		t.Fatal(err)
	}
	// A request elsewhere already consumed this nonce.
	const usedNonce = "00000000000000000000000000000042"
	h.request(t, "refuse-nonce-owner", "owner", h.threeActions(), requestOpts{tamper: func(n *v1.NetworkChangeRequest) {
		now := metav1.Now()
		n.Status.Plan = nil
		n.Status.Execution = &v1.Execution{PlanDigest: "sha256:" + strings.Repeat("0", 64), VerdictNonce: usedNonce, StartedAt: &now, CompletedAt: &now}
	}})

	cases := []struct {
		name          string
		opts          requestOpts
		actions       func() []v1.Action
		reason        string
		verdictReason string
		phase         v1.Phase
	}{
		{name: "no verdict", reason: v1.ReasonVerdictMissing,
			opts: requestOpts{tamper: func(n *v1.NetworkChangeRequest) { n.Status.Verdict = nil }}},
		{name: "forged signature", reason: v1.ReasonVerdictInvalid, verdictReason: verdict.SignatureInvalid,
			opts: requestOpts{tamper: func(n *v1.NetworkChangeRequest) { n.Status.Verdict.Statement.PolicyVersion = "test@2" }}},
		{name: "unknown key", reason: v1.ReasonVerdictInvalid, verdictReason: verdict.UnknownKey,
			opts: requestOpts{tamper: func(n *v1.NetworkChangeRequest) {
				sv, err := verdict.Sign(n.Status.Verdict.Statement, otherPriv)
				if err != nil {
					t.Fatal(err)
				}
				n.Status.Verdict = sv
			}}},
		{name: "plan changed by one byte after approval", reason: v1.ReasonVerdictInvalid, verdictReason: verdict.DigestMismatch,
			opts: requestOpts{tamper: func(n *v1.NetworkChangeRequest) {
				n.Status.Plan.Actions[0].NetworkACLEntry.CIDR = "203.0.113.0/25"
			}}},
		{name: "verdict of another request", reason: v1.ReasonVerdictInvalid, verdictReason: verdict.RequestMismatch,
			opts: requestOpts{statement: func(st *v1.VerdictStatement) {
				st.Name, st.RequestUID = "other", "5b0c6c1e-0000-4000-8000-000000000001"
			}}},
		{name: "verdict of an older generation", reason: v1.ReasonVerdictInvalid, verdictReason: verdict.GenerationMismatch,
			opts: requestOpts{statement: func(st *v1.VerdictStatement) { st.Generation-- }}},
		{name: "expired verdict", reason: v1.ReasonVerdictInvalid, verdictReason: verdict.Expired, phase: v1.PhaseExpired,
			opts: requestOpts{statement: func(st *v1.VerdictStatement) { st.ExpiresAt = metav1.NewTime(time.Now().Add(-time.Minute)) }}},
		{name: "vetoed verdict", reason: v1.ReasonVerdictInvalid, verdictReason: verdict.NotApproved,
			opts: requestOpts{statement: func(st *v1.VerdictStatement) { st.Decision = v1.DecisionVeto }}},
		{name: "replayed nonce", reason: v1.ReasonVerdictInvalid, verdictReason: "NonceReused",
			opts: requestOpts{statement: func(st *v1.VerdictStatement) { st.Nonce = usedNonce }}},
		{name: "internet ingress in production", reason: v1.ReasonGuardrail, phase: v1.PhaseFailed,
			actions: func() []v1.Action {
				return []v1.Action{{Type: v1.ActionSecurityGroupRuleAuthorize, SecurityGroupRule: &v1.SecurityGroupRuleParams{GroupID: h.sg,
					Direction: v1.DirectionIngress, Protocol: v1.ProtocolTCP, Ports: &v1.PortRange{From: 22, To: 22}, CIDR: "0.0.0.0/0"}}}
			},
			opts: requestOpts{env: v1.EnvironmentProduction}},
		{name: "AWS changed since the plan", reason: v1.ReasonStalePlan,
			opts: requestOpts{tamper: func(n *v1.NetworkChangeRequest) {
				// Re-sign for a plan whose snapshot says something else than AWS does.
				n.Status.Plan.Snapshot[0].State = `{"changed":true}`
				resign(t, h, n)
			}}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			actions := h.threeActions()
			if tc.actions != nil {
				actions = tc.actions()
			}
			n := h.request(t, fmt.Sprintf("refuse-%d", i), "r", actions, tc.opts)
			got := h.wait(t, n, "refusal "+tc.reason, ready(tc.reason))
			c := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionApplied)
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != tc.reason {
				t.Errorf("Applied = %+v, want False/%s", c, tc.reason)
			}
			if tc.verdictReason != "" && !strings.Contains(meta.FindStatusCondition(got.Status.Conditions, v1.ConditionReady).Message, tc.verdictReason) {
				t.Errorf("Ready message %q does not name %s", meta.FindStatusCondition(got.Status.Conditions, v1.ConditionReady).Message, tc.verdictReason)
			}
			if tc.phase != "" && got.Status.Phase != tc.phase {
				t.Errorf("phase %s, want %s", got.Status.Phase, tc.phase)
			}
			if tc.reason == v1.ReasonStalePlan && (got.Status.Execution == nil || got.Status.Execution.PlanDigest != got.Status.Plan.Digest) {
				t.Errorf("execution.planDigest not set to the stale plan's digest: %+v", got.Status.Execution)
			}
			h.waitAudit(t, n, audit.EventExecutionRefused, 1)
			if m := h.proxy.Mutations(); len(m) != 0 {
				t.Fatalf("mutating AWS calls were made: %s", h.proxy.Summary())
			}
		})
	}
}

// resign signs a fresh verdict for the (tampered) plan of n, with a valid digest.
func resign(t *testing.T, h *harness, n *v1.NetworkChangeRequest) {
	t.Helper()
	d, err := plan.Digest(n, n.Status.Plan)
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Plan.Digest = d
	st := n.Status.Verdict.Statement
	st.PlanDigest = d
	sv, err := verdict.Sign(st, h.priv)
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Verdict = sv
}

func testSuccess(t *testing.T, h *harness) {
	h.seed(t)
	n := h.request(t, "apply-ok", "three", h.threeActions(), requestOpts{})
	got := h.wait(t, n, "Succeeded", phase(v1.PhaseSucceeded))
	for _, typ := range []string{v1.ConditionApplied, v1.ConditionVerified, v1.ConditionReady} {
		if !meta.IsStatusConditionTrue(got.Status.Conditions, typ) {
			t.Errorf("%s is not True: %s", typ, conds(got))
		}
	}
	for _, e := range got.Status.Execution.Journal {
		if e.State != v1.JournalVerified {
			t.Errorf("journal %s", journal(got))
		}
	}
	if c := h.counts(t); c != [3]int{1, 1, 1} {
		t.Errorf("moto shows changes %v, want each exactly once", c)
	}
	for _, call := range threeCalls {
		if n := h.proxy.Forwarded(call); n != 1 {
			t.Errorf("%s reached AWS %d times, want 1 (%s)", call, n, h.proxy.Summary())
		}
	}
	for _, typ := range []audit.EventType{audit.EventActionIntent, audit.EventActionApplied, audit.EventActionVerified} {
		if c := h.audit.count(n.UID, typ); c != 3 {
			t.Errorf("%d %s audit records, want 3", c, typ)
		}
	}
}

// testStatusResetReplay: anyone who can write the status subresource (the planner's
// and the auditor's identities can) clears status.execution of a time-boxed request
// after its revert, while its verdict is still valid. The executor must refuse the
// verdict as a replay (NonceReused) from the ledger on the request's metadata,
// before it looks at AWS at all, and make no call.
func testStatusResetReplay(t *testing.T, h *harness) {
	h.seed(t)
	n := h.request(t, "replay-reset", "three", h.threeActions(), requestOpts{revertAfter: 2 * time.Second})
	got := h.wait(t, n, "Reverted", phase(v1.PhaseReverted))
	if !strings.Contains(got.Annotations[v1.AnnotationConsumedNonces], got.Status.Verdict.Statement.Nonce) {
		t.Fatalf("consumed-nonces annotation %q lacks the verdict's nonce", got.Annotations[v1.AnnotationConsumedNonces])
	}
	if c := h.counts(t); c != [3]int{0, 0, 0} {
		t.Fatalf("moto shows changes %v after the revert, want none", c)
	}
	total := func() (n int) {
		for _, c := range h.proxy.Mutations() {
			n += c
		}
		return n
	}
	before := total()
	orig := got.DeepCopy()
	got.Status.Execution = nil
	got.Status.Phase = v1.PhaseApproved
	for _, ct := range []string{v1.ConditionApplied, v1.ConditionVerified, v1.ConditionReady, v1.ConditionRolledBack} {
		meta.RemoveStatusCondition(&got.Status.Conditions, ct)
	}
	if err := h.cluster.Client.Status().Patch(t.Context(), got, client.MergeFrom(orig)); err != nil {
		t.Fatalf("reset status: %v", err)
	}
	refused := h.wait(t, n, "refused as a replay", func(n *v1.NetworkChangeRequest) bool {
		c := meta.FindStatusCondition(n.Status.Conditions, v1.ConditionReady)
		return c != nil && c.Reason == v1.ReasonVerdictInvalid && strings.Contains(c.Message, "NonceReused")
	})
	if refused.Status.Execution != nil && refused.Status.Execution.StartedAt != nil {
		t.Errorf("a new execution started: %s", journal(refused))
	}
	if after := total(); after != before {
		t.Errorf("%d mutating AWS calls after the status reset, want 0 (%s)", after-before, h.proxy.Summary())
	}
	if c := h.counts(t); c != [3]int{0, 0, 0} {
		t.Errorf("moto shows changes %v after the status reset, want none", c)
	}
}

func testThrottled(t *testing.T, h *harness) {
	h.seed(t)
	h.proxy.Inject(awsproxy.Fault{Action: threeCalls[0], Kind: awsproxy.Throttle, Times: 2})
	h.proxy.Inject(awsproxy.Fault{Action: threeCalls[1], Kind: awsproxy.Unavailable, Times: 2})
	n := h.request(t, "apply-throttled", "three", h.threeActions(), requestOpts{})
	h.wait(t, n, "Succeeded", phase(v1.PhaseSucceeded))
	for i, call := range threeCalls {
		want := 3
		if i == 2 {
			want = 1
		}
		if got := h.proxy.Received(call); got != want {
			t.Errorf("%s arrived %d times, want %d", call, got, want)
		}
		if got := h.proxy.Forwarded(call); got != 1 {
			t.Errorf("%s reached moto %d times, want 1", call, got)
		}
	}
	if c := h.counts(t); c != [3]int{1, 1, 1} {
		t.Errorf("moto shows changes %v, want each exactly once", c)
	}
}

func testPermanentRollsBack(t *testing.T, h *harness) {
	h.seed(t)
	h.proxy.Inject(awsproxy.Fault{Action: threeCalls[1], Kind: awsproxy.Permanent, Code: "InvalidGroup.NotFound", Message: "The security group does not exist (injected)"})
	n := h.request(t, "apply-fails", "three", h.threeActions(), requestOpts{})
	got := h.wait(t, n, "RolledBack", phase(v1.PhaseRolledBack))
	states := []v1.JournalState{v1.JournalRolledBack, v1.JournalFailed, v1.JournalPending}
	for i, e := range got.Status.Execution.Journal {
		if e.State != states[i] {
			t.Errorf("journal %s, want states %v", journal(got), states)
			break
		}
	}
	if !strings.Contains(got.Status.Message, "InvalidGroup.NotFound") || !strings.Contains(got.Status.Execution.Journal[1].Message, "InvalidGroup.NotFound") {
		t.Errorf("message %q / journal %q does not carry the AWS error", got.Status.Message, got.Status.Execution.Journal[1].Message)
	}
	if !meta.IsStatusConditionTrue(got.Status.Conditions, v1.ConditionRolledBack) {
		t.Errorf("RolledBack not True: %s", conds(got))
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionApplied); c == nil || c.Reason != v1.ReasonApplyFailed {
		t.Errorf("Applied = %+v, want reason ApplyFailed", c)
	}
	if c := h.counts(t); c != [3]int{0, 0, 0} {
		t.Errorf("moto shows changes %v after rollback, want none", c)
	}
	h.waitAudit(t, n, audit.EventActionRolledBack, 1)
	// Not a hot loop: the request stays quiet once rolled back.
	// Counted for this request only: other requests of the suite may still be held or retried.
	nn := types.NamespacedName{Namespace: n.Namespace, Name: n.Name}
	calls, reconciles := h.proxy.Received(threeCalls[1]), h.rec.reconcilesOf(nn)
	time.Sleep(2 * time.Second)
	if c := h.proxy.Received(threeCalls[1]); c != calls || c != 1 {
		t.Errorf("the failing call was tried %d times (then %d), want exactly 1", calls, c)
	}
	if d := h.rec.reconcilesOf(nn) - reconciles; d > 3 {
		t.Errorf("%d reconciles in 2s after the request ended: hot loop", d)
	}
}

func testCrashSafety(t *testing.T, h *harness) {
	for k := range threeCalls {
		t.Run(threeCalls[k], func(t *testing.T) {
			h.seed(t)
			crashed := make(chan struct{})
			h.proxy.Inject(awsproxy.Fault{Action: threeCalls[k], Kind: awsproxy.DropAfterApply, Times: 1, OnApplied: func() {
				h.cancel() // the executor dies after AWS made the change, before the journal says so
				close(crashed)
			}})
			n := h.request(t, fmt.Sprintf("crash-%d", k), "three", h.threeActions(), requestOpts{})
			select {
			case <-crashed:
			case <-time.After(90 * time.Second):
				t.Fatalf("the executor never made call %s (%s)", threeCalls[k], h.proxy.Summary())
			}
			h.stop()
			h.wait(t, n, "journal left in Applying", func(n *v1.NetworkChangeRequest) bool {
				return n.Status.Execution != nil && n.Status.Execution.Journal[k].State == v1.JournalApplying
			})
			h.start(t)
			got := h.wait(t, n, "Succeeded after restart", phase(v1.PhaseSucceeded))
			if c := h.counts(t); c != [3]int{1, 1, 1} {
				t.Errorf("moto shows changes %v, want each exactly once; journal %s", c, journal(got))
			}
			for _, call := range threeCalls {
				if f := h.proxy.Forwarded(call); f != 1 {
					t.Errorf("%s reached AWS %d times, want 1 (%s)", call, f, h.proxy.Summary())
				}
			}
		})
	}
}

func testRevertAfter(t *testing.T, h *harness) {
	h.seed(t)
	n := h.request(t, "timebox", "three", h.threeActions(), requestOpts{revertAfter: 3 * time.Second})
	got := h.wait(t, n, "Succeeded", phase(v1.PhaseSucceeded))
	if got.Status.Execution.RevertAt == nil {
		t.Fatal("no revertAt on a time-boxed change")
	}
	if c := h.counts(t); c != [3]int{1, 1, 1} {
		t.Fatalf("moto shows changes %v, want each once", c)
	}
	got = h.wait(t, n, "Reverted", phase(v1.PhaseReverted))
	if c := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionRolledBack); c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonReverted {
		t.Errorf("RolledBack = %+v, want True/Reverted", c)
	}
	if c := h.counts(t); c != [3]int{0, 0, 0} {
		t.Errorf("moto shows changes %v after the revert, want none", c)
	}
}

func testDeleteRollsBack(t *testing.T, h *harness) {
	h.seed(t)
	n := h.request(t, "delete-rollback", "three", h.threeActions(), requestOpts{deletionPolicy: v1.DeletionPolicyRollback})
	got := h.wait(t, n, "Succeeded", phase(v1.PhaseSucceeded))
	if !hasFinalizer(got) {
		t.Fatalf("no %s finalizer on a request with deletionPolicy Rollback", v1.FinalizerExecutor)
	}
	if err := h.cluster.Client.Delete(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := h.cluster.Client.Get(t.Context(), types.NamespacedName{Namespace: n.Namespace, Name: n.Name}, &v1.NetworkChangeRequest{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request not gone after delete (%v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c := h.counts(t); c != [3]int{0, 0, 0} {
		t.Errorf("moto shows changes %v after deletion, want none", c)
	}
}

func testFreeze(t *testing.T, h *harness) {
	h.seed(t)
	f := &v1.ChangeFreeze{ObjectMeta: metav1.ObjectMeta{Name: "incident-42"},
		Spec: v1.ChangeFreezeSpec{Reason: "incident 42", Author: "oncall", Scope: v1.FreezeScope{Namespaces: []string{"frozen"}}}}
	if err := h.cluster.Client.Create(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	n := h.request(t, "frozen", "three", h.threeActions(), requestOpts{})
	got := h.wait(t, n, "Frozen", ready(v1.ReasonFrozen))
	if !strings.Contains(meta.FindStatusCondition(got.Status.Conditions, v1.ConditionReady).Message, "incident-42") {
		t.Errorf("Frozen message does not name the freeze: %s", conds(got))
	}
	if m := h.proxy.Mutations(); len(m) != 0 {
		t.Fatalf("mutating AWS calls under a freeze: %s", h.proxy.Summary())
	}
	if err := h.cluster.Client.Delete(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	h.wait(t, n, "Succeeded after the freeze was lifted", phase(v1.PhaseSucceeded))
}

// testFreezeMidExecution declares a freeze right after the first of three actions
// was applied: the second call must wait (no rollback, no further call) until the
// freeze is lifted, then the execution completes with each change made once.
func testFreezeMidExecution(t *testing.T, h *harness) {
	h.seed(t)
	f := &v1.ChangeFreeze{ObjectMeta: metav1.ObjectMeta{Name: "mid-execution"},
		Spec: v1.ChangeFreezeSpec{Reason: "declared during a change", Author: "oncall", Scope: v1.FreezeScope{Namespaces: []string{"midfreeze"}}}}
	var once sync.Once
	created := make(chan error, 1)
	h.audit.setAfter(func(ev audit.Event) {
		if ev.Type != audit.EventActionApplied || ev.Request.Namespace != "midfreeze" {
			return
		}
		once.Do(func() { created <- h.cluster.Client.Create(context.Background(), f) })
	})
	defer h.audit.setAfter(nil)
	n := h.request(t, "midfreeze", "three", h.threeActions(), requestOpts{})
	got := h.wait(t, n, "Frozen mid-execution", ready(v1.ReasonFrozen))
	if err := <-created; err != nil {
		t.Fatalf("declare the freeze: %v", err)
	}
	if got.Status.Phase != v1.PhaseExecuting || got.Status.Execution == nil ||
		got.Status.Execution.Journal[0].State == v1.JournalPending || got.Status.Execution.Journal[1].State != v1.JournalPending {
		t.Fatalf("want the execution paused after the first action, got phase %s, %s", got.Status.Phase, journal(got))
	}
	if c := h.counts(t); c != [3]int{1, 0, 0} {
		t.Fatalf("moto shows changes %v while frozen, want only the first", c)
	}
	if err := h.cluster.Client.Delete(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	h.wait(t, n, "Succeeded after the freeze was lifted", phase(v1.PhaseSucceeded))
	if c := h.counts(t); c != [3]int{1, 1, 1} {
		t.Errorf("moto shows changes %v, want each exactly once", c)
	}
}

func testAuditDown(t *testing.T, h *harness) {
	h.seed(t)
	h.audit.setFail(true)
	n := h.request(t, "audit-down", "three", h.threeActions(), requestOpts{})
	got := h.wait(t, n, "AuditUnavailable", ready(v1.ReasonAuditUnavailable))
	if m := h.proxy.Mutations(); len(m) != 0 {
		t.Fatalf("mutating AWS calls without an audit trail: %s", h.proxy.Summary())
	}
	if got.Status.Execution != nil && got.Status.Execution.Journal[0].State != v1.JournalPending {
		t.Errorf("journal moved without an intent record: %s", journal(got))
	}
	h.audit.setFail(false)
	h.wait(t, n, "Succeeded once the audit trail is back", phase(v1.PhaseSucceeded))
	if c := h.counts(t); c != [3]int{1, 1, 1} {
		t.Errorf("moto shows changes %v, want each exactly once", c)
	}
}
