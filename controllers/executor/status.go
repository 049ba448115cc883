package executor

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/audit"
	"github.com/netchange-io/netchange/internal/metrics"
)

// scope is one reconcile of one request.
type scope struct {
	r   *Reconciler
	ncr *v1.NetworkChangeRequest
	// app and snap are the AWS clients of the request's target, once resolved.
	app  Applier
	snap Snapshotter
}

// patch applies mutate to the request's status and writes only what changed, with
// optimistic locking: a concurrent write by the planner or auditor fails the patch
// (and the reconcile requeues) rather than being overwritten.
func (s *scope) patch(ctx context.Context, mutate func(n *v1.NetworkChangeRequest)) error {
	orig := s.ncr.DeepCopy()
	mutate(s.ncr)
	if equality.Semantic.DeepEqual(orig.Status, s.ncr.Status) {
		return nil
	}
	err := s.r.Client.Status().Patch(ctx, s.ncr, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner))
	if err != nil {
		*s.ncr = *orig
		return fmt.Errorf("write status of %s/%s: %w", orig.Namespace, orig.Name, err)
	}
	return nil
}

// setCondition sets one executor-owned condition of n.
func (s *scope) setCondition(n *v1.NetworkChangeRequest, typ string, status metav1.ConditionStatus, reason, msg string) {
	c := condition(n, typ, status, reason, msg, s.r.now())
	if old := meta.FindStatusCondition(n.Status.Conditions, typ); old != nil && old.Status == status {
		c.LastTransitionTime = old.LastTransitionTime
	}
	meta.SetStatusCondition(&n.Status.Conditions, c)
}

// setPhase sets phase, message and observedGeneration, and observes the phase metric
// on a change.
func (s *scope) setPhase(n *v1.NetworkChangeRequest, phase v1.Phase, msg string) {
	if n.Status.Phase != phase {
		metrics.PhaseSeconds.WithLabelValues(string(phase)).Observe(s.r.now().Sub(n.CreationTimestamp.Time).Seconds())
	}
	n.Status.Phase = phase
	n.Status.Message = truncate(msg, 2048)
	n.Status.ObservedGeneration = n.Generation
}

// setEntry sets journal entry i's state and message (and result ID when non-empty).
func (s *scope) setEntry(n *v1.NetworkChangeRequest, i int, state v1.JournalState, msg, resultID string) {
	e := &n.Status.Execution.Journal[i]
	if e.State != state {
		t := metav1.NewTime(s.r.now())
		e.LastTransitionTime = &t
	}
	e.State = state
	e.Message = truncate(msg, 1024)
	if resultID != "" {
		e.ResultID = resultID
	}
}

// audit appends one event to the request's control stream.
func (s *scope) audit(ctx context.Context, typ audit.EventType, data map[string]any) error {
	n := s.ncr
	if data == nil {
		data = map[string]any{}
	}
	if n.Status.Plan != nil {
		data["planDigest"] = n.Status.Plan.Digest
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode audit event: %w", err)
	}
	if s.r.Audit == nil {
		return fmt.Errorf("no audit trail configured")
	}
	return s.r.Audit.Append(ctx, audit.Event{
		Stream: "control/" + n.Namespace,
		Type:   typ,
		Actor:  "executor",
		Request: audit.RequestRef{Cluster: s.r.Options.ClusterName, Namespace: n.Namespace, Name: n.Name,
			UID: string(n.UID), Generation: n.Generation},
		Data: b,
		Time: s.r.now(),
	})
}

// removeFinalizer drops the executor's finalizer.
func (s *scope) removeFinalizer(ctx context.Context) error {
	orig := s.ncr.DeepCopy()
	var keep []string
	for _, f := range s.ncr.Finalizers {
		if f != v1.FinalizerExecutor {
			keep = append(keep, f)
		}
	}
	s.ncr.Finalizers = keep
	if err := s.r.Client.Patch(ctx, s.ncr, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("remove finalizer of %s/%s: %w", orig.Namespace, orig.Name, err)
	}
	return nil
}

// addFinalizer adds the executor's finalizer (deletionPolicy Rollback).
func (s *scope) addFinalizer(ctx context.Context) error {
	if hasFinalizer(s.ncr) {
		return nil
	}
	orig := s.ncr.DeepCopy()
	s.ncr.Finalizers = append(s.ncr.Finalizers, v1.FinalizerExecutor)
	if err := s.r.Client.Patch(ctx, s.ncr, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("add finalizer to %s/%s: %w", orig.Namespace, orig.Name, err)
	}
	return nil
}
