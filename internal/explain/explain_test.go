package explain

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/audit"
)

var t0 = time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(d)); return &t }

const digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

// succeededRequest is a request the planner, the auditor (after two human
// approvals) and the executor all finished with.
func succeededRequest() (*v1.NetworkChangeRequest, *v1.ChangeVerdict) {
	req := &v1.NetworkChangeRequest{
		Spec: v1.NetworkChangeRequestSpec{
			Intent:      "Block 203.0.113.0/24 from the payments VPC, it is scanning us",
			Environment: v1.EnvironmentProduction,
			Severity:    v1.SeverityHigh,
			Source:      &v1.Source{Type: v1.SourceGuardDuty, Event: `{"type":"Recon:EC2/Portscan"}`},
			Targets:     &v1.Targets{Region: "eu-west-1", CIDRs: []string{"203.0.113.0/24"}, ResourceIDs: []string{"acl-0123456789abcdef0"}},
		},
	}
	req.Name, req.Namespace, req.UID, req.Generation = "block-scanner", "payments", "uid-42", 1
	req.CreationTimestamp = metav1.NewTime(t0)
	req.Status = v1.NetworkChangeRequestStatus{
		Phase:     v1.PhaseSucceeded,
		Message:   "2 actions applied and verified",
		Requester: "alice@example.com",
		Decision:  v1.DecisionApprove,
		Plan: &v1.Plan{
			Actions: []v1.Action{
				{Type: v1.ActionNetworkACLEntryAdd, Reason: "deny the scanning range at the subnet edge",
					NetworkACLEntry: &v1.NetworkACLEntryParams{NetworkACLID: "acl-0123456789abcdef0", RuleNumber: 90, Direction: v1.DirectionIngress,
						RuleAction: v1.RuleActionDeny, Protocol: v1.ProtocolAll, CIDR: "203.0.113.0/24"}},
				{Type: v1.ActionPrefixListEntryAdd,
					PrefixListEntry: &v1.PrefixListEntryParams{PrefixListID: "pl-0123456789abcdef0", CIDR: "203.0.113.0/24", Description: "scanner"}},
			},
			Rationale:      "GuardDuty reports a port scan from 203.0.113.0/24; deny it in the NACL and add it to the block list.",
			Region:         "eu-west-1",
			AccountID:      "123456789012",
			Snapshot:       []v1.ResourceSnapshot{{ID: "acl-0123456789abcdef0", Kind: "NetworkACL", Environment: "production", State: "{}"}},
			MonthlyCostUSD: "0.00",
			BlastRadius:    v1.BlastRadius{Resources: []string{"acl-0123456789abcdef0", "pl-0123456789abcdef0"}, Environments: []string{"production"}, WidestCIDR: "203.0.113.0/24", Addresses: 256},
			Provenance:     v1.Provenance{Planner: "llm", Provider: "openai", Model: "gpt-x", PromptSHA256: "ab12", ResponseSHA256: "cd34", PromptTokens: 900, CompletionTokens: 120, Attempts: 1},
			Digest:         digest,
			Generation:     1,
			Trigger:        "initial",
			CreatedAt:      at(2 * time.Second),
		},
		Verdict: &v1.SignedVerdict{
			Statement: v1.VerdictStatement{Cluster: "control", Namespace: "payments", Name: "block-scanner", RequestUID: "uid-42", Generation: 1,
				PlanDigest: digest, Decision: v1.DecisionApprove, PolicyVersion: "prod-policy@v7", ExpiresAt: metav1.NewTime(t0.Add(time.Hour)),
				Nonce: "n0nce", KeyID: "ed25519:0011223344556677"},
			Signature:  "c2ln",
			VerdictRef: "block-scanner-1",
		},
		Execution: &v1.Execution{
			PlanDigest: digest, VerdictNonce: "n0nce", StartedAt: at(5 * time.Minute), CompletedAt: at(5*time.Minute + 20*time.Second),
			Journal: []v1.JournalEntry{
				{Index: 0, Type: v1.ActionNetworkACLEntryAdd, State: v1.JournalVerified, Attempts: 1, Message: "entry 90 present", LastTransitionTime: at(5*time.Minute + 10*time.Second)},
				{Index: 1, Type: v1.ActionPrefixListEntryAdd, State: v1.JournalVerified, Attempts: 1, Message: "entry present", LastTransitionTime: at(5*time.Minute + 20*time.Second)},
			},
		},
		Conditions: []metav1.Condition{
			{Type: v1.ConditionPlanned, Status: metav1.ConditionTrue, Reason: v1.ReasonPlanReady, LastTransitionTime: *at(2 * time.Second)},
			{Type: v1.ConditionApproved, Status: metav1.ConditionTrue, Reason: v1.ReasonHumanApproved, Message: "approved by bob and carol", LastTransitionTime: *at(4 * time.Minute)},
			{Type: v1.ConditionApplied, Status: metav1.ConditionTrue, Reason: v1.ReasonApplied, LastTransitionTime: *at(5*time.Minute + 15*time.Second)},
			{Type: v1.ConditionVerified, Status: metav1.ConditionTrue, Reason: v1.ReasonVerified, Message: "2/2 actions verified", LastTransitionTime: *at(5*time.Minute + 20*time.Second)},
			{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonVerified, LastTransitionTime: *at(5*time.Minute + 20*time.Second)},
		},
	}
	cv := &v1.ChangeVerdict{Spec: v1.ChangeVerdictSpec{
		RequestRef:        v1.RequestReference{Cluster: "control", Namespace: "payments", Name: "block-scanner", UID: "uid-42", Generation: 1},
		Requester:         "alice@example.com",
		PlanDigest:        digest,
		Decision:          v1.DecisionApprove,
		ApprovalPath:      v1.ApprovalPathHuman,
		Reason:            "production NACL change needs two approvers",
		RequiredApprovals: 2,
		RequiredGroups:    []string{"netsec"},
		Approvers:         []string{"bob@example.com", "carol@example.com"},
		PolicyVersion:     "prod-policy@v7",
		Findings:          v1.Findings{IntentMatch: true, PolicyRules: []string{"prod-nacl: RequireApproval(2)"}},
	}}
	cv.Name = "block-scanner-1"
	return req, cv
}

// trail writes the request's history to a file sink and returns every record.
func trail(t *testing.T) []audit.Record {
	t.Helper()
	sink, err := audit.NewFileSink(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref := audit.RequestRef{Cluster: "control", Namespace: "payments", Name: "block-scanner", UID: "uid-42", Generation: 1}
	evs := []audit.Event{
		{Stream: "control/payments", Type: audit.EventPlanned, Actor: "planner", Request: ref, Data: json.RawMessage(`{"digest":"` + digest + `"}`), Time: t0.Add(2 * time.Second)},
		{Stream: "auditor/control/payments", Type: audit.EventVerdict, Actor: "auditor", Request: ref, Data: json.RawMessage(`{"decision":"Escalate"}`), Time: t0.Add(3 * time.Second)},
		{Stream: "auditor/control/payments", Type: audit.EventHumanApproval, Actor: "bob@example.com", Request: ref, Time: t0.Add(3 * time.Minute)},
		{Stream: "control/payments", Type: audit.EventActionIntent, Actor: "executor", Request: ref, Data: json.RawMessage(`{"index":0}`), Time: t0.Add(5 * time.Minute)},
		{Stream: "control/payments", Type: audit.EventActionVerified, Actor: "executor", Request: ref, Data: json.RawMessage(`{"index":1}`), Time: t0.Add(5*time.Minute + 20*time.Second)},
		{Stream: "control/payments", Type: audit.EventPlanned, Actor: "planner", Request: audit.RequestRef{Namespace: "payments", Name: "other", UID: "uid-7"}, Time: t0.Add(time.Hour)},
	}
	for _, ev := range evs {
		if err := sink.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := audit.ReadAll(ctx, sink)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestReport_succeeded(t *testing.T) {
	req, cv := succeededRequest()
	e := Report(req, cv, trail(t))
	want := []string{
		// what
		"Add network ACL entry #90 to acl-0123456789abcdef0 that denies inbound traffic of every protocol from 203.0.113.0/24",
		"deny the scanning range at the subnet edge",
		"Add 203.0.113.0/24 to managed prefix list pl-0123456789abcdef0",
		"region eu-west-1, account 123456789012",
		// why
		"Block 203.0.113.0/24 from the payments VPC, it is scanning us",
		"guardduty", "Recon:EC2/Portscan",
		"GuardDuty reports a port scan",
		"openai model gpt-x",
		// impact
		"acl-0123456789abcdef0, pl-0123456789abcdef0", "production", "203.0.113.0/24 (256 addresses)", "$0.00 per month",
		// who
		"alice@example.com",
		// decision
		"Approve under policy prod-policy@v7, signed by key ed25519:0011223344556677",
		"2026-11-03T10:00:00Z", // verdict expiry
		"Human", "bob@example.com, carol@example.com", "2 distinct approver(s), at least one in netsec",
		"prod-nacl: RequireApproval(2)",
		// execution
		"Verified", "2/2 actions verified", "entry 90 present",
		// rollback, in reverse order
		"Remove 203.0.113.0/24 from managed prefix list pl-0123456789abcdef0",
		"Remove network ACL entry #90 from acl-0123456789abcdef0",
		// audit
		"hash chains intact (6 records in 2 streams",
		"HumanApproval", "ActionIntent",
		// next steps
		"The change is in effect", "deletionPolicy Retain",
	}
	for _, format := range []string{"text", "markdown"} {
		out := e.Text()
		if format == "markdown" {
			out = unescapeMD(e.Markdown())
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s report lacks %q", format, w)
			}
		}
		if strings.Contains(out, "uid-7") || strings.Contains(out, "other") && strings.Contains(out, "Planned  planner  payments/other") {
			t.Errorf("%s report lists another request's audit records", format)
		}
		if i, j := strings.Index(out, "undo 2"), strings.Index(out, "undo 1"); i < 0 || j < 0 || i > j {
			t.Errorf("%s report does not list the rollback in reverse order", format)
		}
	}
	md := e.Markdown()
	for _, w := range []string{"# NetworkChangeRequest payments/block-scanner", "\n## What\n", "\n## Rollback\n", "\n## Next steps\n", "| Stream | Seq | Time | Event | Actor | Details |", "| --- |"} {
		if !strings.Contains(md, w) {
			t.Errorf("markdown lacks %q", w)
		}
	}
	if strings.Count(md, "| control/payments |")+strings.Count(md, "| auditor/control/payments |") != 5 {
		t.Errorf("markdown audit table should have 5 rows for this request:\n%s", md)
	}
}

// containsUnescaped reports whether sub occurs in md without a backslash before it.
func containsUnescaped(md, sub string) bool {
	for i := 0; ; {
		j := strings.Index(md[i:], sub)
		if j < 0 {
			return false
		}
		if k := i + j; k == 0 || md[k-1] != '\\' {
			return true
		}
		i += j + 1
	}
}

// unescapeMD removes markdown backslash escapes so tests can search for plain text.
func unescapeMD(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestReport_untrustedText(t *testing.T) {
	req, _ := succeededRequest()
	req.Spec.Intent = "block 203.0.113.0/24\x1b[2J\x1b]0;pwned\x07\n# Approved by CISO\n[click](http://evil.example) <img src=x onerror=alert(1)> www.evil.example \u202egnp.exe"
	e := Report(req, nil, nil)
	txt := e.Text()
	if strings.ContainsAny(txt, "\x1b\x07\u202e") {
		t.Fatal("text report passes terminal control characters through")
	}
	if strings.Contains(txt, "\n# Approved") {
		t.Fatal("text report lets the intent start a new line")
	}
	md := e.Markdown()
	for _, bad := range []string{"\n# Approved", "[click](", "<img", "http://", "www.evil", "\x1b"} {
		if containsUnescaped(md, bad) {
			t.Fatalf("markdown report contains %q from untrusted text", bad)
		}
	}
	if !strings.Contains(unescapeMD(md), "block 203.0.113.0/24") {
		t.Fatal("escaping lost the intent's text")
	}
	if !strings.Contains(txt, "not loaded (pass the auditor cluster's kubeconfig") || !strings.Contains(txt, "No audit records given") {
		t.Fatal("report does not say which sources are missing")
	}
}

func TestReport_nextSteps(t *testing.T) {
	tests := []struct {
		phase v1.Phase
		want  string
	}{
		{"", "Wait for the planner"},
		{v1.PhaseAwaitingVerdict, "Wait for the auditor"},
		{v1.PhaseAwaitingHumanApproval, "Needs 2 approval(s)"},
		{v1.PhaseVetoed, "file a new request"},
		{v1.PhaseFailed, "netchange.io/replan"},
		{v1.PhaseExpired, "verdict expired"},
		{v1.PhaseRolledBack, "nothing of this change is in effect"},
	}
	for _, tt := range tests {
		t.Run(string(tt.phase), func(t *testing.T) {
			req, cv := succeededRequest()
			req.Status.Phase = tt.phase
			if out := Report(req, cv, nil).Text(); !strings.Contains(out, tt.want) {
				t.Fatalf("next steps for %q lack %q:\n%s", tt.phase, tt.want, out)
			}
		})
	}
}

func TestActionInWords(t *testing.T) {
	ports := &v1.PortRange{From: 443, To: 443}
	tests := []struct {
		a    v1.Action
		want string
	}{
		{v1.Action{Type: v1.ActionSecurityGroupRuleAuthorize, SecurityGroupRule: &v1.SecurityGroupRuleParams{GroupID: "sg-1", Direction: v1.DirectionIngress, Protocol: v1.ProtocolTCP, Ports: ports, CIDR: "10.0.0.0/8"}},
			"Allow inbound TCP port 443 from 10.0.0.0/8 on security group sg-1"},
		{v1.Action{Type: v1.ActionSecurityGroupRuleRevoke, SecurityGroupRule: &v1.SecurityGroupRuleParams{GroupID: "sg-1", Direction: v1.DirectionEgress, Protocol: v1.ProtocolUDP, Ports: &v1.PortRange{From: 1000, To: 2000}, CIDR: "0.0.0.0/0"}},
			"Stop allowing outbound UDP ports 1000-2000 to 0.0.0.0/0 on security group sg-1"},
		{v1.Action{Type: v1.ActionNetworkACLEntryRemove, NetworkACLEntry: &v1.NetworkACLEntryParams{NetworkACLID: "acl-1", RuleNumber: 7, Direction: v1.DirectionEgress, RuleAction: v1.RuleActionAllow, Protocol: v1.ProtocolTCP, Ports: ports, CIDR: "10.1.0.0/16"}},
			"Remove network ACL entry #7 from acl-1 that allows outbound TCP port 443 to 10.1.0.0/16"},
		{v1.Action{Type: v1.ActionRouteCreate, Route: &v1.RouteParams{RouteTableID: "rtb-1", DestinationCIDR: "10.9.0.0/16", TargetType: v1.RouteTargetNATGateway, TargetID: "nat-1"}},
			"Create a route in rtb-1 sending 10.9.0.0/16 to natGateway nat-1"},
		{v1.Action{Type: v1.ActionRouteReplace, Route: &v1.RouteParams{RouteTableID: "rtb-1", DestinationCIDR: "0.0.0.0/0", TargetType: v1.RouteTargetGateway, TargetID: "igw-2", PreviousTargetType: v1.RouteTargetGateway, PreviousTargetID: "igw-1"}},
			"Point the route for 0.0.0.0/0 in rtb-1 at gateway igw-2 (was gateway igw-1)"},
		{v1.Action{Type: v1.ActionRouteDelete, Route: &v1.RouteParams{RouteTableID: "rtb-1", DestinationCIDR: "10.9.0.0/16"}},
			"Delete the route for 10.9.0.0/16 from rtb-1 (it pointed at an unrecorded target)"},
		{v1.Action{Type: v1.ActionPrefixListEntryRemove, PrefixListEntry: &v1.PrefixListEntryParams{PrefixListID: "pl-1", CIDR: "198.51.100.0/24"}},
			"Remove 198.51.100.0/24 from managed prefix list pl-1"},
		{v1.Action{Type: v1.ActionInstanceQuarantine, Quarantine: &v1.QuarantineParams{InstanceID: "i-1", VPCID: "vpc-1", OriginalGroupIDs: []string{"sg-a", "sg-b"}, ForensicsCIDR: "10.99.0.0/24"}},
			"Quarantine instance i-1: replace its security groups (sg-a, sg-b) with a quarantine group in vpc-1 that allows no traffic except to the forensics network 10.99.0.0/24"},
		{v1.Action{Type: v1.ActionInstanceRelease, Quarantine: &v1.QuarantineParams{InstanceID: "i-1", VPCID: "vpc-1", OriginalGroupIDs: []string{"sg-a"}}},
			"Release instance i-1 from quarantine: restore its security groups sg-a"},
		{v1.Action{Type: v1.ActionTagsAdd, Tags: &v1.TagsParams{ResourceID: "i-1", Tags: []v1.Tag{{Key: "incident", Value: "42"}}}},
			"Tag i-1 with incident=42"},
		{v1.Action{Type: v1.ActionTagsRemove, Tags: &v1.TagsParams{ResourceID: "i-1", Tags: []v1.Tag{{Key: "incident", Value: "42"}}}},
			"Remove the tags incident=42 from i-1"},
		{v1.Action{Type: v1.ActionWAFIPSetAdd, WAFIPSet: &v1.WAFIPSetParams{Name: "blocklist", ID: "x", Scope: v1.WAFScopeRegional, Addresses: []string{"192.0.2.1/32"}}},
			"Add 192.0.2.1/32 to the regional WAF IP set blocklist"},
		{v1.Action{Type: v1.ActionWAFIPSetRemove, WAFIPSet: &v1.WAFIPSetParams{Name: "blocklist", ID: "x", Scope: v1.WAFScopeCloudFront, Addresses: []string{"192.0.2.1/32"}}},
			"Remove 192.0.2.1/32 from the cloudfront WAF IP set blocklist"},
		{v1.Action{Type: v1.ActionTagsAdd}, "TagsAdd (parameters missing or unknown action type)"},
	}
	for _, tt := range tests {
		t.Run(string(tt.a.Type), func(t *testing.T) {
			if got := ActionInWords(tt.a); got != tt.want {
				t.Fatalf("ActionInWords = %q\n                want %q", got, tt.want)
			}
		})
	}
}
