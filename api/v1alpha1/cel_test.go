package v1alpha1_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/test/testenv"
)

func validRequest(name string) *v1.NetworkChangeRequest {
	return &v1.NetworkChangeRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.NetworkChangeRequestSpec{
			Intent:      "block 203.0.113.0/24 on acl-0123456789abcdef0",
			Environment: v1.EnvironmentProduction,
			Targets: &v1.Targets{
				Region:      "eu-west-1",
				CIDRs:       []string{"203.0.113.0/24"},
				ResourceIDs: []string{"acl-0123456789abcdef0"},
			},
		},
	}
}

// TestCRD_validation creates one accepted and one rejected object per CEL rule
// (and per format check) against the generated CRDs in a real kube-apiserver.
func TestCRD_validation(t *testing.T) {
	cl := testenv.StartCluster(t)
	c := cl.Client
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	later := metav1.NewTime(now.Add(time.Hour))

	cases := []struct {
		name    string
		obj     client.Object
		wantErr string // empty: must be accepted
	}{
		{"request valid", validRequest("ok"), ""},
		{"request blank intent", func() client.Object { r := validRequest("blank"); r.Spec.Intent = "   "; return r }(), "intent must not be blank"},
		{"request empty intent", func() client.Object { r := validRequest("empty"); r.Spec.Intent = ""; return r }(), "spec.intent"},
		{"request malformed cidr", func() client.Object {
			r := validRequest("badcidr")
			r.Spec.Targets.CIDRs = []string{"203.0.113.0/33"}
			return r
		}(), "targets.cidrs: every entry must be a CIDR block"},
		{"request malformed resource id", func() client.Object {
			r := validRequest("badid")
			r.Spec.Targets.ResourceIDs = []string{"acl-xyz"}
			return r
		}(), "spec.targets.resourceIDs[0]"},
		{"request malformed region", func() client.Object {
			r := validRequest("badregion")
			r.Spec.Targets.Region = "moon-base-1"
			return r
		}(), "spec.targets.region"},
		{"request port range inverted", func() client.Object {
			r := validRequest("badports")
			r.Spec.Targets.Ports = []v1.PortRange{{From: 444, To: 443}}
			return r
		}(), "to must be greater than or equal to from"},
		{"request port out of range", func() client.Object {
			r := validRequest("bigport")
			r.Spec.Targets.Ports = []v1.PortRange{{From: 1, To: 70000}}
			return r
		}(), "spec.targets.ports[0].to"},
		{"request port range ok", func() client.Object {
			r := validRequest("portsok")
			r.Spec.Targets.Ports = []v1.PortRange{{From: 443, To: 443}}
			return r
		}(), ""},
		{"request finding without event", func() client.Object {
			r := validRequest("noevent")
			r.Spec.Source = &v1.Source{Type: v1.SourceGuardDuty}
			return r
		}(), "source.event is required"},
		{"request finding with event", func() client.Object {
			r := validRequest("event")
			r.Spec.Source = &v1.Source{Type: v1.SourceGuardDuty, Event: `{"type":"x"}`}
			return r
		}(), ""},
		{"freeze end after start", &v1.ChangeFreeze{
			ObjectMeta: metav1.ObjectMeta{Name: "ok"},
			Spec:       v1.ChangeFreezeSpec{Reason: "incident", Author: "alice", Start: &now, End: &later},
		}, ""},
		{"freeze scope malformed region", &v1.ChangeFreeze{
			ObjectMeta: metav1.ObjectMeta{Name: "badregion"},
			Spec:       v1.ChangeFreezeSpec{Reason: "incident", Author: "alice", Scope: v1.FreezeScope{Regions: []string{"EU_WEST_1"}}},
		}, "spec.scope.regions[0]"},
		{"freeze scope ok", &v1.ChangeFreeze{
			ObjectMeta: metav1.ObjectMeta{Name: "scoped"},
			Spec: v1.ChangeFreezeSpec{Reason: "incident", Author: "alice",
				Scope: v1.FreezeScope{Regions: []string{"eu-west-1"}, Environments: []v1.Environment{v1.EnvironmentProduction}}},
		}, ""},
		{"freeze end before start", &v1.ChangeFreeze{
			ObjectMeta: metav1.ObjectMeta{Name: "bad"},
			Spec:       v1.ChangeFreezeSpec{Reason: "incident", Author: "alice", Start: &later, End: &now},
		}, "end must be after start"},
		{"policy quorum ok", &v1.ChangePolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "ok", Namespace: "default"},
			Spec: v1.ChangePolicySpec{Rules: []v1.PolicyRule{
				{Name: "prod", Match: "environment == 'production'", Outcome: v1.OutcomeRequireApproval, Approvals: 2},
			}},
		}, ""},
		{"policy quorum zero", &v1.ChangePolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "default"},
			Spec: v1.ChangePolicySpec{Rules: []v1.PolicyRule{
				{Name: "prod", Match: "environment == 'production'", Outcome: v1.OutcomeRequireApproval},
			}},
		}, "approvals (the quorum) must be at least 1"},
		{"approval bad digest", &v1.ChangeApproval{
			ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "default"},
			Spec:       v1.ChangeApprovalSpec{VerdictName: "v", PlanDigest: "md5:abc", Decision: v1.ApprovalApprove, Approver: "bob"},
		}, "spec.planDigest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Create(t.Context(), tc.obj)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("want accepted, got %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("want refused with %q, got accepted", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("want error containing %q, got %v", tc.wantErr, err)
			}
		})
	}

	t.Run("request spec immutable", func(t *testing.T) {
		r := validRequest("immutable")
		if err := c.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		// Metadata may change: the rule guards the spec only.
		r.Labels = map[string]string{"team": "netops"}
		if err := c.Update(t.Context(), r); err != nil {
			t.Fatalf("metadata-only update refused: %v", err)
		}
		r.Spec.Intent = "block 198.51.100.0/24 instead"
		err := c.Update(t.Context(), r)
		if err == nil || !strings.Contains(err.Error(), "spec is immutable: create a new NetworkChangeRequest") {
			t.Fatalf("want immutability error, got %v", err)
		}
	})
	t.Run("verdict final once decided", func(t *testing.T) {
		digest := "sha256:" + strings.Repeat("b", 64)
		cv := &v1.ChangeVerdict{
			ObjectMeta: metav1.ObjectMeta{Name: "esc", Namespace: "default"},
			Spec: v1.ChangeVerdictSpec{
				RequestRef: v1.RequestReference{Cluster: "control", Namespace: "default", Name: "r", UID: "u", Generation: 1},
				PlanDigest: digest, Decision: v1.DecisionEscalate, ApprovalPath: v1.ApprovalPathPolicy, PolicyVersion: "default@1/abc",
			},
		}
		if err := c.Create(t.Context(), cv); err != nil {
			t.Fatal(err)
		}
		// An escalated verdict may become a decision (humans approved it) ...
		cv.Spec.Decision = v1.DecisionApprove
		cv.Spec.ApprovalPath = v1.ApprovalPathHuman
		if err := c.Update(t.Context(), cv); err != nil {
			t.Fatalf("escalate → approve refused: %v", err)
		}
		// ... but a decided verdict never changes again.
		cv.Spec.Decision = v1.DecisionVeto
		if err := c.Update(t.Context(), cv); err == nil || !strings.Contains(err.Error(), "a final verdict is immutable") {
			t.Fatalf("want immutability error, got %v", err)
		}
	})
	t.Run("plan actions validated on status writes", func(t *testing.T) {
		r := validRequest("planports")
		if err := c.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		withPorts := func(from, to int32) *v1.Plan {
			return &v1.Plan{Region: "eu-west-1", Generation: 1, Digest: "sha256:" + strings.Repeat("c", 64),
				Provenance: v1.Provenance{Planner: "rules"},
				Actions: []v1.Action{{Type: v1.ActionSecurityGroupRuleAuthorize, SecurityGroupRule: &v1.SecurityGroupRuleParams{
					GroupID: "sg-0123456789abcdef0", Direction: v1.DirectionIngress, Protocol: v1.ProtocolTCP,
					Ports: &v1.PortRange{From: from, To: to}, CIDR: "10.0.0.0/8"}}}}
		}
		r.Status.Plan = withPorts(444, 443)
		if err := c.Status().Update(t.Context(), r); err == nil || !strings.Contains(err.Error(), "to must be greater than or equal to from") {
			t.Fatalf("want the inverted port range refused, got %v", err)
		}
		r.Status.Plan = withPorts(443, 443)
		if err := c.Status().Update(t.Context(), r); err != nil {
			t.Fatalf("valid plan refused: %v", err)
		}
	})
	t.Run("approval immutable", func(t *testing.T) {
		a := &v1.ChangeApproval{
			ObjectMeta: metav1.ObjectMeta{Name: "imm", Namespace: "default"},
			Spec: v1.ChangeApprovalSpec{VerdictName: "v", Decision: v1.ApprovalApprove, Approver: "bob",
				PlanDigest: "sha256:" + strings.Repeat("a", 64)},
		}
		if err := c.Create(t.Context(), a); err != nil {
			t.Fatal(err)
		}
		a.Labels = map[string]string{"ticket": "CHG-1"}
		if err := c.Update(t.Context(), a); err != nil {
			t.Fatalf("metadata-only update refused: %v", err)
		}
		a.Spec.Decision = v1.ApprovalReject
		if err := c.Update(t.Context(), a); err == nil || !strings.Contains(err.Error(), "an approval is immutable") {
			t.Fatalf("want immutability error, got %v", err)
		}
	})
}
