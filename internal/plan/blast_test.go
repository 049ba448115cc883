package plan

import (
	"fmt"
	"reflect"
	"testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

func TestBlastRadius(t *testing.T) {
	cases := []struct {
		name     string
		plan     func() *v1.Plan
		want     v1.BlastRadius
		wantSize int // len(Resources) when want.Resources is nil
	}{
		{"empty plan", func() *v1.Plan { p := testPlan(); p.Snapshot = nil; return p }, v1.BlastRadius{}, 0},
		{"resources sorted and unique, snapshot environments and protected", func() *v1.Plan {
			p := testPlan(sgRule(v1.ActionSecurityGroupRuleRevoke), route(v1.ActionRouteReplace), sgRule(v1.ActionSecurityGroupRuleAuthorize), waf(v1.ActionWAFIPSetAdd))
			p.Snapshot = []v1.ResourceSnapshot{
				{ID: testSG, Environment: "production", Protected: true},
				{ID: testRTB, Environment: "staging"},
				{ID: "blocklist/" + testWAFID, Environment: "production", Protected: true},
			}
			return p
		}, v1.BlastRadius{
			Resources:    []string{testIGW, testNAT, testRTB, testSG, "wafv2:REGIONAL/blocklist/" + testWAFID},
			Environments: []string{"production", "staging"},
			Protected:    []string{"blocklist/" + testWAFID, testSG},
			WidestCIDR:   "10.20.0.0/16",
			Addresses:    65536,
		}, 0},
		{"ipv4 any is 2^32", func() *v1.Plan {
			p := testPlan(route(v1.ActionRouteCreate, func(r *v1.RouteParams) { r.DestinationCIDR = "0.0.0.0/0" }), ingressSG("2001:db8::/64"))
			p.Snapshot = nil
			return p
		}, v1.BlastRadius{Resources: []string{testNAT, testRTB, testSG}, WidestCIDR: "0.0.0.0/0", Addresses: 1 << 32}, 0},
		{"ipv6 /96 counts 2^32 and beats ipv4 /1", func() *v1.Plan {
			p := testPlan(ingressSG("2001:db8::/96"), prefixEntry(v1.ActionPrefixListEntryAdd, func(e *v1.PrefixListEntryParams) { e.CIDR = "0.0.0.0/1" }))
			p.Snapshot = nil
			return p
		}, v1.BlastRadius{Resources: []string{testPL, testSG}, WidestCIDR: "2001:db8::/96", Addresses: 1 << 32}, 0},
		{"ipv6 /97 counts 2^31 and loses ties to ipv4 /1", func() *v1.Plan {
			p := testPlan(ingressSG("2001:db8::/97"), prefixEntry(v1.ActionPrefixListEntryAdd, func(e *v1.PrefixListEntryParams) { e.CIDR = "0.0.0.0/1" }))
			p.Snapshot = nil
			return p
		}, v1.BlastRadius{Resources: []string{testPL, testSG}, WidestCIDR: "0.0.0.0/1", Addresses: 1 << 31}, 0},
		{"waf and forensics blocks count", func() *v1.Plan {
			p := testPlan(waf(v1.ActionWAFIPSetAdd, func(w *v1.WAFIPSetParams) { w.Addresses = []string{"203.0.113.7/32", "198.18.0.0/15"} }), quarantine(v1.ActionInstanceQuarantine))
			p.Snapshot = nil
			return p
		}, v1.BlastRadius{Resources: []string{testInst, testSG, testSG2, testVPC, "wafv2:REGIONAL/blocklist/" + testWAFID}, WidestCIDR: "198.18.0.0/15", Addresses: 1 << 17}, 0},
		{"capped at 64 resources", func() *v1.Plan {
			var as []v1.Action
			for i := range 20 {
				as = append(as, quarantine(v1.ActionInstanceQuarantine, func(q *v1.QuarantineParams) {
					q.InstanceID = fmt.Sprintf("i-%08x", i)
					q.ForensicsCIDR = ""
					q.OriginalGroupIDs = []string{fmt.Sprintf("sg-%08x", i), fmt.Sprintf("sg-%08x", 100+i), fmt.Sprintf("sg-%08x", 200+i)}
				}))
			}
			p := testPlan(as...)
			p.Snapshot = nil
			return p
		}, v1.BlastRadius{}, 64},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := BlastRadius(tc.plan())
			if tc.wantSize > 0 {
				if len(got.Resources) != tc.wantSize {
					t.Fatalf("resources = %d, want %d", len(got.Resources), tc.wantSize)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("BlastRadius =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
	if !reflect.DeepEqual(BlastRadius(nil), v1.BlastRadius{}) {
		t.Error("nil plan has a blast radius")
	}
}

func TestMonthlyCostUSD(t *testing.T) {
	for _, a := range validActions() {
		if c := ActionMonthlyCostUSD(a); c != 0 {
			t.Errorf("ActionMonthlyCostUSD(%s) = %v, want 0 per the documented table", a.Type, c)
		}
	}
	if got := MonthlyCostUSD(testPlan(validActions()...)); got != "0.00" {
		t.Errorf("MonthlyCostUSD = %q, want 0.00", got)
	}
	if got := MonthlyCostUSD(nil); got != "0.00" {
		t.Errorf("MonthlyCostUSD(nil) = %q", got)
	}
	for _, typ := range Catalog() {
		if _, ok := actionCost[typ]; !ok {
			t.Errorf("%s has no entry in the cost table", typ)
		}
	}
}
