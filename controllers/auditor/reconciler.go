// Package auditor is the auditor controller (DESIGN §6). It runs in the auditor
// cluster and watches NetworkChangeRequests in one or more control clusters. For
// each planned request it independently checks the plan against the request
// (intent and scope) and the ChangePolicy, records a ChangeVerdict in the auditor
// cluster, signs Approve and Veto verdicts with its ed25519 key, counts human
// ChangeApprovals for escalations, holds decisions during ChangeFreezes, and
// writes only its own status fields on the request: status.verdict,
// status.decision, the Approved condition and the phases Approved,
// AwaitingHumanApproval and Vetoed. It never calls AWS.
package auditor

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/audit"
	"github.com/netchange-io/netchange/internal/metrics"
	"github.com/netchange-io/netchange/internal/policy"
	"github.com/netchange-io/netchange/internal/verdict"
)

// RBAC in the auditor cluster. (Its identity in each control cluster is the static
// config/rbac/auditor-control/role.yaml: read requests, patch their status.)
// +kubebuilder:rbac:groups=netchange.io,resources=changeverdicts,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=netchange.io,resources=changeverdicts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=netchange.io,resources=changeapprovals,verbs=get;list;watch
// +kubebuilder:rbac:groups=netchange.io,resources=changeapprovals/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=netchange.io,resources=changepolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=netchange.io,resources=changepolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=netchange.io,resources=changefreezes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update

// FieldOwner is the field manager of the auditor's writes.
const FieldOwner = "netchange-auditor"

// Actor is the auditor's name in audit events.
const Actor = "auditor"

// Reviewer is an optional second opinion on a decision (e.g. an LLM with its own
// prompt). It may only make a decision stricter.
type Reviewer interface {
	// Review returns a stricter decision than current (or current itself) and a
	// one-line finding. An error makes the auditor escalate an Approve (fail closed).
	Review(ctx context.Context, req *v1.NetworkChangeRequest, p *v1.Plan, current v1.Decision) (v1.Decision, string, error)
}

// Reconciler judges the requests of one control cluster.
type Reconciler struct {
	// ClusterName is the control cluster's name, as verdicts name it.
	ClusterName string
	// Control reads requests and patches their status in the control cluster.
	Control client.Client
	// Local reads and writes verdicts, approvals, policies and freezes in the auditor cluster.
	Local client.Client
	// Live reads ChangeFreezes and the ChangePolicy in the auditor cluster without
	// a cache, so a new freeze or policy applies to the very next decision
	// (default: the manager's API reader).
	Live client.Reader
	// Signer is the auditor's ed25519 signing key.
	Signer ed25519.PrivateKey
	// Policy names the ChangePolicy in the auditor cluster.
	Policy types.NamespacedName
	// VerdictNamespace is where ChangeVerdicts (and their ChangeApprovals) live.
	VerdictNamespace string
	// AllowedRegions is the data residency: plans for other regions are rejected.
	AllowedRegions []string
	// VerdictTTL overrides the policy's verdictTTL when positive.
	VerdictTTL time.Duration
	// Audit receives Verdict, HumanApproval and freeze events.
	Audit audit.Appender
	// Recorder emits Events in the auditor cluster (on ChangeVerdicts and ChangeFreezes).
	Recorder record.EventRecorder
	// Reviewer is the optional second opinion.
	Reviewer Reviewer
	// Clock is the clock (default: the real one).
	Clock clock.PassiveClock
}

// SetupWithManager registers a controller for one control cluster: requests come
// from cl's cache; approvals, policies, freezes and verdicts from mgr's (the
// auditor cluster).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, cl cluster.Cluster) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Audit == nil {
		return errors.New("auditor controller: an audit appender is required")
	}
	if len(r.Signer) != ed25519.PrivateKeySize {
		return errors.New("auditor controller: an ed25519 signing key is required")
	}
	if r.Policy.Name == "" || r.VerdictNamespace == "" {
		return errors.New("auditor controller: --policy and --verdict-namespace are required")
	}
	if r.Live == nil {
		r.Live = mgr.GetAPIReader()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("netchange-auditor") //nolint:staticcheck // record.EventRecorder is what the other roles use
	}
	allPending := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		return r.pendingRequests(ctx)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("auditor-"+dnsSafe(r.ClusterName)).
		WatchesRawSource(source.Kind(cl.GetCache(), &v1.NetworkChangeRequest{}, &handler.TypedEnqueueRequestForObject[*v1.NetworkChangeRequest]{})).
		Watches(&v1.ChangeApproval{}, handler.EnqueueRequestsFromMapFunc(r.approvalToRequest)).
		Watches(&v1.ChangeVerdict{}, handler.EnqueueRequestsFromMapFunc(r.verdictToRequest)).
		Watches(&v1.ChangePolicy{}, allPending).
		Watches(&v1.ChangeFreeze{}, allPending).
		Complete(r)
}

func (r *Reconciler) verdictToRequest(_ context.Context, o client.Object) []reconcile.Request {
	cv, ok := o.(*v1.ChangeVerdict)
	if !ok || cv.Spec.RequestRef.Cluster != r.ClusterName {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: cv.Spec.RequestRef.Namespace, Name: cv.Spec.RequestRef.Name}}}
}

func (r *Reconciler) approvalToRequest(ctx context.Context, o client.Object) []reconcile.Request {
	a, ok := o.(*v1.ChangeApproval)
	if !ok {
		return nil
	}
	cv := &v1.ChangeVerdict{}
	if err := r.Local.Get(ctx, types.NamespacedName{Namespace: a.Namespace, Name: a.Spec.VerdictName}, cv); err != nil {
		return nil
	}
	return r.verdictToRequest(ctx, cv)
}

// pendingRequests lists the control cluster's requests the auditor has not
// finished with (after a policy or freeze change).
func (r *Reconciler) pendingRequests(ctx context.Context) []reconcile.Request {
	list := &v1.NetworkChangeRequestList{}
	if err := r.Control.List(ctx, list); err != nil {
		log.FromContext(ctx).Error(err, "list requests after a policy or freeze change")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		req := &list.Items[i]
		if _, ok := judgeable(req); ok && req.Status.Phase != v1.PhaseVetoed {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(req)})
		}
	}
	return out
}

// judgeable returns the request's plan when the auditor has to look at it: a
// current, planned plan with actions whose execution has not started.
func judgeable(req *v1.NetworkChangeRequest) (*v1.Plan, bool) {
	p := req.Status.Plan
	if !req.DeletionTimestamp.IsZero() || p == nil || len(p.Actions) == 0 || p.Generation != req.Generation {
		return nil, false
	}
	c := meta.FindStatusCondition(req.Status.Conditions, v1.ConditionPlanned)
	if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != req.Generation {
		return nil, false
	}
	if e := req.Status.Execution; e != nil && e.PlanDigest == p.Digest {
		return nil, false
	}
	return p, true
}

// scope is the state of one reconcile.
type scope struct {
	req  *v1.NetworkChangeRequest
	plan *v1.Plan
	now  time.Time
}

// Reconcile implements reconcile.Reconciler: fetch the request, find the latest
// verdict for its plan, then judge, count approvals, or deliver.
func (r *Reconciler) Reconcile(ctx context.Context, key ctrl.Request) (ctrl.Result, error) {
	res, err := r.reconcile(ctx, key)
	if apierrors.IsConflict(err) {
		// Another controller wrote the request in between: judge again from fresh
		// state, quietly (a conflict is expected with three writers of one status).
		log.FromContext(ctx).V(1).Info("conflict, judging again", "error", err.Error())
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	return res, err
}

func (r *Reconciler) reconcile(ctx context.Context, key ctrl.Request) (ctrl.Result, error) {
	req := &v1.NetworkChangeRequest{}
	if err := r.Control.Get(ctx, key.NamespacedName, req); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	p, ok := judgeable(req)
	if !ok {
		// NoAction requests (no actions) need no verdict: the planner recorded them.
		return ctrl.Result{}, nil
	}
	s := &scope{req: req, plan: p, now: r.Clock.Now()}
	cv, round, err := r.latestVerdict(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	switch {
	case cv == nil:
		return r.judge(ctx, s, 1)
	case cv.Spec.Decision == v1.DecisionEscalate:
		return r.countApprovals(ctx, s, cv)
	case cv.Spec.Decision == v1.DecisionApprove && cv.Spec.Signed != nil && !s.now.Before(cv.Spec.Signed.Statement.ExpiresAt.Time):
		// The approval expired before execution started: judge again.
		return r.judge(ctx, s, round+1)
	default:
		return r.deliver(ctx, s, cv, tally{})
	}
}

// latestVerdict returns the ChangeVerdict of the highest round for the request's
// current plan, or nil.
func (r *Reconciler) latestVerdict(ctx context.Context, s *scope) (*v1.ChangeVerdict, int, error) {
	list := &v1.ChangeVerdictList{}
	if err := r.Local.List(ctx, list, client.InNamespace(r.VerdictNamespace), client.MatchingLabels{
		LabelRequest: requestKey(r.ClusterName, s.req.Namespace, s.req.Name),
		LabelDigest:  digestHex(s.plan.Digest)[:12],
	}); err != nil {
		return nil, 0, fmt.Errorf("list verdicts of %s/%s: %w", s.req.Namespace, s.req.Name, err)
	}
	var best *v1.ChangeVerdict
	bestRound := 0
	for i := range list.Items {
		cv := &list.Items[i]
		ref := cv.Spec.RequestRef
		if ref.Cluster != r.ClusterName || ref.Namespace != s.req.Namespace || ref.Name != s.req.Name ||
			ref.UID != string(s.req.UID) || ref.Generation != s.req.Generation || cv.Spec.PlanDigest != s.plan.Digest {
			continue
		}
		n, err := strconv.Atoi(cv.Labels[LabelRound])
		if err != nil {
			continue
		}
		if best == nil || n > bestRound {
			best, bestRound = cv, n
		}
	}
	return best, bestRound, nil
}

// judge makes a new decision on the request's plan (round n).
func (r *Reconciler) judge(ctx context.Context, s *scope, round int) (ctrl.Result, error) {
	// 1. A matching freeze holds the decision.
	freezes := &v1.ChangeFreezeList{}
	if err := r.Live.List(ctx, freezes); err != nil {
		return ctrl.Result{}, fmt.Errorf("list freezes: %w", err)
	}
	if f := activeFreeze(freezes.Items, s.req, s.plan.Region, s.now); f != nil {
		return r.hold(ctx, s, f, nextFreezeChange(freezes.Items, s.now))
	}
	// 2. The policy must exist and compile; otherwise fail closed.
	pol := &v1.ChangePolicy{}
	if err := r.Live.Get(ctx, r.Policy, pol); err != nil {
		if apierrors.IsNotFound(err) {
			return r.policyError(ctx, s, fmt.Sprintf("ChangePolicy %s not found in the auditor cluster: create it (see config/samples/changepolicy-default.yaml); nothing is approved without a policy", r.Policy))
		}
		return ctrl.Result{}, fmt.Errorf("get policy %s: %w", r.Policy, err)
	}
	compiled, cerr := policy.Compile(pol)
	if err := r.setPolicyStatus(ctx, pol, cerr); err != nil {
		return ctrl.Result{}, err
	}
	if cerr != nil {
		return r.policyError(ctx, s, fmt.Sprintf("ChangePolicy %s does not compile, nothing is approved until it is fixed: %v", r.Policy, cerr))
	}
	// 3. Validation, digest, scope and policy.
	j := judge(judgeInput{Req: s.req, Plan: s.plan, Policy: compiled, AllowedRegions: r.AllowedRegions})
	// 4. The second opinion can only make the decision stricter.
	if r.Reviewer != nil && j.Decision != v1.DecisionVeto {
		r.review(ctx, s, &j)
	}
	ttl := compiled.VerdictTTL
	if r.VerdictTTL > 0 {
		ttl = r.VerdictTTL
	}
	cv := r.newVerdict(s, round, compiled.Version, j)
	if j.Decision != v1.DecisionEscalate {
		sv, err := r.sign(s, cv, ttl)
		if err != nil {
			return ctrl.Result{}, err
		}
		cv.Spec.Signed = sv
	}
	if err := r.appendVerdict(ctx, s, cv); err != nil {
		return r.auditUnavailable(ctx, s, err)
	}
	if err := r.Local.Create(ctx, cv, client.FieldOwner(FieldOwner)); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Our cache is behind our own write: look again.
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, fmt.Errorf("create verdict %s: %w", cv.Name, err)
	}
	metrics.Decisions.WithLabelValues(string(cv.Spec.Decision), string(cv.Spec.ApprovalPath)).Inc()
	evType := corev1.EventTypeNormal
	if cv.Spec.Decision == v1.DecisionVeto {
		evType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(cv, evType, string(cv.Spec.Decision), "%s/%s/%s: %s", r.ClusterName, s.req.Namespace, s.req.Name, truncate(cv.Spec.Reason, 900))
	return r.deliver(ctx, s, cv, tally{})
}

func (r *Reconciler) review(ctx context.Context, s *scope, j *judgement) {
	d, finding, err := r.Reviewer.Review(ctx, s.req, s.plan, j.Decision)
	if err != nil {
		finding = "second opinion unavailable: " + err.Error()
		if j.Decision == v1.DecisionApprove {
			d = v1.DecisionEscalate
		} else {
			d = j.Decision
		}
	}
	j.Findings.SecondOpinion = truncate(finding, 2048)
	stricter := map[v1.Decision]int{v1.DecisionApprove: 0, v1.DecisionEscalate: 1, v1.DecisionVeto: 2}
	if rank, known := stricter[d]; known && rank > stricter[j.Decision] {
		j.Decision = d
		j.Reason = truncate("second opinion: "+finding+"; "+j.Reason, maxMessage)
	}
	if j.Decision == v1.DecisionEscalate && j.Approvals < 1 {
		j.Approvals = 1
	}
}

func (r *Reconciler) newVerdict(s *scope, round int, version string, j judgement) *v1.ChangeVerdict {
	name := VerdictName(r.ClusterName, s.req.Namespace, s.req.Name, s.plan.Digest, round)
	return &v1.ChangeVerdict{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: r.VerdictNamespace,
			Labels: map[string]string{
				LabelRequest: requestKey(r.ClusterName, s.req.Namespace, s.req.Name),
				LabelDigest:  digestHex(s.plan.Digest)[:12],
				LabelRound:   strconv.Itoa(round),
			},
		},
		Spec: v1.ChangeVerdictSpec{
			RequestRef: v1.RequestReference{
				Cluster: r.ClusterName, Namespace: s.req.Namespace, Name: s.req.Name,
				UID: string(s.req.UID), Generation: s.req.Generation,
			},
			Requester:         policy.Requester(s.req),
			PlanDigest:        s.plan.Digest,
			Decision:          j.Decision,
			ApprovalPath:      j.Path,
			Reason:            j.Reason,
			RequiredApprovals: j.Approvals,
			RequiredGroups:    j.Groups,
			PolicyVersion:     version,
			Findings:          j.Findings,
		},
	}
}

// sign signs cv's current decision with a new nonce, valid for ttl from now.
func (r *Reconciler) sign(s *scope, cv *v1.ChangeVerdict, ttl time.Duration) (*v1.SignedVerdict, error) {
	nonce, err := verdict.NewNonce()
	if err != nil {
		return nil, err
	}
	sv, err := verdict.Sign(v1.VerdictStatement{
		Cluster: r.ClusterName, Namespace: s.req.Namespace, Name: s.req.Name,
		RequestUID: string(s.req.UID), Generation: s.req.Generation, PlanDigest: s.plan.Digest,
		Decision: cv.Spec.Decision, PolicyVersion: cv.Spec.PolicyVersion,
		ExpiresAt: metav1.NewTime(s.now.Add(ttl)), Nonce: nonce,
	}, r.Signer)
	if err != nil {
		return nil, fmt.Errorf("sign verdict %s: %w", cv.Name, err)
	}
	sv.VerdictRef = cv.Name
	return sv, nil
}

// countApprovals counts the ChangeApprovals of an escalated verdict and, on a
// reject or a quorum, turns the verdict final with a new signature.
func (r *Reconciler) countApprovals(ctx context.Context, s *scope, cv *v1.ChangeVerdict) (ctrl.Result, error) {
	list := &v1.ChangeApprovalList{}
	if err := r.Local.List(ctx, list, client.InNamespace(cv.Namespace)); err != nil {
		return ctrl.Result{}, fmt.Errorf("list approvals of %s: %w", cv.Name, err)
	}
	t := countApprovals(cv, list.Items)
	for i := range list.Items {
		a := &list.Items[i]
		st, ok := t.Counted[a.Name]
		if !ok || (a.Status.Counted == st.Counted && a.Status.Message == st.Message) {
			continue
		}
		if a.Status.Message == "" {
			// First time the auditor looks at this approval: record it, with identity.
			if err := r.append(ctx, s, audit.EventHumanApproval, a.Spec.Approver, map[string]any{
				"verdict": cv.Name, "approval": a.Name, "approver": a.Spec.Approver, "groups": a.Spec.Groups,
				"decision": a.Spec.Decision, "planDigest": a.Spec.PlanDigest, "counted": st.Counted, "message": st.Message,
				"comment": a.Spec.Comment,
			}); err != nil {
				return r.auditUnavailable(ctx, s, err)
			}
		}
		orig := a.DeepCopy()
		a.Status.Counted, a.Status.Message = st.Counted, truncate(st.Message, 1024)
		if err := r.Local.Status().Patch(ctx, a, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner)); err != nil {
			return ctrl.Result{}, fmt.Errorf("patch status of approval %s: %w", a.Name, err)
		}
		r.Recorder.Eventf(cv, corev1.EventTypeNormal, "Approval", "%s by %s: %s", a.Spec.Decision, a.Spec.Approver, st.Message)
	}
	if t.RejectedBy == "" && !t.Quorum {
		return r.deliver(ctx, s, cv, t)
	}
	if t.RejectedBy == "" {
		// A quorum does not approve while a freeze is in force (a rejection may still veto).
		freezes := &v1.ChangeFreezeList{}
		if err := r.Live.List(ctx, freezes); err != nil {
			return ctrl.Result{}, fmt.Errorf("list freezes: %w", err)
		}
		if f := activeFreeze(freezes.Items, s.req, s.plan.Region, s.now); f != nil {
			return r.hold(ctx, s, f, nextFreezeChange(freezes.Items, s.now))
		}
	}
	final := cv.DeepCopy()
	final.Spec.ApprovalPath = v1.ApprovalPathHuman
	final.Spec.Approvers = capList(t.Approvers, 16, 256)
	if t.RejectedBy != "" {
		final.Spec.Decision = v1.DecisionVeto
		final.Spec.Reason = truncate(fmt.Sprintf("rejected by %s: %s", t.RejectedBy, t.RejectComment), maxMessage)
	} else {
		final.Spec.Decision = v1.DecisionApprove
		final.Spec.Reason = truncate(fmt.Sprintf("approved by %d distinct approver(s): %v; %s", len(t.Approvers), t.Approvers, cv.Spec.Reason), maxMessage)
	}
	ttl, err := r.verdictTTL(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	sv, err := r.sign(s, final, ttl)
	if err != nil {
		return ctrl.Result{}, err
	}
	final.Spec.Signed = sv
	if err := r.appendVerdict(ctx, s, final); err != nil {
		return r.auditUnavailable(ctx, s, err)
	}
	if err := r.Local.Update(ctx, final, client.FieldOwner(FieldOwner)); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, fmt.Errorf("update verdict %s: %w", cv.Name, err)
	}
	metrics.Decisions.WithLabelValues(string(final.Spec.Decision), string(final.Spec.ApprovalPath)).Inc()
	r.Recorder.Eventf(final, corev1.EventTypeNormal, string(final.Spec.Decision), "%s/%s/%s: %s", r.ClusterName, s.req.Namespace, s.req.Name, truncate(final.Spec.Reason, 900))
	return r.deliver(ctx, s, final, t)
}

// verdictTTL is the TTL of a human-approved verdict: the override, else the
// policy's, else the default.
func (r *Reconciler) verdictTTL(ctx context.Context) (time.Duration, error) {
	if r.VerdictTTL > 0 {
		return r.VerdictTTL, nil
	}
	pol := &v1.ChangePolicy{}
	if err := r.Live.Get(ctx, r.Policy, pol); err != nil {
		if apierrors.IsNotFound(err) {
			return policy.DefaultVerdictTTL, nil
		}
		return 0, fmt.Errorf("get policy %s: %w", r.Policy, err)
	}
	if pol.Spec.VerdictTTL != nil && pol.Spec.VerdictTTL.Duration > 0 {
		return pol.Spec.VerdictTTL.Duration, nil
	}
	return policy.DefaultVerdictTTL, nil
}

// deliver writes cv's outcome on the request (if it is not there yet) and marks
// the verdict delivered. An Approve is revisited when it expires.
func (r *Reconciler) deliver(ctx context.Context, s *scope, cv *v1.ChangeVerdict, t tally) (ctrl.Result, error) {
	if cv.Spec.Decision == v1.DecisionEscalate && t.Counted == nil {
		t = tally{Missing: fmt.Sprintf("%d approval(s)", max(cv.Spec.RequiredApprovals, 1))}
	}
	orig := s.req.DeepCopy()
	applyVerdict(s.req, cv, t)
	if err := r.patchRequest(ctx, orig, s.req); err != nil {
		return ctrl.Result{}, err
	}
	if orig.Status.Phase != s.req.Status.Phase {
		if created := s.req.CreationTimestamp.Time; !created.IsZero() && s.now.After(created) {
			metrics.PhaseSeconds.WithLabelValues(string(s.req.Status.Phase)).Observe(s.now.Sub(created).Seconds())
		}
	}
	if !cv.Status.Delivered {
		origCV := cv.DeepCopy()
		cv.Status.Delivered = true
		meta.SetStatusCondition(&cv.Status.Conditions, metav1.Condition{
			Type: "Delivered", Status: metav1.ConditionTrue, Reason: "Delivered", ObservedGeneration: cv.Generation,
			Message: fmt.Sprintf("written to %s/%s/%s", r.ClusterName, s.req.Namespace, s.req.Name),
		})
		if err := r.Local.Status().Patch(ctx, cv, client.MergeFrom(origCV), client.FieldOwner(FieldOwner)); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("mark verdict %s delivered: %w", cv.Name, err)
		}
	}
	if cv.Spec.Decision == v1.DecisionApprove && cv.Spec.Signed != nil {
		// Revisit at expiry: an approval nobody executed is judged again.
		if d := cv.Spec.Signed.Statement.ExpiresAt.Sub(s.now); d > 0 {
			return ctrl.Result{RequeueAfter: d + time.Second}, nil
		}
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	return ctrl.Result{}, nil
}

// patchRequest writes the auditor's status fields with an optimistic lock; a
// conflict returns an error so the request is judged again from fresh state.
func (r *Reconciler) patchRequest(ctx context.Context, orig, req *v1.NetworkChangeRequest) error {
	if equality.Semantic.DeepEqual(orig.Status, req.Status) {
		return nil
	}
	patch := client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
	if err := r.Control.Status().Patch(ctx, req, patch, client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("patch auditor status of %s/%s/%s: %w", r.ClusterName, req.Namespace, req.Name, err)
	}
	return nil
}

// hold records that a freeze holds the request (once) and waits for it to end.
func (r *Reconciler) hold(ctx context.Context, s *scope, f *v1.ChangeFreeze, next time.Duration) (ctrl.Result, error) {
	msg := frozenMessage(f)
	c := meta.FindStatusCondition(s.req.Status.Conditions, v1.ConditionApproved)
	already := c != nil && c.Reason == v1.ReasonFrozen && c.Message == msg && c.ObservedGeneration == s.req.Generation
	if !already {
		if err := r.append(ctx, s, audit.EventFreezeSet, Actor, map[string]any{
			"freeze": f.Name, "reason": f.Spec.Reason, "author": f.Spec.Author, "planDigest": s.plan.Digest, "held": true,
		}); err != nil {
			return r.auditUnavailable(ctx, s, err)
		}
		orig := s.req.DeepCopy()
		setApproved(s.req, metav1.ConditionFalse, v1.ReasonFrozen, msg)
		if err := r.patchRequest(ctx, orig, s.req); err != nil {
			return ctrl.Result{}, err
		}
		r.Recorder.Eventf(f, corev1.EventTypeNormal, v1.ReasonFrozen, "holding %s/%s/%s", r.ClusterName, s.req.Namespace, s.req.Name)
	}
	if next > 0 {
		return ctrl.Result{RequeueAfter: next}, nil
	}
	return ctrl.Result{}, nil
}

// policyError fails closed: no verdict, Approved=False PolicyError.
func (r *Reconciler) policyError(ctx context.Context, s *scope, msg string) (ctrl.Result, error) {
	orig := s.req.DeepCopy()
	setApproved(s.req, metav1.ConditionFalse, v1.ReasonPolicyError, msg)
	if err := r.patchRequest(ctx, orig, s.req); err != nil {
		return ctrl.Result{}, err
	}
	// The policy watch brings the request back when the policy changes.
	return ctrl.Result{}, nil
}

// auditUnavailable fails closed: nothing is decided without an audit record.
func (r *Reconciler) auditUnavailable(ctx context.Context, s *scope, cause error) (ctrl.Result, error) {
	orig := s.req.DeepCopy()
	setApproved(s.req, metav1.ConditionFalse, v1.ReasonAuditUnavailable,
		"the audit trail refused a write, so the auditor decides nothing until it accepts writes again: "+cause.Error())
	if err := r.patchRequest(ctx, orig, s.req); err != nil {
		return ctrl.Result{}, errors.Join(cause, err)
	}
	return ctrl.Result{}, fmt.Errorf("append audit event for %s/%s: %w", s.req.Namespace, s.req.Name, cause)
}

// setPolicyStatus reports whether the policy compiles in its status.
func (r *Reconciler) setPolicyStatus(ctx context.Context, pol *v1.ChangePolicy, cerr error) error {
	orig := pol.DeepCopy()
	cond := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Compiled",
		Message: "every rule and guardrail compiles", ObservedGeneration: pol.Generation}
	if cerr != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "InvalidCEL", truncate(cerr.Error()+": fix the expression", 32768)
	}
	meta.SetStatusCondition(&pol.Status.Conditions, cond)
	pol.Status.ObservedGeneration = pol.Generation
	pol.Status.Version = policy.Version(pol)
	if meta.IsStatusConditionPresentAndEqual(orig.Status.Conditions, "Ready", cond.Status) &&
		orig.Status.Version == pol.Status.Version && orig.Status.ObservedGeneration == pol.Generation {
		if c := meta.FindStatusCondition(orig.Status.Conditions, "Ready"); c != nil && c.Message == cond.Message {
			return nil
		}
	}
	if err := r.Local.Status().Patch(ctx, pol, client.MergeFrom(orig), client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("patch status of policy %s: %w", r.Policy, err)
	}
	if cerr != nil {
		r.Recorder.Event(pol, corev1.EventTypeWarning, "InvalidCEL", truncate(cerr.Error(), 1024))
	}
	return nil
}

func (r *Reconciler) appendVerdict(ctx context.Context, s *scope, cv *v1.ChangeVerdict) error {
	data := map[string]any{
		"verdict": cv.Name, "decision": cv.Spec.Decision, "approvalPath": cv.Spec.ApprovalPath,
		"planDigest": cv.Spec.PlanDigest, "policyVersion": cv.Spec.PolicyVersion, "reason": cv.Spec.Reason,
		"requiredApprovals": cv.Spec.RequiredApprovals, "requiredGroups": cv.Spec.RequiredGroups,
		"approvers": cv.Spec.Approvers, "scopeCreep": cv.Spec.Findings.ScopeCreep,
		"policyRules": cv.Spec.Findings.PolicyRules, "guardrails": cv.Spec.Findings.Guardrails,
		"requester": cv.Spec.Requester,
	}
	if sv := cv.Spec.Signed; sv != nil {
		data["keyID"] = sv.Statement.KeyID
		data["nonce"] = sv.Statement.Nonce
		data["expiresAt"] = sv.Statement.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return r.append(ctx, s, audit.EventVerdict, Actor, data)
}

func (r *Reconciler) append(ctx context.Context, s *scope, typ audit.EventType, actor string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s audit data: %w", typ, err)
	}
	return r.Audit.Append(ctx, audit.Event{
		Stream: "auditor/" + r.ClusterName + "/" + s.req.Namespace,
		Type:   typ,
		Actor:  actor,
		Request: audit.RequestRef{
			Cluster: r.ClusterName, Namespace: s.req.Namespace, Name: s.req.Name,
			UID: string(s.req.UID), Generation: s.req.Generation,
		},
		Data: b,
		Time: s.now,
	})
}
