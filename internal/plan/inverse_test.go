package plan

import (
	"reflect"
	"strings"
	"testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

func TestInverse(t *testing.T) {
	cases := []struct {
		name string
		in   v1.Action
		want v1.Action
	}{
		{"authorize", sgRule(v1.ActionSecurityGroupRuleAuthorize), sgRule(v1.ActionSecurityGroupRuleRevoke)},
		{"revoke", sgRule(v1.ActionSecurityGroupRuleRevoke), sgRule(v1.ActionSecurityGroupRuleAuthorize)},
		{"nacl add", naclEntry(v1.ActionNetworkACLEntryAdd), naclEntry(v1.ActionNetworkACLEntryRemove)},
		{"nacl remove", naclEntry(v1.ActionNetworkACLEntryRemove), naclEntry(v1.ActionNetworkACLEntryAdd)},
		{"route create", route(v1.ActionRouteCreate), route(v1.ActionRouteDelete, func(p *v1.RouteParams) {
			p.PreviousTargetType, p.PreviousTargetID = v1.RouteTargetNATGateway, testNAT
		})},
		{"route delete recreates the previous target", route(v1.ActionRouteDelete), route(v1.ActionRouteCreate, func(p *v1.RouteParams) {
			p.TargetType, p.TargetID = v1.RouteTargetGateway, testIGW
		})},
		{"route replace goes back", route(v1.ActionRouteReplace), route(v1.ActionRouteReplace, func(p *v1.RouteParams) {
			p.TargetType, p.TargetID = v1.RouteTargetGateway, testIGW
			p.PreviousTargetType, p.PreviousTargetID = v1.RouteTargetNATGateway, testNAT
		})},
		{"prefix add", prefixEntry(v1.ActionPrefixListEntryAdd), prefixEntry(v1.ActionPrefixListEntryRemove)},
		{"prefix remove", prefixEntry(v1.ActionPrefixListEntryRemove), prefixEntry(v1.ActionPrefixListEntryAdd)},
		{"quarantine", quarantine(v1.ActionInstanceQuarantine), quarantine(v1.ActionInstanceRelease)},
		{"release", quarantine(v1.ActionInstanceRelease), quarantine(v1.ActionInstanceQuarantine)},
		{"tags add removes the keys", tags(v1.ActionTagsAdd), tags(v1.ActionTagsRemove)},
		{"tags remove restores the values", tags(v1.ActionTagsRemove), tags(v1.ActionTagsAdd)},
		{"waf add", waf(v1.ActionWAFIPSetAdd), waf(v1.ActionWAFIPSetRemove)},
		{"waf remove", waf(v1.ActionWAFIPSetRemove), waf(v1.ActionWAFIPSetAdd)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Reason = tc.in.Reason
			got, err := Inverse(tc.in)
			if err != nil {
				t.Fatalf("Inverse: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Inverse(%s) = %+v, want %+v", tc.in.Type, got, tc.want)
			}
			if err := Validate(testRequest(v1.EnvironmentStaging), testPlan(got)); err != nil {
				t.Fatalf("inverse is not a valid action: %v", err)
			}
		})
	}
}

func TestInverse_roundTripEveryType(t *testing.T) {
	covered := map[v1.ActionType]bool{}
	for _, a := range validActions() {
		covered[a.Type] = true
		inv, err := Inverse(a)
		if err != nil {
			t.Fatalf("Inverse(%s): %v", a.Type, err)
		}
		if inv.Type == a.Type && a.Type != v1.ActionRouteReplace {
			t.Errorf("Inverse(%s) kept the type", a.Type)
		}
		if IsDeletion(a) == IsDeletion(inv) && a.Type != v1.ActionRouteReplace {
			t.Errorf("%s and its inverse %s are both deletions or both not", a.Type, inv.Type)
		}
		back, err := Inverse(inv)
		if err != nil {
			t.Fatalf("Inverse(Inverse(%s)): %v", a.Type, err)
		}
		if !reflect.DeepEqual(back, a) {
			t.Errorf("Inverse(Inverse(%s)) = %+v, want %+v", a.Type, back, a)
		}
	}
	for _, typ := range Catalog() {
		if !covered[typ] {
			t.Errorf("%s not covered", typ)
		}
	}
}

func TestInverse_sharesNoMemory(t *testing.T) {
	a := quarantine(v1.ActionInstanceQuarantine)
	inv, err := Inverse(a)
	if err != nil {
		t.Fatal(err)
	}
	inv.Quarantine.OriginalGroupIDs[0] = "sg-ffffffff"
	inv.Quarantine.InstanceID = "i-ffffffff"
	if a.Quarantine.OriginalGroupIDs[0] != testSG || a.Quarantine.InstanceID != testInst {
		t.Fatal("mutating the inverse changed the original action")
	}
}

func TestInverse_errors(t *testing.T) {
	cases := []struct {
		name string
		in   v1.Action
		want string
	}{
		{"unknown type", v1.Action{Type: "DeleteVPC"}, `inverse of "DeleteVPC" action: unknown action type`},
		{"no type", v1.Action{}, "inverse of untyped action: type is required"},
		{"missing params", v1.Action{Type: v1.ActionTagsAdd}, "the tags block is required"},
		{"two blocks", func() v1.Action {
			a := tags(v1.ActionTagsAdd)
			a.WAFIPSet = waf(v1.ActionWAFIPSetAdd).WAFIPSet
			return a
		}(), "remove wafIPSet"},
		{"delete without previous", route(v1.ActionRouteDelete, func(p *v1.RouteParams) { p.PreviousTargetID = "" }), "inverse of RouteDelete on rtb-0123456789abcdef0 10.20.0.0/16: the previous target is unknown"},
		{"replace without previous", route(v1.ActionRouteReplace, func(p *v1.RouteParams) { p.PreviousTargetType = "" }), "the previous target is unknown"},
		{"replace without target", route(v1.ActionRouteReplace, func(p *v1.RouteParams) { p.TargetID = "" }), "the new target is unknown"},
		{"create without target", route(v1.ActionRouteCreate, func(p *v1.RouteParams) { p.TargetType = "" }), "the created target is unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Inverse(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestIsDeletion(t *testing.T) {
	want := map[v1.ActionType]bool{
		v1.ActionSecurityGroupRuleRevoke: true, v1.ActionNetworkACLEntryRemove: true, v1.ActionRouteDelete: true,
		v1.ActionPrefixListEntryRemove: true, v1.ActionTagsRemove: true, v1.ActionWAFIPSetRemove: true, v1.ActionInstanceRelease: true,
	}
	for _, a := range validActions() {
		if got := IsDeletion(a); got != want[a.Type] {
			t.Errorf("IsDeletion(%s) = %v, want %v", a.Type, got, want[a.Type])
		}
	}
	if IsDeletion(v1.Action{Type: "DeleteVPC"}) {
		t.Error("unknown type is a deletion")
	}
}

func TestResources(t *testing.T) {
	cases := []struct {
		in   v1.Action
		want []string
	}{
		{sgRule(v1.ActionSecurityGroupRuleAuthorize), []string{testSG}},
		{sgRule(v1.ActionSecurityGroupRuleRevoke), []string{testSG}},
		{naclEntry(v1.ActionNetworkACLEntryAdd), []string{testACL}},
		{naclEntry(v1.ActionNetworkACLEntryRemove), []string{testACL}},
		{route(v1.ActionRouteCreate), []string{testRTB, testNAT}},
		{route(v1.ActionRouteReplace), []string{testRTB, testNAT, testIGW}},
		{route(v1.ActionRouteDelete), []string{testRTB, testIGW}},
		{prefixEntry(v1.ActionPrefixListEntryAdd), []string{testPL}},
		{prefixEntry(v1.ActionPrefixListEntryRemove), []string{testPL}},
		{quarantine(v1.ActionInstanceQuarantine), []string{testInst, testVPC, testSG, testSG2}},
		{quarantine(v1.ActionInstanceRelease, func(p *v1.QuarantineParams) { p.OriginalGroupIDs = []string{testSG, testSG} }), []string{testInst, testVPC, testSG}},
		{tags(v1.ActionTagsAdd), []string{testInst}},
		{tags(v1.ActionTagsRemove), []string{testInst}},
		{waf(v1.ActionWAFIPSetAdd), []string{"wafv2:REGIONAL/blocklist/" + testWAFID}},
		{waf(v1.ActionWAFIPSetRemove, func(p *v1.WAFIPSetParams) { p.Scope = v1.WAFScopeCloudFront }), []string{"wafv2:CLOUDFRONT/blocklist/" + testWAFID}},
		{v1.Action{Type: v1.ActionTagsAdd}, nil},
		{v1.Action{Type: v1.ActionTagsAdd, Route: route(v1.ActionRouteCreate).Route}, nil},
		{v1.Action{Type: "DeleteVPC", Route: route(v1.ActionRouteCreate).Route}, nil},
	}
	for _, tc := range cases {
		t.Run(string(tc.in.Type), func(t *testing.T) {
			if got := Resources(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Resources = %q, want %q", got, tc.want)
			}
		})
	}
}
