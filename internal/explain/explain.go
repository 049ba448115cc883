// Package explain renders, for one NetworkChangeRequest, the report a compliance
// owner or an on-call engineer asks for: what was changed, why, its impact, who
// asked, who or what approved it under which policy, what was executed and
// verified, how to roll it back, and what happens next.
//
// Request text, event payloads, LLM output and audit data are untrusted: every
// value is stripped of control characters (no terminal escapes) and escaped in
// markdown (no injected headings, links or HTML).
package explain

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/audit"
	"github.com/netchange-io/netchange/internal/plan"
)

// Item is one line of a section: a labelled value, or plain text when Label is empty.
type Item struct {
	// Label names the value, e.g. "Policy version".
	Label string
	// Value is the (untrusted) value.
	Value string
}

// Table is a section's table.
type Table struct {
	// Header names the columns.
	Header []string
	// Rows are the cells, each as many as Header.
	Rows [][]string
}

// Section is one titled part of an explanation.
type Section struct {
	// Title is the section's heading.
	Title string
	// Items are its lines, in order.
	Items []Item
	// Table is an optional table after the items.
	Table *Table
}

// Explanation is the structured report; Text and Markdown render it.
type Explanation struct {
	// Title names the request.
	Title string
	// Sections are the report's parts, in order.
	Sections []Section
}

// Report explains req, using the auditor's ChangeVerdict cv when available (nil
// otherwise) and the audit records (of any streams; only those about req are
// listed, all of them are verified).
func Report(req *v1.NetworkChangeRequest, cv *v1.ChangeVerdict, records []audit.Record) *Explanation {
	e := &Explanation{Title: fmt.Sprintf("NetworkChangeRequest %s/%s", req.Namespace, req.Name)}
	e.Sections = append(e.Sections,
		summarySection(req),
		whatSection(req),
		whySection(req),
		impactSection(req),
		whoSection(req, cv),
		decisionSection(req, cv),
		executionSection(req),
		rollbackSection(req),
		auditSection(req, records),
		nextStepsSection(req, cv),
	)
	return e
}

func summarySection(req *v1.NetworkChangeRequest) Section {
	s := Section{Title: "Summary"}
	phase := req.Status.Phase
	if phase == "" {
		phase = v1.PhasePending
	}
	s.Items = append(s.Items,
		Item{"Request", req.Namespace + "/" + req.Name},
		Item{"UID", string(req.UID)},
		Item{"Generation", fmt.Sprint(req.Generation)},
		Item{"Created", timeString(req.CreationTimestamp.Time)},
		Item{"Phase", string(phase)},
	)
	if req.Status.Message != "" {
		s.Items = append(s.Items, Item{"Message", req.Status.Message})
	}
	s.Items = append(s.Items, Item{"Environment", string(req.Spec.Environment)})
	if req.Spec.Severity != "" {
		s.Items = append(s.Items, Item{"Severity", string(req.Spec.Severity)})
	}
	if req.Spec.RevertAfter != nil {
		s.Items = append(s.Items, Item{"Time-boxed", "reverted " + req.Spec.RevertAfter.Duration.String() + " after it is applied"})
	}
	dp := req.Spec.DeletionPolicy
	if dp == "" {
		dp = v1.DeletionPolicyRetain
	}
	s.Items = append(s.Items, Item{"Deletion policy", string(dp)})
	return s
}

func whatSection(req *v1.NetworkChangeRequest) Section {
	s := Section{Title: "What"}
	p := req.Status.Plan
	if p == nil {
		s.Items = append(s.Items, Item{"", "No plan yet: the planner has not attached one."})
		return s
	}
	if len(p.Actions) == 0 {
		s.Items = append(s.Items, Item{"", "The plan changes nothing."})
	}
	for i, a := range p.Actions {
		line := ActionInWords(a)
		if a.Reason != "" {
			line += " — because: " + a.Reason
		}
		s.Items = append(s.Items, Item{fmt.Sprintf("%d", i+1), line})
	}
	where := "region " + orDash(p.Region)
	if p.AccountID != "" {
		where += ", account " + p.AccountID
	}
	s.Items = append(s.Items, Item{"Where", where}, Item{"Plan digest", p.Digest})
	return s
}

func whySection(req *v1.NetworkChangeRequest) Section {
	s := Section{Title: "Why"}
	s.Items = append(s.Items, Item{"Intent (as written by the requester)", req.Spec.Intent})
	src := v1.SourceUser
	if req.Spec.Source != nil {
		src = req.Spec.Source.Type
	}
	s.Items = append(s.Items, Item{"Source", string(src)})
	if req.Spec.Source != nil && req.Spec.Source.Event != "" {
		s.Items = append(s.Items, Item{"Triggering event", truncate(req.Spec.Source.Event, 400)})
	}
	if t := req.Spec.Targets; t != nil {
		var parts []string
		if t.AccountID != "" {
			parts = append(parts, "account "+t.AccountID)
		}
		if t.Region != "" {
			parts = append(parts, "region "+t.Region)
		}
		if len(t.ResourceIDs) > 0 {
			parts = append(parts, "resources "+strings.Join(t.ResourceIDs, ", "))
		}
		if len(t.CIDRs) > 0 {
			parts = append(parts, "CIDRs "+strings.Join(t.CIDRs, ", "))
		}
		if len(t.WAFIPSets) > 0 {
			parts = append(parts, "WAF IP sets "+strings.Join(t.WAFIPSets, ", "))
		}
		if len(parts) > 0 {
			s.Items = append(s.Items, Item{"Named targets", strings.Join(parts, "; ")})
		}
	}
	p := req.Status.Plan
	if p == nil {
		return s
	}
	if p.Rationale != "" {
		s.Items = append(s.Items, Item{"Planner's rationale", p.Rationale})
	}
	if p.Trigger != "" {
		s.Items = append(s.Items, Item{"Plan made because", p.Trigger})
	}
	pv := p.Provenance
	prov := "planner " + orDash(pv.Planner)
	if pv.Provider != "" || pv.Model != "" {
		prov += fmt.Sprintf(", %s model %s", pv.Provider, pv.Model)
	}
	if pv.Attempts > 0 {
		prov += fmt.Sprintf(", %d attempt(s)", pv.Attempts)
	}
	if pv.PromptTokens+pv.CompletionTokens > 0 {
		prov += fmt.Sprintf(", %d+%d tokens", pv.PromptTokens, pv.CompletionTokens)
	}
	if pv.LatencyMillis > 0 {
		prov += fmt.Sprintf(", %dms", pv.LatencyMillis)
	}
	s.Items = append(s.Items, Item{"Made by", prov})
	if pv.PromptSHA256 != "" {
		s.Items = append(s.Items, Item{"Prompt / response SHA-256", pv.PromptSHA256 + " / " + orDash(pv.ResponseSHA256)})
	}
	if p.CreatedAt != nil {
		s.Items = append(s.Items, Item{"Planned at", timeString(p.CreatedAt.Time)})
	}
	return s
}

func impactSection(req *v1.NetworkChangeRequest) Section {
	s := Section{Title: "Impact"}
	p := req.Status.Plan
	if p == nil {
		s.Items = append(s.Items, Item{"", "Unknown until a plan exists."})
		return s
	}
	br := p.BlastRadius
	s.Items = append(s.Items,
		Item{"Resources touched", listOrNone(br.Resources)},
		Item{"Environments", listOrNone(br.Environments)},
	)
	if len(br.Protected) > 0 {
		s.Items = append(s.Items, Item{"Protected resources touched", strings.Join(br.Protected, ", ")})
	}
	if br.WidestCIDR != "" {
		s.Items = append(s.Items, Item{"Widest CIDR", fmt.Sprintf("%s (%d addresses)", br.WidestCIDR, br.Addresses)})
	}
	if exp := plan.InternetExposure(p); len(exp) > 0 {
		s.Items = append(s.Items, Item{"Internet exposure", strings.Join(exp, "; ")})
	}
	cost := p.MonthlyCostUSD
	if cost == "" {
		cost = "not estimated"
	} else {
		cost = "$" + cost + " per month"
	}
	s.Items = append(s.Items, Item{"Estimated cost", cost})
	if n := len(p.Snapshot); n > 0 {
		ids := make([]string, 0, n)
		for _, sn := range p.Snapshot {
			ids = append(ids, sn.Kind+" "+sn.ID)
		}
		s.Items = append(s.Items, Item{"Pre-state recorded for", strings.Join(ids, ", ")})
	}
	return s
}

func whoSection(req *v1.NetworkChangeRequest, cv *v1.ChangeVerdict) Section {
	s := Section{Title: "Who asked"}
	who := req.Status.Requester
	switch {
	case who != "":
	case cv != nil && cv.Spec.Requester != "":
		who = cv.Spec.Requester
	default:
		who = "not recorded (the requester annotation was missing: treat as unauthenticated)"
	}
	s.Items = append(s.Items, Item{"Requester (authenticated user)", who})
	return s
}

func decisionSection(req *v1.NetworkChangeRequest, cv *v1.ChangeVerdict) Section {
	s := Section{Title: "Decision"}
	d := req.Status.Decision
	if d == "" && cv != nil {
		d = cv.Spec.Decision
	}
	s.Items = append(s.Items, Item{"Decision", orText(string(d), "none yet")})
	if c := findCondition(req, v1.ConditionApproved); c != nil {
		s.Items = append(s.Items, Item{"Approved condition", conditionString(c)})
	}
	if sv := req.Status.Verdict; sv != nil {
		st := sv.Statement
		s.Items = append(s.Items,
			Item{"Signed verdict", fmt.Sprintf("%s under policy %s, signed by key %s", st.Decision, st.PolicyVersion, st.KeyID)},
			Item{"Verdict expires", timeString(st.ExpiresAt.Time)},
			Item{"Verdict covers", fmt.Sprintf("generation %d, plan %s", st.Generation, st.PlanDigest)},
		)
		if p := req.Status.Plan; p != nil && p.Digest != st.PlanDigest {
			s.Items = append(s.Items, Item{"Warning", "the verdict is for a different plan digest than the current plan: it does not authorise this plan"})
		}
		if sv.VerdictRef != "" {
			s.Items = append(s.Items, Item{"ChangeVerdict", sv.VerdictRef})
		}
	} else {
		s.Items = append(s.Items, Item{"Signed verdict", "none on the request"})
	}
	if cv == nil {
		s.Items = append(s.Items, Item{"Auditor's record", "not loaded (pass the auditor cluster's kubeconfig to include approval path, approvers and findings)"})
		return s
	}
	sp := cv.Spec
	s.Items = append(s.Items,
		Item{"Approval path", string(sp.ApprovalPath)},
		Item{"Policy version", sp.PolicyVersion},
	)
	if sp.Reason != "" {
		s.Items = append(s.Items, Item{"Reason", sp.Reason})
	}
	if sp.RequiredApprovals > 0 {
		req := fmt.Sprintf("%d distinct approver(s)", sp.RequiredApprovals)
		if len(sp.RequiredGroups) > 0 {
			req += ", at least one in " + strings.Join(sp.RequiredGroups, " or ")
		}
		s.Items = append(s.Items, Item{"Approvals required", req})
	}
	s.Items = append(s.Items, Item{"Approvers", listOrNone(sp.Approvers)})
	f := sp.Findings
	s.Items = append(s.Items, Item{"Intent match", yesNo(f.IntentMatch)})
	if len(f.ScopeCreep) > 0 {
		s.Items = append(s.Items, Item{"Scope creep", strings.Join(f.ScopeCreep, "; ")})
	}
	if len(f.PolicyRules) > 0 {
		s.Items = append(s.Items, Item{"Policy rules matched", strings.Join(f.PolicyRules, "; ")})
	}
	if len(f.Guardrails) > 0 {
		s.Items = append(s.Items, Item{"Guardrails", strings.Join(f.Guardrails, "; ")})
	}
	if f.SecondOpinion != "" {
		s.Items = append(s.Items, Item{"Second opinion", f.SecondOpinion})
	}
	return s
}

func executionSection(req *v1.NetworkChangeRequest) Section {
	s := Section{Title: "Execution"}
	for _, t := range []string{v1.ConditionApplied, v1.ConditionVerified, v1.ConditionRolledBack, v1.ConditionReady} {
		if c := findCondition(req, t); c != nil {
			s.Items = append(s.Items, Item{t, conditionString(c)})
		}
	}
	ex := req.Status.Execution
	if ex == nil {
		s.Items = append(s.Items, Item{"", "Nothing executed."})
		return s
	}
	if ex.StartedAt != nil {
		s.Items = append(s.Items, Item{"Started", timeString(ex.StartedAt.Time)})
	}
	if ex.CompletedAt != nil {
		s.Items = append(s.Items, Item{"Completed", timeString(ex.CompletedAt.Time)})
	}
	if ex.VerdictNonce != "" {
		s.Items = append(s.Items, Item{"Verdict consumed", "nonce " + ex.VerdictNonce})
	}
	if ex.RollbackReason != "" {
		s.Items = append(s.Items, Item{"Rollback reason", ex.RollbackReason})
	}
	if ex.RevertAt != nil {
		s.Items = append(s.Items, Item{"Revert at", timeString(ex.RevertAt.Time)})
	}
	tb := &Table{Header: []string{"#", "Action", "State", "Attempts", "Result", "Since"}}
	for _, j := range ex.Journal {
		res := j.Message
		if j.ResultID != "" {
			res = strings.TrimSpace(res + " (" + j.ResultID + ")")
		}
		since := ""
		if j.LastTransitionTime != nil {
			since = timeString(j.LastTransitionTime.Time)
		}
		tb.Rows = append(tb.Rows, []string{fmt.Sprint(j.Index + 1), string(j.Type), string(j.State), fmt.Sprint(j.Attempts), orDash(res), orDash(since)})
	}
	if len(tb.Rows) > 0 {
		s.Table = tb
	}
	return s
}

func rollbackSection(req *v1.NetworkChangeRequest) Section {
	s := Section{Title: "Rollback"}
	p := req.Status.Plan
	if p == nil || len(p.Actions) == 0 {
		s.Items = append(s.Items, Item{"", "Nothing to roll back."})
		return s
	}
	s.Items = append(s.Items, Item{"", "Undoing this change applies these actions, in this order:"})
	for i := len(p.Actions) - 1; i >= 0; i-- {
		inv, err := plan.Inverse(p.Actions[i])
		line := ""
		if err != nil {
			line = fmt.Sprintf("cannot be undone automatically (%v): restore it by hand from the recorded pre-state", err)
		} else {
			line = ActionInWords(inv)
		}
		s.Items = append(s.Items, Item{fmt.Sprintf("undo %d", i+1), line})
	}
	if c := findCondition(req, v1.ConditionRolledBack); c != nil && c.Status == metav1.ConditionTrue {
		s.Items = append(s.Items, Item{"Status", "already rolled back: " + conditionString(c)})
	}
	return s
}

func auditSection(req *v1.NetworkChangeRequest, records []audit.Record) Section {
	s := Section{Title: "Audit trail"}
	if len(records) == 0 {
		s.Items = append(s.Items, Item{"", "No audit records given (pass --audit-dir or --audit-postgres-dsn)."})
		return s
	}
	rep := audit.Verify(records, nil)
	if rep.OK() {
		s.Items = append(s.Items, Item{"Integrity", fmt.Sprintf("hash chains intact (%d records in %d streams; checkpoint signatures: check with `manager audit verify --public-keys`)", rep.Records, len(rep.Streams))})
	} else {
		s.Items = append(s.Items, Item{"Integrity", "DAMAGED: " + rep.First.String() + " — the records below cannot be trusted; run `manager audit verify`"})
	}
	tb := &Table{Header: []string{"Stream", "Seq", "Time", "Event", "Actor", "Details"}}
	var mine []audit.Record
	for _, r := range records {
		if aboutRequest(r, req) {
			mine = append(mine, r)
		}
	}
	sort.SliceStable(mine, func(i, j int) bool { return mine[i].Time.Before(mine[j].Time) })
	for _, r := range mine {
		tb.Rows = append(tb.Rows, []string{r.Stream, fmt.Sprint(r.Seq), timeString(r.Time), string(r.Type), r.Actor, truncate(string(r.Data), 160)})
	}
	if len(mine) == 0 {
		s.Items = append(s.Items, Item{"", "No audit record mentions this request."})
	} else {
		s.Table = tb
	}
	return s
}

// aboutRequest reports whether r concerns req (by uid, else by namespace and name).
func aboutRequest(r audit.Record, req *v1.NetworkChangeRequest) bool {
	if r.Request.UID != "" && req.UID != "" {
		return r.Request.UID == string(req.UID)
	}
	return r.Request.Namespace == req.Namespace && r.Request.Name == req.Name
}

func nextStepsSection(req *v1.NetworkChangeRequest, cv *v1.ChangeVerdict) Section {
	s := Section{Title: "Next steps"}
	add := func(format string, args ...any) { s.Items = append(s.Items, Item{"", fmt.Sprintf(format, args...)}) }
	replan := fmt.Sprintf("kubectl annotate ncr -n %s %s %s=$(date +%%s) --overwrite", req.Namespace, req.Name, v1.AnnotationReplan)
	switch req.Status.Phase {
	case "", v1.PhasePending, v1.PhasePlanning:
		add("Wait for the planner; if nothing happens, check the Planned condition and the planner's logs.")
	case v1.PhaseAwaitingVerdict:
		add("Wait for the auditor's verdict; if it does not come, check that the auditor can reach this cluster.")
	case v1.PhaseAwaitingHumanApproval:
		need := "the required number of"
		if cv != nil && cv.Spec.RequiredApprovals > 0 {
			need = fmt.Sprint(cv.Spec.RequiredApprovals)
		}
		ref := "its ChangeVerdict"
		if cv != nil {
			ref = "ChangeVerdict " + cv.Name
		} else if req.Status.Verdict != nil && req.Status.Verdict.VerdictRef != "" {
			ref = "ChangeVerdict " + req.Status.Verdict.VerdictRef
		}
		add("Needs %s approval(s): approvers other than the requester create a ChangeApproval for %s in the auditor cluster.", need, ref)
	case v1.PhaseApproved:
		add("The executor applies the plan next, unless a ChangeFreeze holds it or the verdict expires first.")
	case v1.PhaseVetoed:
		add("The auditor refused the plan; read the reason and findings above, then file a new request whose intent names exactly what should change.")
	case v1.PhaseExecuting:
		add("Actions are being applied; watch the journal (kubectl get ncr -n %s %s -w).", req.Namespace, req.Name)
	case v1.PhaseSucceeded:
		if ex := req.Status.Execution; ex != nil && ex.RevertAt != nil {
			add("The change is in effect and is reverted automatically at %s.", timeString(ex.RevertAt.Time))
		} else {
			add("The change is in effect. To undo it, file a request for the rollback actions above.")
		}
		if req.Spec.DeletionPolicy == v1.DeletionPolicyRollback {
			add("Deleting this request rolls the change back (deletionPolicy Rollback).")
		} else {
			add("Deleting this request keeps the change (deletionPolicy Retain).")
		}
	case v1.PhaseFailed:
		add("Read the message and the journal above; applied actions were rolled back where possible. Fix the cause, then ask for a new plan: %s", replan)
	case v1.PhaseRolledBack:
		add("The applied actions were undone after a failure; nothing of this change is in effect. Fix the cause and file a new request.")
	case v1.PhaseExpired:
		add("The verdict expired before execution. Ask for a new plan and verdict: %s", replan)
	case v1.PhaseReverted:
		add("The time-boxed change ended and was undone. File a new request to apply it again.")
	case v1.PhaseNoAction:
		add("Nothing needed to change; the request is closed.")
	default:
		add("Unknown phase %q.", req.Status.Phase)
	}
	return s
}

func findCondition(req *v1.NetworkChangeRequest, t string) *metav1.Condition {
	return meta.FindStatusCondition(req.Status.Conditions, t)
}

func conditionString(c *metav1.Condition) string {
	s := string(c.Status) + " (" + c.Reason + ")"
	if c.Message != "" {
		s += ": " + c.Message
	}
	if !c.LastTransitionTime.IsZero() {
		s += ", since " + timeString(c.LastTransitionTime.Time)
	}
	return s
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string { return orText(s, "-") }

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes: every action is grounded in the request"
	}
	return "no"
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
