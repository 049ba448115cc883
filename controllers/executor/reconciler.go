// Package executor is the executor controller: it applies approved, validly signed
// plans of NetworkChangeRequests to AWS exactly once, verifies them, and rolls them
// back on failure, at revertAfter, or on deletion with deletionPolicy Rollback.
//
// Before every mutating AWS call it re-checks: Approved=True; the verdict's
// signature, key, binding (cluster, request, uid, generation, recomputed plan
// digest) and expiry; no matching ChangeFreeze (read fresh from the API server);
// the built-in guardrails; and that the audit intent record was written. Before the
// first call of an execution it also checks the verdict nonce was never used, the
// rate budget, the netchange.io/audit tag and that AWS still matches the plan's
// snapshot (later calls would see the executor's own changes).
package executor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/audit"
	"github.com/netchange-io/netchange/internal/awsapply"
	"github.com/netchange-io/netchange/internal/ratelimit"
	"github.com/netchange-io/netchange/internal/verdict"
)

// +kubebuilder:rbac:groups=netchange.io,resources=networkchangerequests,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=netchange.io,resources=networkchangerequests/status,verbs=patch
// +kubebuilder:rbac:groups=netchange.io,resources=networkchangerequests/finalizers,verbs=update
// +kubebuilder:rbac:groups=netchange.io,resources=changefreezes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// FieldOwner is the field manager of the executor's status patches.
const FieldOwner = "netchange-executor"

// nonceIndex is the cache index of status.execution.verdictNonce.
const nonceIndex = "status.execution.verdictNonce"

// Applier is what the executor needs from internal/awsapply for one target.
type Applier interface {
	// Observe reports whether the action is in effect.
	Observe(ctx context.Context, act v1.Action) (bool, awsapply.Result, error)
	// Apply applies the action once; *awsapply.RetryableError or terminal errors.
	Apply(ctx context.Context, act v1.Action, reqUID string) (awsapply.Result, error)
	// Verify describes AWS to confirm the action.
	Verify(ctx context.Context, act v1.Action) error
	// Rollback undoes the action.
	Rollback(ctx context.Context, act v1.Action, res awsapply.Result, reqUID string) error
	// TaggedWith returns the resources among ids carrying the tag key.
	TaggedWith(ctx context.Context, ids []string, key string) ([]string, error)
}

// Snapshotter describes the AWS objects of a plan's actions (internal/awscontext).
type Snapshotter interface {
	// Snapshot returns one entry per touched object with its canonical State.
	Snapshot(ctx context.Context, actions []v1.Action) ([]v1.ResourceSnapshot, error)
}

// AWS hands out the Applier and Snapshotter for a target account/region/endpoint.
type AWS interface {
	// For returns the clients for t.
	For(ctx context.Context, t awsapply.Target) (Applier, Snapshotter, error)
}

// Options are the executor's settings (flags).
type Options struct {
	// ClusterName is this control cluster's name as the auditor signs it.
	ClusterName string
	// Keys are the auditor public keys trusted to sign verdicts.
	Keys verdict.KeySet
	// DefaultRegion is used when neither the plan nor the namespace names a region.
	DefaultRegion string
	// DefaultEndpoint is the AWS endpoint unless the namespace overrides it (--aws-endpoint-url).
	DefaultEndpoint string
	// RoleMapNamespace holds ACK's ack-role-account-map ConfigMap (the executor's namespace).
	RoleMapNamespace string
	// MaxRounds is how many reconciles may retry an action whose AWS calls keep
	// failing in a retryable way before it counts as failed (default 5).
	MaxRounds int
	// RetryBase is the first requeue delay after a retryable failure (default 5s).
	RetryBase time.Duration
}

// Reconciler is the executor controller.
type Reconciler struct {
	// Client reads from the cache and writes to the API server.
	Client client.Client
	// APIReader reads the API server directly (fresh request, freezes, role map).
	APIReader client.Reader
	// Recorder emits Kubernetes Events.
	Recorder record.EventRecorder
	// Audit is the audit trail; an append error blocks the AWS call it guards.
	Audit audit.Appender
	// AWS builds clients per target.
	AWS AWS
	// Limiter is the change budget per namespace/environment.
	Limiter *ratelimit.Limiter
	// Clock is the time source.
	Clock func() time.Time
	// Options are the settings.
	Options Options

	mu     sync.Mutex
	nonces map[string]types.UID // verdict nonce → request that consumed it (this process)

	reconciles sync.Map // for tests: types.NamespacedName → *atomic.Int64, how many times Reconcile ran for it
}

// reconcilesOf returns how many times Reconcile ran for one request (for tests).
func (r *Reconciler) reconcilesOf(nn types.NamespacedName) int64 {
	if v, ok := r.reconciles.Load(nn); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (r *Reconciler) now() time.Time { return r.Clock() }

// SetupWithManager registers the controller, the nonce index and the ChangeFreeze watch.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr manager.Manager) error {
	if r.Clock == nil {
		r.Clock = time.Now
	}
	if r.Options.MaxRounds <= 0 {
		r.Options.MaxRounds = 5
	}
	if r.Options.RetryBase <= 0 {
		r.Options.RetryBase = 5 * time.Second
	}
	r.nonces = map[string]types.UID{}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1.NetworkChangeRequest{}, nonceIndex, func(o client.Object) []string {
		ncr := o.(*v1.NetworkChangeRequest)
		if ncr.Status.Execution == nil || ncr.Status.Execution.VerdictNonce == "" {
			return nil
		}
		return []string{ncr.Status.Execution.VerdictNonce}
	}); err != nil {
		return fmt.Errorf("index verdict nonces: %w", err)
	}
	return ctrl.ControllerManagedBy(mgr).
		Named("executor").
		For(&v1.NetworkChangeRequest{}).
		Watches(&v1.ChangeFreeze{}, handler.EnqueueRequestsFromMapFunc(r.requestsHeldByFreezes)).
		Complete(r)
}

// requestsHeldByFreezes enqueues every request that waits for or runs an
// execution when a freeze changes (e.g. is deleted).
func (r *Reconciler) requestsHeldByFreezes(ctx context.Context, _ client.Object) []reconcile.Request {
	var list v1.NetworkChangeRequestList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, n := range list.Items {
		switch n.Status.Phase {
		case v1.PhaseApproved, v1.PhaseExecuting, v1.PhaseSucceeded:
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: n.Namespace, Name: n.Name}})
		}
	}
	return out
}

// Reconcile drives one request: deletion, resume of an execution in progress,
// revert of a time-boxed change, or the start of a new execution.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	counter, _ := r.reconciles.LoadOrStore(req.NamespacedName, new(atomic.Int64))
	counter.(*atomic.Int64).Add(1)
	// Read fresh: the journal must never be acted on from a stale cache.
	ncr := &v1.NetworkChangeRequest{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, ncr); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	s := &scope{r: r, ncr: ncr}
	if !ncr.DeletionTimestamp.IsZero() {
		return s.reconcileDelete(ctx)
	}
	if ncr.Spec.DeletionPolicy != v1.DeletionPolicyRollback && hasFinalizer(ncr) {
		if err := s.removeFinalizer(ctx); err != nil {
			return reconcile.Result{}, err
		}
	}
	exe := ncr.Status.Execution
	switch {
	case ncr.Status.Plan == nil:
		return reconcile.Result{}, nil
	case inProgress(exe):
		return s.run(ctx)
	case exe != nil && exe.CompletedAt != nil && exe.RevertAt != nil && ncr.Status.Phase == v1.PhaseSucceeded:
		return s.revertWhenDue(ctx)
	case consumed(ncr):
		return reconcile.Result{}, nil
	}
	return s.start(ctx)
}

// inProgress reports whether an execution started and did not end.
func inProgress(exe *v1.Execution) bool {
	return exe != nil && exe.StartedAt != nil && exe.CompletedAt == nil
}

// consumed reports whether the request's current verdict was already used by an
// execution of the current plan (which then ended): it is not executed again.
func consumed(ncr *v1.NetworkChangeRequest) bool {
	exe, sv := ncr.Status.Execution, ncr.Status.Verdict
	if exe == nil || exe.StartedAt == nil {
		return false
	}
	if sv == nil {
		return true
	}
	return exe.VerdictNonce == sv.Statement.Nonce
}

func hasFinalizer(ncr *v1.NetworkChangeRequest) bool {
	for _, f := range ncr.Finalizers {
		if f == v1.FinalizerExecutor {
			return true
		}
	}
	return false
}

// event records a Kubernetes Event on the request.
func (r *Reconciler) event(ncr *v1.NetworkChangeRequest, warning bool, reason, format string, args ...any) {
	if r.Recorder == nil {
		return
	}
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(ncr, typ, reason, format, args...)
}
