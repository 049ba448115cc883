// Package policy evaluates a ChangePolicy (CEL rules and guardrails) and
// netchange's built-in guardrails against a request and its plan (DESIGN §6.3).
// It is pure: the caller passes everything in and gets a Result.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/intent"
	"github.com/netchange-io/netchange/internal/plan"
)

// TagAudit marks netchange's own audit infrastructure in AWS; nothing tagged
// with it may be touched by any plan.
const TagAudit = "netchange.io/audit"

// DefaultVerdictTTL is how long an approval stays valid when the policy does not say.
const DefaultVerdictTTL = 15 * time.Minute

// costLimit bounds the work one CEL expression may do on one input.
const costLimit = 1_000_000

// Built-in guardrail names, as they appear in Result.Guardrails.
const (
	GuardrailInternetExposure = "builtin:internet-exposure-production"
	GuardrailDeletion         = "builtin:deletion-needs-confirmation"
	GuardrailProtected        = "builtin:protected-resource"
	GuardrailProtectedDelete  = "builtin:protected-resource-deletion"
	GuardrailResidency        = "builtin:region-residency"
	GuardrailAuditInfra       = "builtin:audit-infrastructure"
)

type compiledRule struct {
	rule v1.PolicyRule
	prg  cel.Program
}

type compiledGuardrail struct {
	g   v1.Guardrail
	prg cel.Program
}

// Compiled is a ChangePolicy whose expressions compiled.
type Compiled struct {
	// Version identifies the policy content: <name>@<generation>/<sha256 prefix>.
	Version string
	// VerdictTTL is how long an approval stays valid for execution.
	VerdictTTL time.Duration
	rules      []compiledRule
	guardrails []compiledGuardrail
}

// Version returns <name>@<generation>/<first 12 hex chars of sha256(spec JSON)>.
func Version(p *v1.ChangePolicy) string {
	b, _ := json.Marshal(p.Spec)
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%s@%d/%s", p.Name, p.Generation, hex.EncodeToString(sum[:])[:12])
}

// newEnv declares the variables a policy expression sees.
func newEnv() (*cel.Env, error) {
	dynMap := cel.MapType(cel.StringType, cel.DynType)
	return cel.NewEnv(
		cel.Variable("request", dynMap),
		cel.Variable("plan", dynMap),
		cel.Variable("blastRadius", dynMap),
		cel.Variable("cost", cel.DoubleType),
		cel.Variable("environment", cel.StringType),
		cel.Variable("severity", cel.StringType),
		cel.Variable("source", cel.StringType),
	)
}

func compileBool(env *cel.Env, expr string) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, fmt.Errorf("expression returns %s, want bool", t)
	}
	return env.Program(ast, cel.CostLimit(costLimit), cel.InterruptCheckFrequency(100))
}

// Compile compiles every rule and guardrail of p. The error names the first rule
// or guardrail that does not compile and the CEL problem.
func Compile(p *v1.ChangePolicy) (*Compiled, error) {
	if p == nil {
		return nil, fmt.Errorf("compile policy: no policy")
	}
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("compile policy %s: CEL environment: %w", p.Name, err)
	}
	c := &Compiled{Version: Version(p), VerdictTTL: DefaultVerdictTTL}
	if p.Spec.VerdictTTL != nil && p.Spec.VerdictTTL.Duration > 0 {
		c.VerdictTTL = p.Spec.VerdictTTL.Duration
	}
	for _, r := range p.Spec.Rules {
		prg, err := compileBool(env, r.Match)
		if err != nil {
			return nil, fmt.Errorf("policy %s rule %q: match does not compile: %v", p.Name, r.Name, err)
		}
		switch r.Outcome {
		case v1.OutcomeAutoApprove, v1.OutcomeRequireApproval, v1.OutcomeReject:
		default:
			return nil, fmt.Errorf("policy %s rule %q: outcome %q is not AutoApprove, RequireApproval or Reject", p.Name, r.Name, r.Outcome)
		}
		c.rules = append(c.rules, compiledRule{rule: r, prg: prg})
	}
	for _, g := range p.Spec.Guardrails {
		prg, err := compileBool(env, g.Expression)
		if err != nil {
			return nil, fmt.Errorf("policy %s guardrail %q: expression does not compile: %v", p.Name, g.Name, err)
		}
		switch g.Level {
		case v1.GuardrailWarn, v1.GuardrailEscalate, v1.GuardrailBlock:
		default:
			return nil, fmt.Errorf("policy %s guardrail %q: level %q is not warn, escalate or block", p.Name, g.Name, g.Level)
		}
		c.guardrails = append(c.guardrails, compiledGuardrail{g: g, prg: prg})
	}
	return c, nil
}

// Input is what a policy is evaluated against.
type Input struct {
	// Request is the request judged.
	Request *v1.NetworkChangeRequest
	// Plan is the plan judged.
	Plan *v1.Plan
	// AllowedRegions is the auditor's data residency: plan regions outside it are
	// rejected. Empty means no restriction besides the request's own targets.region.
	AllowedRegions []string
}

// Result is the policy's decision.
type Result struct {
	// Outcome is AutoApprove, RequireApproval or Reject.
	Outcome v1.PolicyOutcome
	// Approvals is the quorum for RequireApproval (at least 1).
	Approvals int32
	// Groups are groups at least one approver must belong to.
	Groups []string
	// MatchedRules are "<rule>: <outcome>" for each rule that matched.
	MatchedRules []string
	// Guardrails are "<guardrail> (<level>): <message>" for each guardrail that fired.
	Guardrails []string
	// Reasons explain the outcome, most important first.
	Reasons []string
	// Path is Guardrail when a guardrail made the outcome stricter than the rules, else Policy.
	Path v1.ApprovalPath
	// Version is the policy version evaluated.
	Version string
}

func strictness(o v1.PolicyOutcome) int {
	switch o {
	case v1.OutcomeAutoApprove:
		return 0
	case v1.OutcomeRequireApproval:
		return 1
	default:
		return 2
	}
}

// result accumulates a decision.
type result struct {
	Result
	ruleOutcome v1.PolicyOutcome
	groups      map[string]bool
	guardReject []string
	guardEsc    []string
}

func (r *result) guard(name, level, msg string, outcome v1.PolicyOutcome) {
	r.Guardrails = append(r.Guardrails, fmt.Sprintf("%s (%s): %s", name, level, msg))
	switch outcome {
	case v1.OutcomeReject:
		r.guardReject = append(r.guardReject, fmt.Sprintf("%s: %s", name, msg))
	case v1.OutcomeRequireApproval:
		r.guardEsc = append(r.guardEsc, fmt.Sprintf("%s: %s", name, msg))
	}
}

// Evaluate decides on in. The strictest matching rule wins (Reject >
// RequireApproval > AutoApprove); no match means RequireApproval with one
// approver. Policy guardrails and the built-in guardrails then apply on top and
// can only make the outcome stricter. A CEL evaluation error fails closed (Reject).
func (c *Compiled) Evaluate(in Input) Result {
	r := &result{groups: map[string]bool{}}
	r.Version = c.Version
	vars, err := activation(in)
	if err != nil {
		r.Outcome, r.Path = v1.OutcomeReject, v1.ApprovalPathPolicy
		r.Reasons = []string{"cannot evaluate the policy: " + err.Error()}
		return r.Result
	}
	matched := false
	var evalErrs []string
	for _, cr := range c.rules {
		ok, err := evalBool(cr.prg, vars)
		if err != nil {
			evalErrs = append(evalErrs, fmt.Sprintf("rule %q: %v", cr.rule.Name, err))
			continue
		}
		if !ok {
			continue
		}
		matched = true
		r.MatchedRules = append(r.MatchedRules, fmt.Sprintf("%s: %s", cr.rule.Name, cr.rule.Outcome))
		if strictness(cr.rule.Outcome) > strictness(r.ruleOutcome) || r.ruleOutcome == "" {
			r.ruleOutcome = cr.rule.Outcome
		}
		if cr.rule.Outcome == v1.OutcomeRequireApproval {
			r.Approvals = max(r.Approvals, cr.rule.Approvals)
			for _, g := range cr.rule.Groups {
				r.groups[g] = true
			}
		}
	}
	if !matched {
		r.ruleOutcome = v1.OutcomeRequireApproval
		r.Approvals = 1
		r.Reasons = append(r.Reasons, "no policy rule matched: one human approval is required")
	}
	for _, cg := range c.guardrails {
		ok, err := evalBool(cg.prg, vars)
		if err != nil {
			evalErrs = append(evalErrs, fmt.Sprintf("guardrail %q: %v", cg.g.Name, err))
			continue
		}
		if !ok {
			continue
		}
		msg := cg.g.Message
		if msg == "" {
			msg = "fired"
		}
		switch cg.g.Level {
		case v1.GuardrailBlock:
			r.guard(cg.g.Name, string(cg.g.Level), msg, v1.OutcomeReject)
		case v1.GuardrailEscalate:
			r.guard(cg.g.Name, string(cg.g.Level), msg, v1.OutcomeRequireApproval)
		default:
			r.guard(cg.g.Name, string(cg.g.Level), msg, v1.OutcomeAutoApprove)
		}
	}
	builtins(in, r)
	r.Outcome = r.ruleOutcome
	r.Path = v1.ApprovalPathPolicy
	if len(r.guardEsc) > 0 && strictness(r.Outcome) < strictness(v1.OutcomeRequireApproval) {
		r.Outcome, r.Path = v1.OutcomeRequireApproval, v1.ApprovalPathGuardrail
	}
	if len(r.guardReject) > 0 && r.Outcome != v1.OutcomeReject {
		r.Outcome, r.Path = v1.OutcomeReject, v1.ApprovalPathGuardrail
	}
	if len(evalErrs) > 0 {
		r.Outcome, r.Path = v1.OutcomeReject, v1.ApprovalPathPolicy
		r.Reasons = append([]string{"policy evaluation failed, failing closed: " + strings.Join(evalErrs, "; ")}, r.Reasons...)
	}
	switch r.Outcome {
	case v1.OutcomeReject:
		r.Reasons = append(append([]string{}, r.guardReject...), r.Reasons...)
		for _, m := range r.MatchedRules {
			if strings.HasSuffix(m, ": "+string(v1.OutcomeReject)) {
				r.Reasons = append(r.Reasons, "rule "+m)
			}
		}
		r.Approvals, r.groups = 0, nil
	case v1.OutcomeRequireApproval:
		r.Reasons = append(append([]string{}, r.guardEsc...), r.Reasons...)
		for _, m := range r.MatchedRules {
			if strings.HasSuffix(m, ": "+string(v1.OutcomeRequireApproval)) {
				r.Reasons = append(r.Reasons, "rule "+m)
			}
		}
		if r.Approvals < 1 {
			r.Approvals = 1
		}
	default:
		r.Approvals, r.groups = 0, nil
		r.Reasons = append(r.Reasons, "approved by rules: "+strings.Join(r.MatchedRules, ", "))
	}
	for g := range r.groups {
		r.Groups = append(r.Groups, g)
	}
	sort.Strings(r.Groups)
	return r.Result
}

func evalBool(prg cel.Program, vars map[string]any) (bool, error) {
	out, _, err := prg.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("returned %v (%s), want bool", out.Value(), out.Type())
	}
	return b, nil
}

// Requester returns the request's authenticated requester: the
// netchange.io/requester annotation, which an admission policy ties to the user
// that created the request and keeps unchanged. status.requester is a copy any
// status writer could alter, so when the two disagree the requester is unknown
// (""): no human approval counts and no policy rule can match on it (fail closed).
func Requester(req *v1.NetworkChangeRequest) string {
	ann := req.Annotations[v1.AnnotationRequester]
	if req.Status.Requester != "" && req.Status.Requester != ann {
		return ""
	}
	return ann
}

// builtins applies the guardrails nobody can configure away.
func builtins(in Input, r *result) {
	p, req := in.Plan, in.Request
	if p == nil || req == nil {
		r.guard(GuardrailResidency, "block", "no plan or request to judge", v1.OutcomeReject)
		return
	}
	snap := map[string]v1.ResourceSnapshot{}
	for _, s := range p.Snapshot {
		snap[s.ID] = s
	}
	// 1. No internet-exposed ingress in production (the request says production, or
	// a touched resource is tagged production).
	for _, f := range plan.ProductionExposure(req, p) {
		r.guard(GuardrailInternetExposure, "block", f+" in production", v1.OutcomeReject)
	}
	for i, a := range p.Actions {
		res := plan.Resources(a)
		// 2. Deletions need explicit confirmation.
		if plan.IsDeletion(a) {
			r.guard(GuardrailDeletion, "escalate", fmt.Sprintf("actions[%d] %s deletes from AWS: deletions need explicit confirmation", i, a.Type), v1.OutcomeRequireApproval)
		}
		for _, id := range res {
			s, ok := snap[id]
			if !ok {
				continue
			}
			// 3. Protected resources are never changed automatically, never deleted from.
			if s.Protected {
				if plan.IsDeletion(a) {
					r.guard(GuardrailProtectedDelete, "block", fmt.Sprintf("actions[%d] %s deletes from %s, which is tagged %s", i, a.Type, id, v1.TagProtected), v1.OutcomeReject)
				} else {
					r.guard(GuardrailProtected, "escalate", fmt.Sprintf("actions[%d] %s changes %s, which is tagged %s: a human must confirm", i, a.Type, id, v1.TagProtected), v1.OutcomeRequireApproval)
				}
			}
			// 5. netchange's own audit infrastructure is untouchable.
			if strings.Contains(s.State, `"`+TagAudit+`"`) {
				r.guard(GuardrailAuditInfra, "block", fmt.Sprintf("actions[%d] %s touches %s, netchange's own audit infrastructure (tagged %s)", i, a.Type, id, TagAudit), v1.OutcomeReject)
			}
		}
		if a.Tags != nil {
			for _, t := range a.Tags.Tags {
				if t.Key == TagAudit {
					r.guard(GuardrailAuditInfra, "block", fmt.Sprintf("actions[%d] %s changes the %s tag of %s", i, a.Type, TagAudit, a.Tags.ResourceID), v1.OutcomeReject)
				}
				if t.Key == v1.TagProtected && a.Type == v1.ActionTagsRemove {
					r.guard(GuardrailProtectedDelete, "block", fmt.Sprintf("actions[%d] removes the %s tag from %s", i, v1.TagProtected, a.Tags.ResourceID), v1.OutcomeReject)
				}
			}
		}
	}
	// 4. Data residency.
	switch {
	case p.Region == "":
		r.guard(GuardrailResidency, "block", "the plan names no region", v1.OutcomeReject)
	case len(in.AllowedRegions) > 0 && !contains(in.AllowedRegions, p.Region):
		r.guard(GuardrailResidency, "block", fmt.Sprintf("plan region %s is outside the allowed regions %s", p.Region, strings.Join(in.AllowedRegions, ", ")), v1.OutcomeReject)
	}
	if t := req.Spec.Targets; t != nil && t.Region != "" && t.Region != p.Region {
		r.guard(GuardrailResidency, "block", fmt.Sprintf("plan region %s differs from the request's targets.region %s", p.Region, t.Region), v1.OutcomeReject)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// EffectiveSeverity is the request's severity, or for a request raised from a
// finding without one, the severity the auditor reads from the event itself
// (GuardDuty: 9.0+ critical, 7.0+ high, 4.0+ medium, else low). Unknown is "".
func EffectiveSeverity(req *v1.NetworkChangeRequest) v1.Severity {
	if req == nil {
		return ""
	}
	if req.Spec.Severity != "" {
		return req.Spec.Severity
	}
	f := intent.Extract(req).Finding
	if f == nil || f.Severity <= 0 {
		return ""
	}
	switch {
	case f.Severity >= 9:
		return v1.SeverityCritical
	case f.Severity >= 7:
		return v1.SeverityHigh
	case f.Severity >= 4:
		return v1.SeverityMedium
	default:
		return v1.SeverityLow
	}
}

func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if string(b) == "null" {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func strList(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// activation builds the CEL variables from in.
func activation(in Input) (map[string]any, error) {
	req, p := in.Request, in.Plan
	if req == nil || p == nil {
		return nil, fmt.Errorf("no request or plan")
	}
	source := string(v1.SourceUser)
	if req.Spec.Source != nil && req.Spec.Source.Type != "" {
		source = string(req.Spec.Source.Type)
	}
	severity := string(EffectiveSeverity(req))
	targets := map[string]any{}
	if req.Spec.Targets != nil {
		t, err := toMap(req.Spec.Targets)
		if err != nil {
			return nil, fmt.Errorf("encode targets: %w", err)
		}
		targets = t
	}
	request := map[string]any{
		"name": req.Name, "namespace": req.Namespace, "intent": req.Spec.Intent,
		"environment": string(req.Spec.Environment), "severity": severity, "source": source,
		"requester": Requester(req), "targets": targets,
	}
	actions := make([]any, 0, len(p.Actions))
	typeSet := map[string]bool{}
	deletions := false
	for _, a := range p.Actions {
		m, err := toMap(a)
		if err != nil {
			return nil, fmt.Errorf("encode action: %w", err)
		}
		params := map[string]any{}
		if f := plan.ParamsField(a.Type); f != "" {
			if pm, ok := m[f].(map[string]any); ok {
				params = pm
			}
		}
		m["params"] = params
		m["deletion"] = plan.IsDeletion(a)
		m["resources"] = strList(nonEmpty(plan.Resources(a)))
		actions = append(actions, m)
		typeSet[string(a.Type)] = true
		deletions = deletions || plan.IsDeletion(a)
	}
	typeList := make([]string, 0, len(typeSet))
	for t := range typeSet {
		typeList = append(typeList, t)
	}
	sort.Strings(typeList)
	br := plan.BlastRadius(p)
	blast := map[string]any{
		"resources":    strList(br.Resources),
		"environments": strList(br.Environments),
		"protected":    strList(br.Protected),
		"widestCIDR":   br.WidestCIDR,
		"addresses":    br.Addresses,
	}
	cost, err := strconv.ParseFloat(plan.MonthlyCostUSD(p), 64)
	if err != nil {
		return nil, fmt.Errorf("plan cost: %w", err)
	}
	return map[string]any{
		"request": request,
		"plan": map[string]any{
			"actions": actions, "actionTypes": strList(typeList), "deletions": deletions,
			"region": p.Region, "accountID": p.AccountID,
		},
		"blastRadius": blast,
		"cost":        cost,
		"environment": string(req.Spec.Environment),
		"severity":    severity,
		"source":      source,
	}, nil
}

func nonEmpty(xs []string) []string {
	out := xs[:0:0]
	for _, x := range xs {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}
