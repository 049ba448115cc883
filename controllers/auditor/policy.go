package auditor

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/policy"
)

// PolicyStatusReconciler compiles every ChangePolicy in the auditor cluster when
// it changes and reports the result in its status (Ready, version), so a broken
// CEL expression is visible before any request needs the policy.
type PolicyStatusReconciler struct {
	// Client reads and patches ChangePolicies in the auditor cluster.
	Client client.Client
	// reporter writes the status (a Reconciler's setPolicyStatus).
	reporter *Reconciler
}

// SetupPolicyStatus registers the policy status controller once per manager.
func SetupPolicyStatus(mgr ctrl.Manager) error {
	r := &PolicyStatusReconciler{Client: mgr.GetClient()}
	r.reporter = &Reconciler{Local: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("netchange-auditor")} //nolint:staticcheck // the other roles use record.EventRecorder too
	return ctrl.NewControllerManagedBy(mgr).
		Named("auditor-policy-status").
		For(&v1.ChangePolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *PolicyStatusReconciler) Reconcile(ctx context.Context, key ctrl.Request) (ctrl.Result, error) {
	pol := &v1.ChangePolicy{}
	if err := r.Client.Get(ctx, key.NamespacedName, pol); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	_, cerr := policy.Compile(pol)
	rep := *r.reporter
	rep.Policy = key.NamespacedName
	if err := rep.setPolicyStatus(ctx, pol, cerr); err != nil {
		return ctrl.Result{}, fmt.Errorf("report policy %s: %w", key, err)
	}
	return ctrl.Result{}, nil
}
