package policy

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

const (
	aclProd = "acl-0ddddddddddddddd4"
	sgProd  = "sg-0bbbbbbbbbbbbbbb2"
	sgDev   = "sg-0ccccccccccccccc3"
	inst    = "i-0a1b2c3d4e5f67890"
	vpc     = "vpc-0123456789abcdef0"
	rtb     = "rtb-0123456789abcdef1"
	tgw     = "tgw-0123456789abcdef2"
	pl      = "pl-0123456789abcdef3"
)

func defaultPolicy(t testing.TB) *v1.ChangePolicy {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "changepolicy-default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := &v1.ChangePolicy{}
	if err := yaml.UnmarshalStrict(b, p); err != nil {
		t.Fatalf("decode default policy sample: %v", err)
	}
	p.Generation = 3
	return p
}

func request(env v1.Environment, sev v1.Severity) *v1.NetworkChangeRequest {
	r := &v1.NetworkChangeRequest{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "netops"}}
	r.Spec.Intent = "change"
	r.Spec.Environment = env
	r.Spec.Severity = sev
	r.Annotations = map[string]string{v1.AnnotationRequester: "alice"}
	r.Status.Requester = "alice"
	return r
}

func naclDeny() v1.Action {
	return v1.Action{Type: v1.ActionNetworkACLEntryAdd, NetworkACLEntry: &v1.NetworkACLEntryParams{
		NetworkACLID: aclProd, RuleNumber: 90, Direction: v1.DirectionIngress, RuleAction: v1.RuleActionDeny, Protocol: v1.ProtocolAll, CIDR: "203.0.113.0/24"}}
}

func sgAllow(sg, cidr string) v1.Action {
	return v1.Action{Type: v1.ActionSecurityGroupRuleAuthorize, SecurityGroupRule: &v1.SecurityGroupRuleParams{
		GroupID: sg, Direction: v1.DirectionIngress, Protocol: v1.ProtocolTCP, Ports: &v1.PortRange{From: 443, To: 443}, CIDR: cidr}}
}

func sgRevoke(sg string) v1.Action {
	a := sgAllow(sg, "10.20.0.0/16")
	a.Type = v1.ActionSecurityGroupRuleRevoke
	return a
}

func quarantine() v1.Action {
	return v1.Action{Type: v1.ActionInstanceQuarantine, Quarantine: &v1.QuarantineParams{InstanceID: inst, VPCID: vpc, OriginalGroupIDs: []string{sgProd}}}
}

func routeCreate() v1.Action {
	return v1.Action{Type: v1.ActionRouteCreate, Route: &v1.RouteParams{RouteTableID: rtb, DestinationCIDR: "10.50.0.0/16", TargetType: v1.RouteTargetTransitGateway, TargetID: tgw}}
}

func mkPlan(actions ...v1.Action) *v1.Plan {
	return &v1.Plan{Region: "us-east-1", Actions: actions, Snapshot: []v1.ResourceSnapshot{
		{ID: aclProd, Kind: "NetworkACL", Environment: "production", State: "{}"},
		{ID: sgProd, Kind: "SecurityGroup", Environment: "production", State: "{}"},
		{ID: sgDev, Kind: "SecurityGroup", Environment: "development", State: "{}"},
	}}
}

func withSnap(p *v1.Plan, s v1.ResourceSnapshot) *v1.Plan {
	p.Snapshot = append(p.Snapshot, s)
	return p
}

func TestCompiled_EvaluateDefaultPolicy(t *testing.T) {
	c, err := Compile(defaultPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.VerdictTTL != 15*time.Minute {
		t.Fatalf("VerdictTTL = %v", c.VerdictTTL)
	}
	gd := func(sev float64) *v1.NetworkChangeRequest {
		r := request(v1.EnvironmentProduction, "")
		r.Spec.Source = &v1.Source{Type: v1.SourceGuardDuty, Event: `{"type":"CryptoCurrency:EC2/BitcoinTool.B!DNS","severity":` +
			strconv.FormatFloat(sev, 'f', -1, 64) + `,"resource":{"instanceDetails":{"instanceId":"` + inst + `"}}}`}
		return r
	}
	tests := []struct {
		name      string
		req       *v1.NetworkChangeRequest
		plan      *v1.Plan
		allowed   []string
		outcome   v1.PolicyOutcome
		approvals int32
		path      v1.ApprovalPath
		guardrail string
	}{
		{name: "block in production auto-approved", req: request(v1.EnvironmentProduction, v1.SeverityHigh), plan: mkPlan(naclDeny()), outcome: v1.OutcomeAutoApprove, path: v1.ApprovalPathPolicy},
		{name: "prefix list add auto-approved", req: request(v1.EnvironmentStaging, ""), plan: mkPlan(v1.Action{Type: v1.ActionPrefixListEntryAdd,
			PrefixListEntry: &v1.PrefixListEntryParams{PrefixListID: pl, CIDR: "203.0.113.0/24"}}), outcome: v1.OutcomeAutoApprove, path: v1.ApprovalPathPolicy},
		{name: "high isolation auto-approved", req: request(v1.EnvironmentProduction, v1.SeverityHigh), plan: mkPlan(quarantine()), outcome: v1.OutcomeAutoApprove, path: v1.ApprovalPathPolicy},
		{name: "guardduty severity 8 (from the event) auto-approved", req: gd(8), plan: mkPlan(quarantine()), outcome: v1.OutcomeAutoApprove, path: v1.ApprovalPathPolicy},
		{name: "guardduty severity 5 needs a human", req: gd(5), plan: mkPlan(quarantine()), outcome: v1.OutcomeRequireApproval, approvals: 1, path: v1.ApprovalPathPolicy},
		{name: "medium isolation needs one", req: request(v1.EnvironmentProduction, v1.SeverityMedium), plan: mkPlan(quarantine()), outcome: v1.OutcomeRequireApproval, approvals: 1, path: v1.ApprovalPathPolicy},
		{name: "allow in development needs one", req: request(v1.EnvironmentDevelopment, v1.SeverityMedium), plan: mkPlan(sgAllow(sgDev, "10.20.0.0/16")), outcome: v1.OutcomeRequireApproval, approvals: 1, path: v1.ApprovalPathPolicy},
		{name: "route change needs two", req: request(v1.EnvironmentProduction, ""), plan: mkPlan(routeCreate()), outcome: v1.OutcomeRequireApproval, approvals: 2, path: v1.ApprovalPathPolicy},
		{name: "block plus allow in production: strictest wins", req: request(v1.EnvironmentProduction, v1.SeverityHigh), plan: mkPlan(naclDeny(), sgAllow(sgProd, "10.20.0.0/16")), outcome: v1.OutcomeRequireApproval, approvals: 1, path: v1.ApprovalPathPolicy},
		{name: "internet exposure in production rejected (builtin)", req: request(v1.EnvironmentProduction, ""), plan: mkPlan(sgAllow(sgProd, "0.0.0.0/0")), outcome: v1.OutcomeReject, path: v1.ApprovalPathGuardrail, guardrail: GuardrailInternetExposure},
		{name: "internet exposure on a production resource from a dev request", req: request(v1.EnvironmentDevelopment, ""), plan: mkPlan(sgAllow(sgProd, "0.0.0.0/0")), outcome: v1.OutcomeReject, path: v1.ApprovalPathGuardrail, guardrail: GuardrailInternetExposure},
		{name: "internet exposure in development only needs a human", req: request(v1.EnvironmentDevelopment, ""), plan: &v1.Plan{Region: "us-east-1", Actions: []v1.Action{sgAllow(sgDev, "0.0.0.0/0")}}, outcome: v1.OutcomeRequireApproval, approvals: 1, path: v1.ApprovalPathPolicy},
		{name: "protected resource delete rejected", req: request(v1.EnvironmentDevelopment, ""), plan: withSnap(&v1.Plan{Region: "us-east-1", Actions: []v1.Action{sgRevoke(sgDev)}},
			v1.ResourceSnapshot{ID: sgDev, Kind: "SecurityGroup", Protected: true, State: "{}"}), outcome: v1.OutcomeReject, path: v1.ApprovalPathPolicy, guardrail: GuardrailProtectedDelete},
		{name: "residency: region not allowed", req: request(v1.EnvironmentProduction, ""), plan: mkPlan(naclDeny()), allowed: []string{"eu-west-1", "eu-central-1"}, outcome: v1.OutcomeReject, path: v1.ApprovalPathGuardrail, guardrail: GuardrailResidency},
		{name: "residency: region allowed", req: request(v1.EnvironmentProduction, ""), plan: mkPlan(naclDeny()), allowed: []string{"us-east-1"}, outcome: v1.OutcomeAutoApprove, path: v1.ApprovalPathPolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Evaluate(Input{Request: tt.req, Plan: tt.plan, AllowedRegions: tt.allowed})
			if got.Outcome != tt.outcome || got.Approvals != tt.approvals || got.Path != tt.path {
				t.Fatalf("Evaluate = %s approvals %d path %s, want %s %d %s\n%+v", got.Outcome, got.Approvals, got.Path, tt.outcome, tt.approvals, tt.path, got)
			}
			if tt.guardrail != "" && !hasPrefix(got.Guardrails, tt.guardrail) {
				t.Fatalf("guardrails %v lack %s", got.Guardrails, tt.guardrail)
			}
			if got.Version != c.Version || !strings.HasPrefix(got.Version, "default@3/") || len(got.Version) != len("default@3/")+12 {
				t.Fatalf("version %q", got.Version)
			}
			if len(got.Reasons) == 0 {
				t.Fatal("no reasons")
			}
		})
	}
}

func hasPrefix(xs []string, p string) bool {
	for _, x := range xs {
		if strings.HasPrefix(x, p) {
			return true
		}
	}
	return false
}

func policyOf(rules []v1.PolicyRule, guards ...v1.Guardrail) *v1.ChangePolicy {
	return &v1.ChangePolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 1}, Spec: v1.ChangePolicySpec{Rules: rules, Guardrails: guards}}
}

var approveAll = v1.PolicyRule{Name: "approve-everything", Match: "true", Outcome: v1.OutcomeAutoApprove}

// The built-in guardrails apply even under a policy that approves everything.
func TestCompiled_EvaluateBuiltinGuardrails(t *testing.T) {
	c, err := Compile(policyOf([]v1.PolicyRule{approveAll}))
	if err != nil {
		t.Fatal(err)
	}
	empty, err := Compile(policyOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	targeted := request(v1.EnvironmentProduction, "")
	targeted.Spec.Targets = &v1.Targets{Region: "eu-west-1"}
	tests := []struct {
		name      string
		c         *Compiled
		req       *v1.NetworkChangeRequest
		plan      *v1.Plan
		outcome   v1.PolicyOutcome
		guardrail string
	}{
		{"permissive: plain block approved", c, request(v1.EnvironmentProduction, ""), mkPlan(naclDeny()), v1.OutcomeAutoApprove, ""},
		{"empty policy: no match needs a human", empty, request(v1.EnvironmentProduction, ""), mkPlan(naclDeny()), v1.OutcomeRequireApproval, ""},
		{"internet exposure in production", c, request(v1.EnvironmentProduction, ""), mkPlan(sgAllow(sgProd, "::/0")), v1.OutcomeReject, GuardrailInternetExposure},
		{"deletion needs confirmation", c, request(v1.EnvironmentDevelopment, ""), &v1.Plan{Region: "us-east-1", Actions: []v1.Action{sgRevoke(sgDev)}}, v1.OutcomeRequireApproval, GuardrailDeletion},
		{"protected resource needs a human", c, request(v1.EnvironmentDevelopment, ""), withSnap(&v1.Plan{Region: "us-east-1", Actions: []v1.Action{sgAllow(sgDev, "10.0.0.0/16")}},
			v1.ResourceSnapshot{ID: sgDev, Protected: true, State: "{}"}), v1.OutcomeRequireApproval, GuardrailProtected},
		{"deletion on a protected resource rejected", c, request(v1.EnvironmentDevelopment, ""), withSnap(&v1.Plan{Region: "us-east-1", Actions: []v1.Action{sgRevoke(sgDev)}},
			v1.ResourceSnapshot{ID: sgDev, Protected: true, State: "{}"}), v1.OutcomeReject, GuardrailProtectedDelete},
		{"removing the protected tag rejected", c, request(v1.EnvironmentDevelopment, ""), &v1.Plan{Region: "us-east-1", Actions: []v1.Action{{Type: v1.ActionTagsRemove,
			Tags: &v1.TagsParams{ResourceID: sgDev, Tags: []v1.Tag{{Key: v1.TagProtected}}}}}}, v1.OutcomeReject, GuardrailProtectedDelete},
		{"targets.region differs from the plan", c, targeted, mkPlan(naclDeny()), v1.OutcomeReject, GuardrailResidency},
		{"no region", c, request(v1.EnvironmentProduction, ""), &v1.Plan{Actions: []v1.Action{naclDeny()}}, v1.OutcomeReject, GuardrailResidency},
		{"audit infrastructure untouchable", c, request(v1.EnvironmentDevelopment, ""), withSnap(&v1.Plan{Region: "us-east-1", Actions: []v1.Action{sgAllow(sgDev, "10.0.0.0/16")}},
			v1.ResourceSnapshot{ID: sgDev, State: `{"tags":{"netchange.io/audit":"postgres"}}`}), v1.OutcomeReject, GuardrailAuditInfra},
		{"audit tag cannot be set", c, request(v1.EnvironmentDevelopment, ""), &v1.Plan{Region: "us-east-1", Actions: []v1.Action{{Type: v1.ActionTagsAdd,
			Tags: &v1.TagsParams{ResourceID: sgDev, Tags: []v1.Tag{{Key: TagAudit, Value: "x"}}}}}}, v1.OutcomeReject, GuardrailAuditInfra},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.c.Evaluate(Input{Request: tt.req, Plan: tt.plan})
			if got.Outcome != tt.outcome {
				t.Fatalf("Outcome = %s, want %s\n%+v", got.Outcome, tt.outcome, got)
			}
			if tt.guardrail != "" {
				if !hasPrefix(got.Guardrails, tt.guardrail) {
					t.Fatalf("guardrails %v lack %s", got.Guardrails, tt.guardrail)
				}
				if got.Path != v1.ApprovalPathGuardrail {
					t.Fatalf("path = %s, want Guardrail", got.Path)
				}
			}
		})
	}
}

func TestCompiled_EvaluateRules(t *testing.T) {
	esc := func(name string, n int32, groups ...string) v1.PolicyRule {
		return v1.PolicyRule{Name: name, Match: "true", Outcome: v1.OutcomeRequireApproval, Approvals: n, Groups: groups}
	}
	tests := []struct {
		name      string
		pol       *v1.ChangePolicy
		outcome   v1.PolicyOutcome
		approvals int32
		groups    []string
		matched   []string
		reason    string
	}{
		{name: "max approvals, union of groups", pol: policyOf([]v1.PolicyRule{approveAll, esc("a", 1, "netops"), esc("b", 3, "security", "netops")}),
			outcome: v1.OutcomeRequireApproval, approvals: 3, groups: []string{"netops", "security"},
			matched: []string{"approve-everything: AutoApprove", "a: RequireApproval", "b: RequireApproval"}},
		{name: "reject beats everything", pol: policyOf([]v1.PolicyRule{esc("a", 2), {Name: "no", Match: "cost >= 0.0", Outcome: v1.OutcomeReject}}),
			outcome: v1.OutcomeReject, matched: []string{"a: RequireApproval", "no: Reject"}, reason: "rule no: Reject"},
		{name: "variables", pol: policyOf([]v1.PolicyRule{{Name: "vars", Outcome: v1.OutcomeAutoApprove, Match: `request.requester == 'alice' && request.namespace == 'netops' &&
			source == 'user' && environment == 'production' && plan.region == 'us-east-1' && plan.actionTypes == ['NetworkACLEntryAdd'] &&
			!plan.deletions && plan.actions[0].params.ruleNumber == 90 && blastRadius.widestCIDR == '203.0.113.0/24' && blastRadius.addresses == 256 &&
			blastRadius.resources == ['` + aclProd + `'] && 'production' in blastRadius.environments && cost == 0.0 && request.targets.size() == 0`}}),
			outcome: v1.OutcomeAutoApprove, matched: []string{"vars: AutoApprove"}},
		{name: "runtime error fails closed", pol: policyOf([]v1.PolicyRule{approveAll, {Name: "bad", Match: "request.nosuchfield == 'x'", Outcome: v1.OutcomeAutoApprove}}),
			outcome: v1.OutcomeReject, matched: []string{"approve-everything: AutoApprove"}, reason: `policy evaluation failed, failing closed: rule "bad"`},
		{name: "guardrail warn changes nothing", pol: policyOf([]v1.PolicyRule{approveAll}, v1.Guardrail{Name: "w", Expression: "true", Level: v1.GuardrailWarn, Message: "look"}),
			outcome: v1.OutcomeAutoApprove, matched: []string{"approve-everything: AutoApprove"}},
		{name: "guardrail escalate", pol: policyOf([]v1.PolicyRule{approveAll}, v1.Guardrail{Name: "e", Expression: "environment == 'production'", Level: v1.GuardrailEscalate, Message: "prod"}),
			outcome: v1.OutcomeRequireApproval, approvals: 1, matched: []string{"approve-everything: AutoApprove"}, reason: "e: prod"},
		{name: "guardrail block", pol: policyOf([]v1.PolicyRule{approveAll}, v1.Guardrail{Name: "b", Expression: "blastRadius.addresses > 255", Level: v1.GuardrailBlock, Message: "too wide"}),
			outcome: v1.OutcomeReject, matched: []string{"approve-everything: AutoApprove"}, reason: "b: too wide"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Compile(tt.pol)
			if err != nil {
				t.Fatal(err)
			}
			got := c.Evaluate(Input{Request: request(v1.EnvironmentProduction, ""), Plan: mkPlan(naclDeny())})
			if got.Outcome != tt.outcome || got.Approvals != tt.approvals || !reflect.DeepEqual(got.Groups, tt.groups) || !reflect.DeepEqual(got.MatchedRules, tt.matched) {
				t.Fatalf("Evaluate = %+v\nwant outcome %s approvals %d groups %v matched %v", got, tt.outcome, tt.approvals, tt.groups, tt.matched)
			}
			if tt.reason != "" && !hasPrefix(got.Reasons, tt.reason) {
				t.Fatalf("reasons %q lack %q", got.Reasons, tt.reason)
			}
		})
	}
}

func TestPolicy_Compile(t *testing.T) {
	tests := []struct {
		name string
		pol  *v1.ChangePolicy
		err  string
	}{
		{"default sample", nil, ""},
		{"syntax error", policyOf([]v1.PolicyRule{{Name: "broken", Match: "plan.actions.exists(a, ", Outcome: v1.OutcomeAutoApprove}}), `rule "broken": match does not compile`},
		{"unknown variable", policyOf([]v1.PolicyRule{{Name: "typo", Match: "enviroment == 'production'", Outcome: v1.OutcomeAutoApprove}}), `undeclared reference to 'enviroment'`},
		{"not a bool", policyOf([]v1.PolicyRule{{Name: "num", Match: "cost + 1.0", Outcome: v1.OutcomeAutoApprove}}), `want bool`},
		{"bad outcome", policyOf([]v1.PolicyRule{{Name: "o", Match: "true", Outcome: "Maybe"}}), `outcome "Maybe"`},
		{"bad guardrail", policyOf([]v1.PolicyRule{approveAll}, v1.Guardrail{Name: "g", Expression: "severity ==", Level: v1.GuardrailBlock}), `guardrail "g": expression does not compile`},
		{"nil policy", &v1.ChangePolicy{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := tt.pol
			if pol == nil {
				pol = defaultPolicy(t)
			}
			_, err := Compile(pol)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Compile error = %v, want it to contain %q", err, tt.err)
			}
		})
	}
	if _, err := Compile(nil); err == nil {
		t.Fatal("Compile(nil) succeeded")
	}
}

func TestPolicy_Version(t *testing.T) {
	a := defaultPolicy(t)
	b := defaultPolicy(t)
	if Version(a) != Version(b) {
		t.Fatal("equal policies have different versions")
	}
	b.Spec.Rules[0].Match += " && true"
	if Version(a) == Version(b) {
		t.Fatal("a rule change did not change the version")
	}
}

func TestRequester(t *testing.T) {
	mk := func(ann, status string) *v1.NetworkChangeRequest {
		r := &v1.NetworkChangeRequest{}
		if ann != "" {
			r.Annotations = map[string]string{v1.AnnotationRequester: ann}
		}
		r.Status.Requester = status
		return r
	}
	cases := []struct {
		name string
		req  *v1.NetworkChangeRequest
		want string
	}{
		{"annotation and status agree", mk("alice", "alice"), "alice"},
		{"status not copied yet", mk("alice", ""), "alice"},
		{"status rewritten by a status writer", mk("alice", "mallory"), ""},
		{"no annotation", mk("", "alice"), ""},
		{"neither", mk("", ""), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Requester(tc.req); got != tc.want {
				t.Fatalf("Requester = %q, want %q", got, tc.want)
			}
		})
	}
}
