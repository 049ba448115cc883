package auditor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/intent"
	"github.com/netchange-io/netchange/internal/plan"
	"github.com/netchange-io/netchange/internal/policy"
)

// Labels on ChangeVerdicts that find the verdicts of one request's plan.
const (
	// LabelRequest is a hash of <cluster>/<namespace>/<name> of the request.
	LabelRequest = "netchange.io/request"
	// LabelDigest is the first 12 hex characters of the plan digest.
	LabelDigest = "netchange.io/plan-digest"
	// LabelRound counts judgements of the same plan (a re-judge after expiry is round 2, ...).
	LabelRound = "netchange.io/round"
)

// maxMessage is the API's bound on status.message and condition messages.
const maxMessage = 2048

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func shortHash(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

func digestHex(d string) string {
	return strings.TrimPrefix(d, plan.DigestPrefix)
}

// requestKey identifies a request across clusters in labels.
func requestKey(cluster, namespace, name string) string {
	return shortHash(cluster+"/"+namespace+"/"+name, 16)
}

// VerdictName is the deterministic ChangeVerdict name of one judgement round of a
// request's plan: a readable prefix, a hash of cluster/namespace/name, the first
// 10 hex characters of the digest and the round; at most 63 characters.
func VerdictName(cluster, namespace, name, digest string, round int) string {
	base := dnsSafe(namespace + "-" + name)
	if len(base) > 32 {
		base = strings.TrimRight(base[:32], "-")
	}
	d := digestHex(digest)
	if len(d) > 10 {
		d = d[:10]
	}
	return fmt.Sprintf("%s-%s-%s-r%d", base, shortHash(cluster+"/"+namespace+"/"+name, 8), d, round)
}

func dnsSafe(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteRune('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		out = "request"
	}
	return out
}

// activeFreeze returns the first (by name) ChangeFreeze in force at now whose
// scope matches the request and plan region; nil when none does.
func activeFreeze(freezes []v1.ChangeFreeze, req *v1.NetworkChangeRequest, region string, now time.Time) *v1.ChangeFreeze {
	sort.Slice(freezes, func(i, j int) bool { return freezes[i].Name < freezes[j].Name })
	for i := range freezes {
		f := &freezes[i]
		if !f.DeletionTimestamp.IsZero() || !freezeInForce(f, now) {
			continue
		}
		s := f.Spec.Scope
		if len(s.Namespaces) > 0 && !contains(s.Namespaces, req.Namespace) {
			continue
		}
		if len(s.Environments) > 0 {
			found := false
			for _, e := range s.Environments {
				found = found || e == req.Spec.Environment
			}
			if !found {
				continue
			}
		}
		if len(s.Regions) > 0 && !contains(s.Regions, region) {
			continue
		}
		return f
	}
	return nil
}

func freezeInForce(f *v1.ChangeFreeze, now time.Time) bool {
	if f.Spec.Start != nil && now.Before(f.Spec.Start.Time) {
		return false
	}
	return f.Spec.End == nil || now.Before(f.Spec.End.Time)
}

// nextFreezeChange is when the freeze set may change for a held request: the
// earliest future start or end among freezes; zero when none.
func nextFreezeChange(freezes []v1.ChangeFreeze, now time.Time) time.Duration {
	var next time.Duration
	consider := func(t *metav1.Time) {
		if t == nil || !t.After(now) {
			return
		}
		if d := t.Sub(now); next == 0 || d < next {
			next = d
		}
	}
	for i := range freezes {
		consider(freezes[i].Spec.Start)
		consider(freezes[i].Spec.End)
	}
	return next
}

func frozenMessage(f *v1.ChangeFreeze) string {
	until := "until it is deleted"
	if f.Spec.End != nil {
		until = "until " + f.Spec.End.UTC().Format(time.RFC3339)
	}
	return truncate(fmt.Sprintf("held by ChangeFreeze %s (%s, declared by %s) %s; the auditor decides once the freeze ends",
		f.Name, f.Spec.Reason, f.Spec.Author, until), maxMessage)
}

// judgement is the auditor's decision on one plan, before signing.
type judgement struct {
	Decision  v1.Decision
	Path      v1.ApprovalPath
	Reason    string
	Approvals int32
	Groups    []string
	Findings  v1.Findings
}

// judgeInput is what a judgement is made from.
type judgeInput struct {
	Req            *v1.NetworkChangeRequest
	Plan           *v1.Plan
	Policy         *policy.Compiled
	AllowedRegions []string
}

// judge decides on a plan: validation and digest, then scope, then policy. It is
// pure. Validation or digest failures and scope creep veto before the policy runs.
func judge(in judgeInput) judgement {
	req, p := in.Req, in.Plan
	it := intent.Extract(req)
	j := judgement{Findings: v1.Findings{
		Entities:       capList(it.Entities(), 128, 256),
		MonthlyCostUSD: plan.MonthlyCostUSD(p),
		BlastRadius:    plan.BlastRadius(p),
	}}
	// Every check runs so the verdict lists every problem; scope creep names the path.
	creep := intent.CheckScope(it, req, p)
	j.Findings.IntentMatch = len(creep) == 0
	j.Findings.ScopeCreep = capList(creep, 64, 512)
	var problems, guards []string
	if d, err := plan.Digest(req, p); err != nil || d != p.Digest {
		problems = append(problems, fmt.Sprintf("the plan's digest %s does not match its content (recomputed %s): the plan was altered after it was sealed", p.Digest, d))
		guards = append(guards, "plan digest mismatch")
	}
	if len(creep) > 0 {
		problems = append(problems, fmt.Sprintf("scope creep: %d item(s) not asked for by the request: %s", len(creep), strings.Join(creep, "; ")))
	}
	if err := plan.Validate(req, p); err != nil {
		problems = append(problems, "the plan is invalid: "+err.Error())
		guards = append(guards, "plan validation: "+err.Error())
	}
	if len(problems) > 0 {
		j.Decision, j.Path = v1.DecisionVeto, v1.ApprovalPathGuardrail
		if len(creep) > 0 {
			j.Path = v1.ApprovalPathScopeCheck
		}
		j.Findings.Guardrails = capList(guards, 64, 512)
		j.Reason = truncate(strings.Join(problems, "; ")+"; file a request that asks for exactly this, or ask the planner for a new plan", maxMessage)
		return j
	}
	res := in.Policy.Evaluate(policy.Input{Request: req, Plan: p, AllowedRegions: in.AllowedRegions})
	j.Findings.PolicyRules = capList(res.MatchedRules, 64, 512)
	j.Findings.Guardrails = capList(res.Guardrails, 64, 512)
	j.Path = res.Path
	switch res.Outcome {
	case v1.OutcomeAutoApprove:
		j.Decision = v1.DecisionApprove
		j.Reason = truncate("auto-approved under policy "+res.Version+": "+strings.Join(res.Reasons, "; "), maxMessage)
	case v1.OutcomeRequireApproval:
		j.Decision = v1.DecisionEscalate
		j.Approvals = min(res.Approvals, 10)
		j.Groups = capList(res.Groups, 8, 256)
		j.Reason = truncate(fmt.Sprintf("needs %d human approval(s) under policy %s: %s", j.Approvals, res.Version, strings.Join(res.Reasons, "; ")), maxMessage)
	default:
		j.Decision = v1.DecisionVeto
		j.Reason = truncate("rejected under policy "+res.Version+": "+strings.Join(res.Reasons, "; "), maxMessage)
	}
	return j
}

func capList(xs []string, n, width int) []string {
	if len(xs) > n {
		xs = xs[:n]
	}
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = truncate(x, width)
	}
	return out
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// tally is the outcome of counting the ChangeApprovals of an escalated verdict.
type tally struct {
	// Counted maps approval name to whether it counted and why.
	Counted map[string]approvalState
	// Approvers are the distinct users whose approvals counted, sorted.
	Approvers []string
	// RejectedBy is the first (by name) user whose matching Reject vetoes the plan.
	RejectedBy string
	// RejectComment is that user's comment.
	RejectComment string
	// Quorum is true when enough distinct approvers counted and every required group is covered.
	Quorum bool
	// Missing says what is still needed, for messages.
	Missing string
}

type approvalState struct {
	Counted bool
	Message string
}

// countApprovals counts the approvals of cv: distinct approvers, other than the
// requester, whose planDigest matches. An unknown requester counts nobody (fail
// closed). A matching Reject from anyone vetoes.
func countApprovals(cv *v1.ChangeVerdict, approvals []v1.ChangeApproval) tally {
	t := tally{Counted: map[string]approvalState{}}
	sort.Slice(approvals, func(i, j int) bool { return approvals[i].Name < approvals[j].Name })
	requester := cv.Spec.Requester
	seen := map[string]bool{}
	groups := map[string]bool{}
	for _, a := range approvals {
		if a.Spec.VerdictName != cv.Name {
			continue
		}
		st := approvalState{}
		switch {
		case a.Spec.PlanDigest != cv.Spec.PlanDigest:
			st.Message = fmt.Sprintf("not counted: planDigest %s is not the verdict's %s (the plan changed; approve the current plan)", a.Spec.PlanDigest, cv.Spec.PlanDigest)
		case a.Spec.Decision == v1.ApprovalReject:
			st.Message = "rejection recorded: the plan is vetoed"
			if t.RejectedBy == "" {
				t.RejectedBy, t.RejectComment = a.Spec.Approver, a.Spec.Comment
			}
		case requester == "":
			st.Message = "not counted: the request's requester is unknown, so no approval can be counted (fail closed)"
		case a.Spec.Approver == requester:
			st.Message = "not counted: the requester cannot approve their own request"
		case seen[a.Spec.Approver]:
			st.Message = "not counted: " + a.Spec.Approver + " already approved"
		default:
			st.Counted = true
			st.Message = "counted towards the quorum"
			seen[a.Spec.Approver] = true
			for _, g := range a.Spec.Groups {
				groups[g] = true
			}
		}
		t.Counted[a.Name] = st
	}
	for u := range seen {
		t.Approvers = append(t.Approvers, u)
	}
	sort.Strings(t.Approvers)
	need := max(cv.Spec.RequiredApprovals, 1)
	var missingGroups []string
	for _, g := range cv.Spec.RequiredGroups {
		if !groups[g] {
			missingGroups = append(missingGroups, g)
		}
	}
	t.Quorum = int32(len(t.Approvers)) >= need && len(missingGroups) == 0
	var parts []string
	if n := need - int32(len(t.Approvers)); n > 0 {
		parts = append(parts, fmt.Sprintf("%d more approval(s) from distinct users other than the requester", n))
	}
	if len(missingGroups) > 0 {
		parts = append(parts, "an approver in group(s) "+strings.Join(missingGroups, ", "))
	}
	t.Missing = strings.Join(parts, " and ")
	return t
}

// escalationMessage tells a human how to approve.
func escalationMessage(cv *v1.ChangeVerdict, t tally) string {
	groups := ""
	if len(cv.Spec.RequiredGroups) > 0 {
		groups = fmt.Sprintf(" (at least one in group %s)", strings.Join(cv.Spec.RequiredGroups, " or "))
	}
	have := ""
	if len(t.Approvers) > 0 {
		have = fmt.Sprintf("; approved so far by %s, still needs %s", strings.Join(t.Approvers, ", "), t.Missing)
	}
	return truncate(fmt.Sprintf("needs %d approval(s) from distinct users other than the requester%s%s: %s. To approve, in the auditor cluster run: "+
		"kubectl -n %s create -f - <<EOF\napiVersion: netchange.io/v1alpha1\nkind: ChangeApproval\nmetadata:\n  generateName: %s-\nspec:\n  verdictName: %s\n  planDigest: %s\n  decision: Approve\n  approver: <your username>\n  groups: [<your groups>]\nEOF",
		max(cv.Spec.RequiredApprovals, 1), groups, have, cv.Spec.Reason, cv.Namespace, truncate(cv.Name, 40), cv.Name, cv.Spec.PlanDigest), maxMessage)
}

// setApproved sets the auditor's Approved condition for req's generation.
func setApproved(req *v1.NetworkChangeRequest, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&req.Status.Conditions, metav1.Condition{
		Type:               v1.ConditionApproved,
		Status:             status,
		Reason:             reason,
		Message:            truncate(message, maxMessage),
		ObservedGeneration: req.Generation,
	})
}

// setPhase sets phase, message and observedGeneration together.
func setPhase(req *v1.NetworkChangeRequest, phase v1.Phase, message string) {
	req.Status.Phase = phase
	req.Status.Message = truncate(message, maxMessage)
	req.Status.ObservedGeneration = req.Generation
}

// applyVerdict writes a verdict's outcome into the auditor-owned fields of req.
func applyVerdict(req *v1.NetworkChangeRequest, cv *v1.ChangeVerdict, t tally) {
	req.Status.Decision = cv.Spec.Decision
	switch cv.Spec.Decision {
	case v1.DecisionApprove:
		sv := cv.Spec.Signed.DeepCopy()
		sv.VerdictRef = cv.Name
		req.Status.Verdict = sv
		reason := v1.ReasonAutoApproved
		msg := "approved by the auditor: " + cv.Spec.Reason
		if cv.Spec.ApprovalPath == v1.ApprovalPathHuman {
			reason = v1.ReasonHumanApproved
			msg = fmt.Sprintf("approved by %s under policy %s", strings.Join(cv.Spec.Approvers, ", "), cv.Spec.PolicyVersion)
		}
		msg += fmt.Sprintf(" (verdict %s, valid until %s)", cv.Name, sv.Statement.ExpiresAt.UTC().Format(time.RFC3339))
		setApproved(req, metav1.ConditionTrue, reason, msg)
		setPhase(req, v1.PhaseApproved, msg)
	case v1.DecisionVeto:
		sv := cv.Spec.Signed.DeepCopy()
		sv.VerdictRef = cv.Name
		req.Status.Verdict = sv
		msg := fmt.Sprintf("vetoed by the auditor (verdict %s): %s", cv.Name, cv.Spec.Reason)
		setApproved(req, metav1.ConditionFalse, v1.ReasonVetoed, msg)
		setPhase(req, v1.PhaseVetoed, msg)
	default:
		req.Status.Verdict = nil
		msg := fmt.Sprintf("awaiting human approval (verdict %s): %s", cv.Name, escalationMessage(cv, t))
		setApproved(req, metav1.ConditionFalse, v1.ReasonAwaitingHumanApproval, msg)
		setPhase(req, v1.PhaseAwaitingHumanApproval, msg)
	}
}
