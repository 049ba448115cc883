package metrics

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// AllPhases lists every request phase, so netchange_requests has a series (0
// when empty) for each.
var AllPhases = []v1.Phase{
	v1.PhasePending, v1.PhasePlanning, v1.PhaseAwaitingVerdict, v1.PhaseApproved,
	v1.PhaseAwaitingHumanApproval, v1.PhaseVetoed, v1.PhaseExecuting, v1.PhaseSucceeded,
	v1.PhaseFailed, v1.PhaseRolledBack, v1.PhaseExpired, v1.PhaseReverted, v1.PhaseNoAction,
}

// Collector keeps the state metrics up to date from the API: netchange_requests
// by phase, netchange_freeze_active, and once per request and phase an
// observation of netchange_request_phase_seconds; once per request generation and
// decision it counts netchange_request_decisions_total. It needs list/watch on
// networkchangerequests and changefreezes. It runs on the elected leader only, so
// replicas do not report the same requests twice.
//
// It sees phases at each pass (every interval): a phase a request passes through
// between two passes is not observed. After a restart, current phases are
// observed again (the histogram restarts from zero with the process anyway).
type Collector struct {
	c        client.Reader
	clock    clock.WithTicker
	interval time.Duration
	// observed remembers request uid → phases and decisions already counted.
	observed map[string]map[string]bool
}

// NewCollector returns a Collector reading through c every interval (default 15s
// when zero), timed by clk (nil: the real clock).
func NewCollector(c client.Reader, clk clock.WithTicker, interval time.Duration) *Collector {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if interval <= 0 {
		interval = 15 * time.Second
	}
	return &Collector{c: c, clock: clk, interval: interval, observed: map[string]map[string]bool{}}
}

// NeedLeaderElection makes only the leader report.
func (col *Collector) NeedLeaderElection() bool { return true }

// Start collects at once and then every interval until ctx ends. A failed pass is
// logged and retried at the next tick.
func (col *Collector) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("metrics-collector")
	t := col.clock.NewTicker(col.interval)
	defer t.Stop()
	for {
		if err := col.Collect(ctx); err != nil {
			log.Error(err, "collect request metrics")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// Collect runs one pass: it lists requests and freezes and updates the metrics.
func (col *Collector) Collect(ctx context.Context) error {
	var reqs v1.NetworkChangeRequestList
	if err := col.c.List(ctx, &reqs); err != nil {
		return fmt.Errorf("list NetworkChangeRequests: %w", err)
	}
	var freezes v1.ChangeFreezeList
	if err := col.c.List(ctx, &freezes); err != nil {
		return fmt.Errorf("list ChangeFreezes: %w", err)
	}
	now := col.clock.Now()
	counts := map[v1.Phase]int{}
	seen := map[string]bool{}
	for i := range reqs.Items {
		r := &reqs.Items[i]
		phase := r.Status.Phase
		if phase == "" {
			phase = v1.PhasePending
		}
		counts[phase]++
		uid := string(r.UID)
		seen[uid] = true
		done := col.observed[uid]
		if done == nil {
			done = map[string]bool{}
			col.observed[uid] = done
		}
		if key := "phase/" + string(phase); !done[key] {
			done[key] = true
			PhaseSeconds.WithLabelValues(string(phase)).Observe(PhaseReachedAfter(r).Seconds())
		}
		if d := r.Status.Decision; d != "" {
			if key := fmt.Sprintf("decision/%d/%s", r.Generation, d); !done[key] {
				done[key] = true
				VerdictsObserved.WithLabelValues(string(d)).Inc()
			}
		}
	}
	for uid := range col.observed {
		if !seen[uid] {
			delete(col.observed, uid)
		}
	}
	for _, p := range AllPhases {
		RequestsByPhase.WithLabelValues(string(p)).Set(float64(counts[p]))
	}
	active := 0.0
	for i := range freezes.Items {
		if FreezeInForce(&freezes.Items[i], now) {
			active = 1
			break
		}
	}
	FreezeActive.Set(active)
	return nil
}

// PhaseReachedAfter estimates how long after its creation a request reached its
// current phase: the latest condition transition or execution start/end time,
// which each controller sets together with the phase. It is zero for a request
// nothing has happened to yet.
func PhaseReachedAfter(r *v1.NetworkChangeRequest) time.Duration {
	created := r.CreationTimestamp.Time
	latest := created
	for _, c := range r.Status.Conditions {
		if c.LastTransitionTime.After(latest) {
			latest = c.LastTransitionTime.Time
		}
	}
	if e := r.Status.Execution; e != nil {
		for _, t := range []*time.Time{timeOf(e.StartedAt), timeOf(e.CompletedAt)} {
			if t != nil && t.After(latest) {
				latest = *t
			}
		}
	}
	if d := latest.Sub(created); d > 0 {
		return d
	}
	return 0
}

// FreezeInForce reports whether a freeze holds at now: started (or no start) and
// not ended (or no end).
func FreezeInForce(f *v1.ChangeFreeze, now time.Time) bool {
	if f.DeletionTimestamp != nil {
		return false
	}
	if s := f.Spec.Start; s != nil && now.Before(s.Time) {
		return false
	}
	if e := f.Spec.End; e != nil && !now.Before(e.Time) {
		return false
	}
	return true
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	return &t.Time
}
