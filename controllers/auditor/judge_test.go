package auditor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/awscontext"
	"github.com/netchange-io/netchange/internal/plan"
	"github.com/netchange-io/netchange/internal/planner/rules"
	"github.com/netchange-io/netchange/internal/policy"
	"github.com/netchange-io/netchange/test/estate"
	"github.com/netchange-io/netchange/test/testenv"
)

// The auditor judges honest plans of the real rules planner (against a seeded
// moto estate) as the default policy intends, and vetoes an extra action.
func TestJudge_RulesPlannerPlans(t *testing.T) {
	e, cfg := estate.StartSeeded(t)
	ctx := t.Context()
	pl := rules.New(awscontext.NewFromConfig(cfg), e.Region)
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "changepolicy-default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pol := &v1.ChangePolicy{}
	if err := yaml.UnmarshalStrict(data, pol); err != nil {
		t.Fatal(err)
	}
	compiled, err := policy.Compile(pol)
	if err != nil {
		t.Fatal(err)
	}
	gd := func(sev float64) v1.NetworkChangeRequestSpec {
		return v1.NetworkChangeRequestSpec{Intent: "GuardDuty finding CryptoCurrency:EC2/BitcoinTool.B!DNS on " + e.CryptoInstance + ": isolate the instance",
			Environment: v1.EnvironmentProduction, Source: &v1.Source{Type: v1.SourceGuardDuty, Event: e.GuardDutyFinding(e.CryptoInstance, sev)}}
	}
	tests := []struct {
		name      string
		spec      v1.NetworkChangeRequestSpec
		extra     *v1.Action
		decision  v1.Decision
		approvals int32
		path      v1.ApprovalPath
	}{
		{name: "block a /24 on the production subnets", spec: v1.NetworkChangeRequestSpec{Environment: v1.EnvironmentProduction,
			Intent: "Block 203.0.113.0/24 from the production subnets: malicious scanner seen in VPC flow logs", Targets: &v1.Targets{CIDRs: []string{"203.0.113.0/24"}}},
			decision: v1.DecisionApprove, path: v1.ApprovalPathPolicy},
		{name: "guardduty severity 8", spec: gd(8), decision: v1.DecisionApprove, path: v1.ApprovalPathPolicy},
		{name: "guardduty severity 5", spec: gd(5), decision: v1.DecisionEscalate, approvals: 1, path: v1.ApprovalPathPolicy},
		{name: "allow 443 to payments in development", spec: v1.NetworkChangeRequestSpec{Environment: v1.EnvironmentDevelopment,
			Intent: "Allow TCP 443 from 10.20.0.0/16 to the payments security group"}, decision: v1.DecisionEscalate, approvals: 1, path: v1.ApprovalPathPolicy},
		{name: "production route change", spec: v1.NetworkChangeRequestSpec{Environment: v1.EnvironmentProduction,
			Intent: fmt.Sprintf("Route 10.50.0.0/16 via %s in %s: send partner traffic through the inspection appliance", e.ProdENI, e.ProdRouteTable)},
			decision: v1.DecisionEscalate, approvals: 2, path: v1.ApprovalPathPolicy},
		{name: "block plus an extra internet ingress on prod-web", spec: v1.NetworkChangeRequestSpec{Environment: v1.EnvironmentProduction,
			Intent: "Block 203.0.113.0/24 from the production subnets", Targets: &v1.Targets{CIDRs: []string{"203.0.113.0/24"}}},
			extra: &v1.Action{Type: v1.ActionSecurityGroupRuleAuthorize, SecurityGroupRule: &v1.SecurityGroupRuleParams{GroupID: e.ProdWebSG,
				Direction: v1.DirectionIngress, Protocol: v1.ProtocolTCP, Ports: &v1.PortRange{From: 22, To: 22}, CIDR: "0.0.0.0/0"}},
			decision: v1.DecisionVeto, path: v1.ApprovalPathScopeCheck},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &v1.NetworkChangeRequest{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", UID: types.UID(fmt.Sprint("uid-", i)), Generation: 1}, Spec: tt.spec}
			p, err := pl.Plan(ctx, req)
			if err != nil {
				t.Fatalf("rules planner: %v", err)
			}
			if tt.extra != nil {
				p.Actions = append(p.Actions, *tt.extra)
				snap, err := awscontext.NewFromConfig(cfg).Snapshot(ctx, p.Actions)
				if err != nil {
					t.Fatal(err)
				}
				p.Snapshot = snap
			}
			p.Generation = 1
			if err := plan.Seal(req, p); err != nil {
				t.Fatal(err)
			}
			j := judge(judgeInput{Req: req, Plan: p, Policy: compiled, AllowedRegions: []string{e.Region}})
			if j.Decision != tt.decision || j.Approvals != tt.approvals || j.Path != tt.path {
				t.Fatalf("judge = %s (%d approvals, path %s): %s\nscope creep: %q\nplan: %+v", j.Decision, j.Approvals, j.Path, j.Reason, j.Findings.ScopeCreep, p.Actions)
			}
			if tt.extra != nil && !strings.Contains(j.Reason, e.ProdWebSG) {
				t.Fatalf("veto reason %q does not name %s", j.Reason, e.ProdWebSG)
			}
		})
	}
}
