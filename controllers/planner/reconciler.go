// Package planner is the planner controller: it attaches a validated, sealed plan
// to each NetworkChangeRequest in the control cluster, and re-plans when the
// executor reports the plan stale or a user asks with netchange.io/replan. It owns
// status.plan, status.requester, status.actionCount, the Planned condition and the
// phases Planning, AwaitingVerdict, NoAction and Failed (planning).
package planner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/audit"
	"github.com/netchange-io/netchange/internal/metrics"
	"github.com/netchange-io/netchange/internal/plan"
	"github.com/netchange-io/netchange/internal/planner"
)

// +kubebuilder:rbac:groups=netchange.io,resources=networkchangerequests,verbs=get;list;watch
// +kubebuilder:rbac:groups=netchange.io,resources=networkchangerequests/status,verbs=patch;update
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// FieldOwner is the field manager of the planner's status patches.
const FieldOwner = "netchange-planner"

// Actor is the audit actor of the planner's events.
const Actor = "planner"

// Reconciler plans NetworkChangeRequests.
type Reconciler struct {
	// Client reads requests and patches their status.
	Client client.Client
	// Planners are the configured planners by name ("rules", "llm").
	Planners map[string]planner.Planner
	// Default names the planner used unless a request's netchange.io/planner
	// annotation names another configured one.
	Default string
	// Audit receives one event per step; an append error stops the step (fail closed).
	Audit audit.Appender
	// Recorder emits Kubernetes Events.
	Recorder record.EventRecorder
	// ClusterName is this control cluster's name in audit records.
	ClusterName string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// SetupWithManager registers the controller. It reacts to new requests,
// generation and annotation changes, and the executor's StalePlan condition,
// but not to the planner's own status writes.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	if _, ok := r.Planners[r.Default]; !ok {
		return fmt.Errorf("planner controller: default planner %q is not configured (have %s)", r.Default, strings.Join(r.plannerNames(), ", "))
	}
	if r.Audit == nil {
		return errors.New("planner controller: an audit appender is required")
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("planner").
		For(&v1.NetworkChangeRequest{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{},
			stalePredicate(),
		))).
		Complete(r)
}

// stalePredicate passes updates where the request became stale (the executor's
// Ready=False/StalePlan for the current plan).
func stalePredicate() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			n, okNew := e.ObjectNew.(*v1.NetworkChangeRequest)
			o, okOld := e.ObjectOld.(*v1.NetworkChangeRequest)
			// Only the transition: retries of a stale re-plan go through the rate limiter.
			return okNew && okOld && isStale(n) && !isStale(o)
		},
	}
}

func (r *Reconciler) plannerNames() []string {
	names := make([]string, 0, len(r.Planners))
	for n := range r.Planners {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// scope is the state of one reconcile.
type scope struct {
	req     *v1.NetworkChangeRequest
	trigger string
	now     time.Time
}

// Reconcile implements reconcile.Reconciler: fetch, decide, plan, then one status
// patch (deferred) with an optimistic lock that names only planner-owned fields.
func (r *Reconciler) Reconcile(ctx context.Context, key ctrl.Request) (res ctrl.Result, retErr error) {
	req := &v1.NetworkChangeRequest{}
	if err := r.Client.Get(ctx, key.NamespacedName, req); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !req.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	trigger, ok := planTrigger(req)
	if !ok {
		return ctrl.Result{}, nil
	}
	orig := req.DeepCopy()
	defer func() {
		if err := r.patchStatus(ctx, orig, req); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()
	s := &scope{req: req, trigger: trigger, now: r.Now()}
	if err := r.markPlanning(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.plan(ctx, s)
}

// patchStatus writes the planner's status changes, if any. A conflict means
// another controller wrote first: the error requeues the request.
func (r *Reconciler) patchStatus(ctx context.Context, orig, req *v1.NetworkChangeRequest) error {
	patch := client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
	if err := r.Client.Status().Patch(ctx, req, patch, client.FieldOwner(FieldOwner)); err != nil {
		if apierrors.IsConflict(err) {
			log.FromContext(ctx).V(1).Info("status changed meanwhile; planning again", "request", client.ObjectKeyFromObject(req))
		}
		return fmt.Errorf("patch planner status of %s/%s: %w", req.Namespace, req.Name, err)
	}
	return nil
}

// markPlanning records that planning started: the requester and, the first time
// a generation is seen, the RequestSeen audit event. (Phase and condition are
// set by the outcome; the status is written once, at the end.)
func (r *Reconciler) markPlanning(ctx context.Context, s *scope) error {
	req := s.req
	if req.Status.Requester == "" {
		req.Status.Requester = req.Annotations[v1.AnnotationRequester]
	}
	planned := findPlanned(req)
	if planned == nil || planned.Reason != v1.ReasonPlannerUnavailable {
		r.Recorder.Eventf(req, corev1.EventTypeNormal, v1.ReasonPlanning, "planning (trigger %s)", s.trigger)
	}
	// RequestSeen once per generation; again after an audit failure, since
	// whether it was recorded is unknown then (fail closed, duplicates are harmless).
	if planned != nil && planned.ObservedGeneration == req.Generation && planned.Reason != v1.ReasonAuditUnavailable {
		return nil
	}
	if err := r.append(ctx, req, audit.EventRequestSeen, map[string]any{
		"requester":   req.Annotations[v1.AnnotationRequester],
		"intent":      req.Spec.Intent,
		"environment": req.Spec.Environment,
		"source":      req.Spec.Source,
		"targets":     req.Spec.Targets,
	}); err != nil {
		return r.auditFailed(req, err)
	}
	return nil
}

// plan calls the planner and records the outcome on the request.
func (r *Reconciler) plan(ctx context.Context, s *scope) error {
	req := s.req
	name, pl := r.choose(req)
	p, err := pl.Plan(ctx, req)
	if err == nil {
		err = r.finish(req, p, s)
	}
	if err == nil && s.trigger == TriggerStale && req.Status.Execution != nil && p.Digest == req.Status.Execution.PlanDigest {
		// Writing the same plan would loop: the executor would find it stale again.
		err = fmt.Errorf("the executor reported the plan stale, but AWS still matches its snapshot (digest %s); planning again later", p.Digest)
	}
	var term *planner.TerminalError
	switch {
	case errors.As(err, &term):
		return r.failed(ctx, s, err)
	case err != nil:
		msg := truncate(fmt.Sprintf("the %s planner is unavailable, retrying with backoff: %v", name, err), maxMessage)
		setPlanned(req, metav1.ConditionFalse, v1.ReasonPlannerUnavailable, msg)
		setPhase(req, v1.PhasePlanning, msg)
		r.Recorder.Event(req, corev1.EventTypeWarning, v1.ReasonPlannerUnavailable, truncate(msg, 1024))
		return fmt.Errorf("plan %s/%s: %w", req.Namespace, req.Name, err)
	}
	data := map[string]any{
		"digest":      p.Digest,
		"trigger":     p.Trigger,
		"actionCount": len(p.Actions),
		"actions":     actionTypes(p),
		"provenance":  p.Provenance,
		"rationale":   p.Rationale,
	}
	if err := r.append(ctx, req, audit.EventPlanned, data); err != nil {
		return r.auditFailed(req, err)
	}
	req.Status.Plan = p
	req.Status.ActionCount = int32(len(p.Actions))
	phase, reason, eventReason := v1.PhaseAwaitingVerdict, v1.ReasonPlanReady, v1.ReasonPlanReady
	if len(p.Actions) == 0 {
		phase, reason, eventReason = v1.PhaseNoAction, v1.ReasonNoActionNeeded, v1.ReasonNoActionNeeded
	}
	msg := planSummary(p)
	setPlanned(req, metav1.ConditionTrue, reason, msg)
	setPhase(req, phase, msg)
	r.Recorder.Event(req, corev1.EventTypeNormal, eventReason, truncate(msg, 1024))
	r.observePhase(req, phase, s.now)
	return nil
}

// finish completes a planner's plan: trigger, creation time and generation, then
// validation (defence in depth) and sealing (digest, blast radius, cost). A plan
// that fails validation is a terminal failure: nothing invalid is ever written.
func (r *Reconciler) finish(req *v1.NetworkChangeRequest, p *v1.Plan, s *scope) error {
	if p == nil {
		return planner.Terminal("the planner returned no plan")
	}
	p.Trigger = s.trigger
	created := metav1.NewTime(s.now)
	p.CreatedAt = &created
	p.Generation = req.Generation
	if p.Actions == nil {
		p.Actions = []v1.Action{}
	}
	for i, a := range p.Actions {
		if !plan.IsCatalogType(a.Type) {
			return planner.Terminal(fmt.Sprintf("the plan's actions[%d] has type %q, which is not in the catalog", i, a.Type))
		}
	}
	// Structure only: guardrails are the auditor's (and again the executor's) to judge.
	if err := plan.ValidateStructure(req, p); err != nil {
		return planner.Terminal(fmt.Sprintf("the %s planner produced an invalid plan: %v", p.Provenance.Planner, err))
	}
	if err := plan.Seal(req, p); err != nil {
		return planner.Terminal(err.Error())
	}
	return nil
}

// failed records a terminal planning failure. It is not retried: the request
// must change, or a user sets a new netchange.io/replan token.
func (r *Reconciler) failed(ctx context.Context, s *scope, cause error) error {
	req := s.req
	msg := failureMessage(cause, s.trigger)
	if err := r.append(ctx, req, audit.EventPlanningFailed, map[string]any{
		"message": cause.Error(),
		"trigger": s.trigger,
	}); err != nil {
		return r.auditFailed(req, err)
	}
	// A plan that failed to be replaced must not be executed.
	req.Status.Plan = nil
	req.Status.ActionCount = 0
	setPlanned(req, metav1.ConditionFalse, v1.ReasonPlanningFailed, msg)
	setPhase(req, v1.PhaseFailed, msg)
	r.Recorder.Event(req, corev1.EventTypeWarning, v1.ReasonPlanningFailed, truncate(msg, 1024))
	r.observePhase(req, v1.PhaseFailed, s.now)
	return nil
}

// auditFailed records that the audit trail refused a write: nothing is planned,
// the condition says why, and the request is retried with backoff.
func (r *Reconciler) auditFailed(req *v1.NetworkChangeRequest, err error) error {
	msg := fmt.Sprintf("the audit trail refused a write, so nothing was planned; fix the audit sink (--audit-dir / --audit-postgres-dsn): %v", err)
	setPlanned(req, metav1.ConditionFalse, v1.ReasonAuditUnavailable, msg)
	setPhase(req, v1.PhasePlanning, msg)
	r.Recorder.Event(req, corev1.EventTypeWarning, v1.ReasonAuditUnavailable, truncate(msg, 1024))
	return fmt.Errorf("audit %s/%s: %w", req.Namespace, req.Name, err)
}

// choose returns the planner for req: the one its netchange.io/planner annotation
// names when configured, else the default.
func (r *Reconciler) choose(req *v1.NetworkChangeRequest) (string, planner.Planner) {
	if want := req.Annotations[AnnotationPlanner]; want != "" && want != r.Default {
		if p, ok := r.Planners[want]; ok {
			return want, p
		}
		r.Recorder.Eventf(req, corev1.EventTypeWarning, "PlannerNotConfigured",
			"%s=%q names a planner this manager does not run (have %s); using the %s planner",
			AnnotationPlanner, want, strings.Join(r.plannerNames(), ", "), r.Default)
	}
	return r.Default, r.Planners[r.Default]
}

func (r *Reconciler) append(ctx context.Context, req *v1.NetworkChangeRequest, typ audit.EventType, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s audit data: %w", typ, err)
	}
	return r.Audit.Append(ctx, audit.Event{
		Stream: "control/" + req.Namespace,
		Type:   typ,
		Actor:  Actor,
		Request: audit.RequestRef{
			Cluster:    r.ClusterName,
			Namespace:  req.Namespace,
			Name:       req.Name,
			UID:        string(req.UID),
			Generation: req.Generation,
		},
		Data: b,
		Time: r.Now(),
	})
}

func (r *Reconciler) observePhase(req *v1.NetworkChangeRequest, phase v1.Phase, now time.Time) {
	if created := req.CreationTimestamp.Time; !created.IsZero() && now.After(created) {
		metrics.PhaseSeconds.WithLabelValues(string(phase)).Observe(now.Sub(created).Seconds())
	}
}

func findPlanned(req *v1.NetworkChangeRequest) *metav1.Condition {
	for i := range req.Status.Conditions {
		if req.Status.Conditions[i].Type == v1.ConditionPlanned {
			return &req.Status.Conditions[i]
		}
	}
	return nil
}

func actionTypes(p *v1.Plan) []string {
	out := make([]string, len(p.Actions))
	for i, a := range p.Actions {
		out[i] = string(a.Type)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 3 {
		return s[:max(n, 0)]
	}
	return strings.ToValidUTF8(s[:n-3], "") + "..."
}
