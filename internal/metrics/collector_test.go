package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/test/testenv"
)

var t0 = time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)

func mt(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(d)); return &t }

func TestPhaseReachedAfter(t *testing.T) {
	cond := func(typ string, d time.Duration) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: "R", LastTransitionTime: *mt(d)}
	}
	tests := []struct {
		name string
		st   v1.NetworkChangeRequestStatus
		want time.Duration
	}{
		{name: "nothing happened", want: 0},
		{name: "planned", st: v1.NetworkChangeRequestStatus{Conditions: []metav1.Condition{cond("Planned", 3*time.Second)}}, want: 3 * time.Second},
		{name: "latest condition wins", st: v1.NetworkChangeRequestStatus{Conditions: []metav1.Condition{cond("Approved", 9*time.Second), cond("Planned", 3*time.Second)}}, want: 9 * time.Second},
		{name: "execution completed", st: v1.NetworkChangeRequestStatus{
			Conditions: []metav1.Condition{cond("Approved", 9*time.Second)},
			Execution:  &v1.Execution{StartedAt: mt(10 * time.Second), CompletedAt: mt(42 * time.Second)},
		}, want: 42 * time.Second},
		{name: "clock skew before creation", st: v1.NetworkChangeRequestStatus{Conditions: []metav1.Condition{cond("Planned", -time.Minute)}}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &v1.NetworkChangeRequest{Status: tt.st}
			r.CreationTimestamp = metav1.NewTime(t0)
			if got := PhaseReachedAfter(r); got != tt.want {
				t.Fatalf("PhaseReachedAfter = %s; want %s", got, tt.want)
			}
		})
	}
}

func TestFreezeInForce(t *testing.T) {
	now := t0.Add(time.Hour)
	tests := []struct {
		name       string
		start, end *metav1.Time
		want       bool
	}{
		{name: "open-ended", want: true},
		{name: "started, no end", start: mt(0), want: true},
		{name: "not started yet", start: mt(2 * time.Hour), want: false},
		{name: "ended", end: mt(time.Hour), want: false},
		{name: "within window", start: mt(0), end: mt(2 * time.Hour), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &v1.ChangeFreeze{Spec: v1.ChangeFreezeSpec{Reason: "r", Author: "a", Start: tt.start, End: tt.end}}
			if got := FreezeInForce(f, now); got != tt.want {
				t.Fatalf("FreezeInForce = %t; want %t", got, tt.want)
			}
		})
	}
}

// histogramCount returns the sample count of PhaseSeconds{phase}.
func histogramCount(t *testing.T, phase string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := PhaseSeconds.WithLabelValues(phase).(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func TestCollector_Collect(t *testing.T) {
	cl := testenv.StartCluster(t)
	ctx := context.Background()
	c := cl.Client
	testenv.CreateNamespace(t, c, "payments", nil)

	// Request creation times come from the API server; condition times are set
	// relative to them.
	mk := func(name string, phase v1.Phase, decision v1.Decision, after time.Duration) {
		t.Helper()
		r := &v1.NetworkChangeRequest{Spec: v1.NetworkChangeRequestSpec{Intent: "block 203.0.113.0/24 from prod", Environment: v1.EnvironmentProduction}}
		r.Name, r.Namespace = name, "payments"
		if err := c.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		if phase == "" {
			return
		}
		r.Status.Phase = phase
		r.Status.Decision = decision
		r.Status.Conditions = []metav1.Condition{{Type: v1.ConditionPlanned, Status: metav1.ConditionTrue, Reason: v1.ReasonPlanReady,
			LastTransitionTime: metav1.NewTime(r.CreationTimestamp.Add(after))}}
		if err := c.Status().Update(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	mk("new", "", "", 0)
	mk("awaiting", v1.PhaseAwaitingVerdict, "", 2*time.Second)
	mk("done-1", v1.PhaseSucceeded, v1.DecisionApprove, 40*time.Second)
	mk("done-2", v1.PhaseSucceeded, v1.DecisionApprove, 50*time.Second)
	mk("vetoed", v1.PhaseVetoed, v1.DecisionVeto, 4*time.Second)

	clk := clocktesting.NewFakeClock(time.Now())
	freeze := &v1.ChangeFreeze{Spec: v1.ChangeFreezeSpec{Reason: "quarter close", Author: "cfo",
		Start: &metav1.Time{Time: clk.Now().Add(time.Hour)}}}
	freeze.Name = "q4"
	if err := c.Create(ctx, freeze); err != nil {
		t.Fatal(err)
	}

	beforeSucceeded := histogramCount(t, "Succeeded")
	beforeVeto := testutil.ToFloat64(VerdictsObserved.WithLabelValues("Veto"))
	col := NewCollector(c, clk, time.Minute)
	if err := col.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"Pending": 1, "AwaitingVerdict": 1, "Succeeded": 2, "Vetoed": 1, "Executing": 0, "Failed": 0}
	for phase, n := range want {
		if got := testutil.ToFloat64(RequestsByPhase.WithLabelValues(phase)); got != n {
			t.Fatalf("netchange_requests{phase=%q} = %v; want %v", phase, got, n)
		}
	}
	if got := testutil.ToFloat64(FreezeActive); got != 0 {
		t.Fatalf("netchange_freeze_active = %v before the freeze starts; want 0", got)
	}
	if got := histogramCount(t, "Succeeded") - beforeSucceeded; got != 2 {
		t.Fatalf("netchange_request_phase_seconds{phase=Succeeded} got %d observations; want 2", got)
	}
	if got := testutil.ToFloat64(VerdictsObserved.WithLabelValues("Veto")) - beforeVeto; got != 1 {
		t.Fatalf("netchange_request_decisions_total{decision=Veto} rose by %v; want 1", got)
	}

	// A second pass observes nothing twice; the freeze comes into force.
	clk.Step(2 * time.Hour)
	var r v1.NetworkChangeRequest
	if err := c.Get(ctx, types.NamespacedName{Namespace: "payments", Name: "awaiting"}, &r); err != nil {
		t.Fatal(err)
	}
	r.Status.Phase = v1.PhaseSucceeded
	if err := c.Status().Update(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if err := col.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if got := histogramCount(t, "Succeeded") - beforeSucceeded; got != 3 {
		t.Fatalf("after one more request succeeded: %d observations; want 3 (each request once)", got)
	}
	if got := testutil.ToFloat64(VerdictsObserved.WithLabelValues("Veto")) - beforeVeto; got != 1 {
		t.Fatalf("decisions counted twice: Veto rose by %v", got)
	}
	if got := testutil.ToFloat64(RequestsByPhase.WithLabelValues("Succeeded")); got != 3 {
		t.Fatalf("netchange_requests{phase=Succeeded} = %v; want 3", got)
	}
	if got := testutil.ToFloat64(RequestsByPhase.WithLabelValues("AwaitingVerdict")); got != 0 {
		t.Fatalf("netchange_requests{phase=AwaitingVerdict} = %v; want 0", got)
	}
	if got := testutil.ToFloat64(FreezeActive); got != 1 {
		t.Fatalf("netchange_freeze_active = %v with a freeze in force; want 1", got)
	}
}
