package awscontext

import (
	"slices"
	"testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

func testEstate() *Estate {
	return &Estate{
		NetworkACLs: []NetworkACL{{ID: "acl-1", SubnetIDs: []string{"subnet-a"}, Entries: []NACLEntry{
			{RuleNumber: 1, Direction: v1.DirectionIngress, RuleAction: v1.RuleActionDeny},
			{RuleNumber: 2, Direction: v1.DirectionIngress, RuleAction: v1.RuleActionDeny},
			{RuleNumber: 4, Direction: v1.DirectionIngress, RuleAction: v1.RuleActionDeny},
			{RuleNumber: 100, Direction: v1.DirectionIngress, RuleAction: v1.RuleActionAllow},
			{RuleNumber: 1, Direction: v1.DirectionEgress, RuleAction: v1.RuleActionAllow},
			{RuleNumber: 32767, Direction: v1.DirectionIngress, RuleAction: v1.RuleActionDeny},
		}}},
		SecurityGroups: []SecurityGroup{
			{ID: "sg-1", GroupName: "payments", Environment: "development"},
			{ID: "sg-2", GroupName: "payments-legacy", Environment: "development"},
			{ID: "sg-3", GroupName: "x", Name: "Payments", Environment: "production"},
			{ID: "sg-4", GroupName: "staging-app", Environment: "development"},
		},
	}
}

func TestEstate_FreeNACLRuleNumbers(t *testing.T) {
	e := testEstate()
	for _, tc := range []struct {
		name  string
		dir   v1.Direction
		below int32
		count int
		want  []int32
		err   bool
	}{
		{"skips used ingress", v1.DirectionIngress, 100, 3, []int32{3, 5, 6}, false},
		{"egress numbers are separate", v1.DirectionEgress, 100, 2, []int32{2, 3}, false},
		{"none below", v1.DirectionIngress, 4, 2, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.FreeNACLRuleNumbers("acl-1", tc.dir, tc.below, tc.count)
			if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
	if _, err := e.FreeNACLRuleNumber("acl-missing", v1.DirectionIngress, 100); err == nil {
		t.Error("unknown ACL: want error")
	}
	if got := e.NetworkACLs[0].LowestAllowRule(v1.DirectionIngress); got != 100 {
		t.Errorf("LowestAllowRule = %d, want 100", got)
	}
}

func TestEstate_SecurityGroupsMatching(t *testing.T) {
	e := testEstate()
	for _, tc := range []struct {
		frag, env string
		want      []string
	}{
		{"payments", "development", []string{"sg-1"}},
		{"PAYMENTS", "", []string{"sg-1", "sg-3"}},
		{"legacy", "development", []string{"sg-2"}},
		{"payments", "production", []string{"sg-3"}},
		{"nothing", "", nil},
		{"  ", "", nil},
	} {
		var got []string
		for _, g := range e.SecurityGroupsMatching(tc.frag, tc.env) {
			got = append(got, g.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("SecurityGroupsMatching(%q, %q) = %v, want %v", tc.frag, tc.env, got, tc.want)
		}
	}
}
