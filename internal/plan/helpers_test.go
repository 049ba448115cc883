package plan

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

const (
	testSG     = "sg-0123456789abcdef0"
	testSG2    = "sg-89abcdef"
	testACL    = "acl-0123456789abcdef0"
	testRTB    = "rtb-0123456789abcdef0"
	testPL     = "pl-0123456789abcdef0"
	testInst   = "i-0123456789abcdef0"
	testVPC    = "vpc-0123456789abcdef0"
	testIGW    = "igw-0123456789abcdef0"
	testNAT    = "nat-0123456789abcdef0"
	testWAFID  = "a1b2c3d4-5678-90ab-cdef-0123456789ab"
	testRegion = "eu-west-1"
)

func sgRule(t v1.ActionType, mut ...func(*v1.SecurityGroupRuleParams)) v1.Action {
	p := &v1.SecurityGroupRuleParams{GroupID: testSG, Direction: v1.DirectionIngress, Protocol: v1.ProtocolTCP,
		Ports: &v1.PortRange{From: 443, To: 443}, CIDR: "203.0.113.0/24", Description: "https from partner"}
	for _, m := range mut {
		m(p)
	}
	return v1.Action{Type: t, Reason: "requested", SecurityGroupRule: p}
}

func naclEntry(t v1.ActionType, mut ...func(*v1.NetworkACLEntryParams)) v1.Action {
	p := &v1.NetworkACLEntryParams{NetworkACLID: testACL, RuleNumber: 90, Direction: v1.DirectionIngress,
		RuleAction: v1.RuleActionDeny, Protocol: v1.ProtocolAll, CIDR: "198.51.100.0/24"}
	for _, m := range mut {
		m(p)
	}
	return v1.Action{Type: t, NetworkACLEntry: p}
}

func route(t v1.ActionType, mut ...func(*v1.RouteParams)) v1.Action {
	p := &v1.RouteParams{RouteTableID: testRTB, DestinationCIDR: "10.20.0.0/16"}
	switch t {
	case v1.ActionRouteCreate:
		p.TargetType, p.TargetID = v1.RouteTargetNATGateway, testNAT
	case v1.ActionRouteReplace:
		p.TargetType, p.TargetID = v1.RouteTargetNATGateway, testNAT
		p.PreviousTargetType, p.PreviousTargetID = v1.RouteTargetGateway, testIGW
	case v1.ActionRouteDelete:
		p.PreviousTargetType, p.PreviousTargetID = v1.RouteTargetGateway, testIGW
	}
	for _, m := range mut {
		m(p)
	}
	return v1.Action{Type: t, Route: p}
}

func prefixEntry(t v1.ActionType, mut ...func(*v1.PrefixListEntryParams)) v1.Action {
	p := &v1.PrefixListEntryParams{PrefixListID: testPL, CIDR: "192.0.2.0/24", Description: "blocked scanner"}
	for _, m := range mut {
		m(p)
	}
	return v1.Action{Type: t, PrefixListEntry: p}
}

func quarantine(t v1.ActionType, mut ...func(*v1.QuarantineParams)) v1.Action {
	p := &v1.QuarantineParams{InstanceID: testInst, VPCID: testVPC, OriginalGroupIDs: []string{testSG, testSG2}, ForensicsCIDR: "10.99.0.10/32"}
	for _, m := range mut {
		m(p)
	}
	return v1.Action{Type: t, Quarantine: p}
}

func tags(t v1.ActionType, mut ...func(*v1.TagsParams)) v1.Action {
	p := &v1.TagsParams{ResourceID: testInst, Tags: []v1.Tag{{Key: "incident", Value: "INC-42"}, {Key: "owner", Value: "secops"}}}
	for _, m := range mut {
		m(p)
	}
	return v1.Action{Type: t, Tags: p}
}

func waf(t v1.ActionType, mut ...func(*v1.WAFIPSetParams)) v1.Action {
	p := &v1.WAFIPSetParams{Name: "blocklist", ID: testWAFID, Scope: v1.WAFScopeRegional, Addresses: []string{"203.0.113.7/32", "198.51.100.0/24"}}
	for _, m := range mut {
		m(p)
	}
	return v1.Action{Type: t, WAFIPSet: p}
}

// validActions returns one valid action of every catalog type, in catalog order.
func validActions() []v1.Action {
	return []v1.Action{
		sgRule(v1.ActionSecurityGroupRuleAuthorize),
		sgRule(v1.ActionSecurityGroupRuleRevoke),
		naclEntry(v1.ActionNetworkACLEntryAdd),
		naclEntry(v1.ActionNetworkACLEntryRemove),
		route(v1.ActionRouteCreate),
		route(v1.ActionRouteReplace),
		route(v1.ActionRouteDelete),
		prefixEntry(v1.ActionPrefixListEntryAdd),
		prefixEntry(v1.ActionPrefixListEntryRemove),
		quarantine(v1.ActionInstanceQuarantine),
		quarantine(v1.ActionInstanceRelease),
		tags(v1.ActionTagsAdd),
		tags(v1.ActionTagsRemove),
		waf(v1.ActionWAFIPSetAdd),
		waf(v1.ActionWAFIPSetRemove),
	}
}

func testRequest(env v1.Environment) *v1.NetworkChangeRequest {
	return &v1.NetworkChangeRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "block-scanner", Namespace: "netops", UID: types.UID("5f0c6f4e-1111-2222-3333-444455556666"), Generation: 3},
		Spec: v1.NetworkChangeRequestSpec{
			Intent:      "block 192.0.2.0/24 from the payments VPC",
			Environment: env,
			Targets:     &v1.Targets{Region: testRegion, AccountID: "123456789012"},
		},
	}
}

func testPlan(actions ...v1.Action) *v1.Plan {
	return &v1.Plan{
		Actions:    actions,
		Rationale:  "block the scanner",
		Region:     testRegion,
		AccountID:  "123456789012",
		Generation: 3,
		Provenance: v1.Provenance{Planner: "rules"},
		Snapshot: []v1.ResourceSnapshot{
			{ID: testSG, Kind: "SecurityGroup", Environment: "staging", State: `{"rules":[]}`},
		},
	}
}

// problems returns Validate's problems, failing the test on any other error type.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	ve, ok := err.(*ValidationError)
	if !ok {
		t.Fatalf("Validate returned %T (%v), want *ValidationError", err, err)
	}
	if len(ve.Problems) == 0 {
		t.Fatalf("ValidationError without problems")
	}
	return ve.Problems
}
