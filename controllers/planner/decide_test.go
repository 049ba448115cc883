package planner

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

type reqOpt func(*v1.NetworkChangeRequest)

func mkReq(opts ...reqOpt) *v1.NetworkChangeRequest {
	r := &v1.NetworkChangeRequest{ObjectMeta: metav1.ObjectMeta{Generation: 1, Annotations: map[string]string{}}}
	for _, o := range opts {
		o(r)
	}
	return r
}

func withPlan(trigger string) reqOpt {
	return func(r *v1.NetworkChangeRequest) {
		r.Status.Plan = &v1.Plan{Generation: 1, Digest: digestA, Trigger: trigger}
	}
}

func withPhase(p v1.Phase) reqOpt { return func(r *v1.NetworkChangeRequest) { r.Status.Phase = p } }

func withReplan(v string) reqOpt {
	return func(r *v1.NetworkChangeRequest) { r.Annotations[v1.AnnotationReplan] = v }
}

func withCond(typ string, st metav1.ConditionStatus, reason, msg string) reqOpt {
	return func(r *v1.NetworkChangeRequest) {
		r.Status.Conditions = append(r.Status.Conditions, metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, ObservedGeneration: 1})
	}
}

func withExecution(digest string) reqOpt {
	return func(r *v1.NetworkChangeRequest) { r.Status.Execution = &v1.Execution{PlanDigest: digest} }
}

func TestPlanTrigger(t *testing.T) {
	stale := withCond(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonStalePlan, "AWS changed")
	failed := func(trigger string) reqOpt {
		return withCond(v1.ConditionPlanned, metav1.ConditionFalse, v1.ReasonPlanningFailed, failureMessage(errors.New("x"), trigger))
	}
	cases := []struct {
		name string
		req  *v1.NetworkChangeRequest
		want string
	}{
		{"new request", mkReq(), TriggerInitial},
		{"planned", mkReq(withPlan(TriggerInitial), withPhase(v1.PhaseAwaitingVerdict)), ""},
		{"plan for an older generation", mkReq(func(r *v1.NetworkChangeRequest) { r.Generation = 2 }, withPlan(TriggerInitial)), TriggerInitial},
		{"failed terminally is not retried", mkReq(failed(TriggerInitial), withPhase(v1.PhaseFailed)), ""},
		{"planner unavailable is retried", mkReq(withCond(v1.ConditionPlanned, metav1.ConditionFalse, v1.ReasonPlannerUnavailable, "down")), TriggerInitial},
		{"stale for the current plan", mkReq(withPlan(TriggerInitial), withExecution(digestA), stale, withPhase(v1.PhaseFailed)), TriggerStale},
		{"stale while executing", mkReq(withPlan(TriggerInitial), withExecution(digestA), stale, withPhase(v1.PhaseExecuting)), TriggerStale},
		{"stale for an older plan", mkReq(withPlan(TriggerStale), withExecution("sha256:old"), stale), ""},
		{"ready false for another reason", mkReq(withPlan(TriggerInitial), withExecution(digestA),
			withCond(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonVerdictMissing, "")), ""},
		{"replan token", mkReq(withPlan(TriggerInitial), withReplan("1")), "user:1"},
		{"replan token answered", mkReq(withPlan("user:1"), withReplan("1")), ""},
		{"replan token changed", mkReq(withPlan("user:1"), withReplan("2")), "user:2"},
		{"replan ignored while executing", mkReq(withPlan(TriggerInitial), withReplan("1"), withPhase(v1.PhaseExecuting)), ""},
		{"replan ignored when succeeded", mkReq(withPlan(TriggerInitial), withReplan("1"), withPhase(v1.PhaseSucceeded)), ""},
		{"replan after a terminal failure", mkReq(failed(TriggerInitial), withReplan("again")), "user:again"},
		{"failed replan token not retried", mkReq(failed("user:again"), withReplan("again"), withPhase(v1.PhaseFailed)), ""},
		{"blank replan token", mkReq(withPlan(TriggerInitial), withReplan("  ")), ""},
		{"replan after a veto", mkReq(withPlan(TriggerInitial), withReplan("v2"), withPhase(v1.PhaseVetoed)), "user:v2"},
		{"long replan token is hashed", mkReq(withPlan(TriggerInitial), withReplan(strings.Repeat("y", 3000))), "user:" + replanToken(strings.Repeat("y", 3000))},
		{"failed odd replan token not retried", mkReq(failed("user:"+replanToken("(x)")), withReplan("(x)"), withPhase(v1.PhaseFailed)), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := planTrigger(tc.req)
			if got != tc.want || ok != (tc.want != "") {
				t.Fatalf("planTrigger = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func TestReplanToken(t *testing.T) {
	for _, raw := range []string{"1", "again", "2026-11-30T12:00", " v2 "} {
		if got := replanToken(raw); got != strings.TrimSpace(raw) {
			t.Errorf("replanToken(%q) = %q, want it unchanged", raw, got)
		}
	}
	for _, raw := range []string{strings.Repeat("z", 2000), "(x)", "a b", "ünïcode"} {
		got := replanToken(raw)
		if !strings.HasPrefix(got, "sha256-") || len(TriggerUserPrefix+got) > 128 || got != replanToken(raw) {
			t.Errorf("replanToken(%q) = %q, want a stable sha256- token that fits a trigger", raw, got)
		}
	}
}

func TestFailureMessage(t *testing.T) {
	long := errors.New(strings.Repeat("x", 5000))
	for _, tc := range []struct {
		err     error
		trigger string
	}{{errors.New("no rule matches"), TriggerInitial}, {long, "user:abc"}, {long, "user:" + replanToken(strings.Repeat("q", 2500))}} {
		msg := failureMessage(tc.err, tc.trigger)
		if len(msg) > maxMessage {
			t.Errorf("message is %d bytes", len(msg))
		}
		c := &metav1.Condition{Type: v1.ConditionPlanned, Status: metav1.ConditionFalse, Reason: v1.ReasonPlanningFailed, Message: msg, ObservedGeneration: 1}
		if got := failedTrigger(c, 1); got != tc.trigger {
			t.Errorf("failedTrigger = %q, want %q", got, tc.trigger)
		}
		if got := failedTrigger(c, 2); got != "" {
			t.Errorf("failedTrigger for another generation = %q", got)
		}
	}
}

func TestSetPlanned(t *testing.T) {
	r := mkReq()
	setPlanned(r, metav1.ConditionTrue, v1.ReasonPlanReady, "ok")
	setPhase(r, v1.PhaseAwaitingVerdict, strings.Repeat("m", 3000))
	c := findPlanned(r)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonPlanReady || c.ObservedGeneration != 1 {
		t.Fatalf("condition = %+v", c)
	}
	if r.Status.Phase != v1.PhaseAwaitingVerdict || len(r.Status.Message) > 2048 || r.Status.ObservedGeneration != 1 {
		t.Fatalf("status = %s %d %d", r.Status.Phase, len(r.Status.Message), r.Status.ObservedGeneration)
	}
}
