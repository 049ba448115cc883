package plan

import (
	"strings"
	"testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

func ingressSG(cidr string) v1.Action {
	return sgRule(v1.ActionSecurityGroupRuleAuthorize, func(p *v1.SecurityGroupRuleParams) { p.CIDR = cidr })
}

func allowNACL(cidr string, mut ...func(*v1.NetworkACLEntryParams)) v1.Action {
	return naclEntry(v1.ActionNetworkACLEntryAdd, append([]func(*v1.NetworkACLEntryParams){func(p *v1.NetworkACLEntryParams) {
		p.CIDR, p.RuleAction = cidr, v1.RuleActionAllow
	}}, mut...)...)
}

func TestInternetExposure(t *testing.T) {
	cases := []struct {
		name    string
		actions []v1.Action
		want    []string // substrings, one per finding, in order
	}{
		{"ipv4 any", []v1.Action{ingressSG("0.0.0.0/0")}, []string{"actions[0] (SecurityGroupRuleAuthorize).securityGroupRule.cidr: opens ingress from 0.0.0.0/0, the whole internet"}},
		{"ipv6 any", []v1.Action{ingressSG("::/0")}, []string{"opens ingress from ::/0, the whole internet"}},
		{"nacl allow any", []v1.Action{allowNACL("0.0.0.0/0")}, []string{"actions[0] (NetworkACLEntryAdd).networkACLEntry.cidr: opens ingress from 0.0.0.0/0"}},
		{"two halves", []v1.Action{ingressSG("0.0.0.0/1"), ingressSG("128.0.0.0/1")}, []string{
			"actions[0] (SecurityGroupRuleAuthorize).securityGroupRule.cidr: opens ingress from 0.0.0.0/1, wider than a /8",
			"actions[1] (SecurityGroupRuleAuthorize).securityGroupRule.cidr: opens ingress from 128.0.0.0/1, wider than a /8"}},
		{"ipv4 /7", []v1.Action{ingressSG("52.0.0.0/7")}, []string{"opens ingress from 52.0.0.0/7, wider than a /8"}},
		{"ipv6 /31", []v1.Action{ingressSG("2001:db8::/31")}, []string{"opens ingress from 2001:db8::/31, wider than a /32"}},
		{"ipv4 /8 public alone is fine", []v1.Action{ingressSG("52.0.0.0/8")}, nil},
		{"two public /8s together", []v1.Action{ingressSG("52.0.0.0/8"), naclEntry(v1.ActionNetworkACLEntryAdd), allowNACL("54.0.0.0/8")}, []string{
			"actions[0] (SecurityGroupRuleAuthorize).securityGroupRule.cidr: opens ingress from 52.0.0.0/8; together the plan's ingress rules open 33554432 public IPv4 addresses, more than 16777216",
			"actions[2] (NetworkACLEntryAdd).networkACLEntry.cidr: opens ingress from 54.0.0.0/8; together"}},
		{"overlap counted once", []v1.Action{ingressSG("52.0.0.0/8"), allowNACL("52.0.0.0/8"), ingressSG("52.1.0.0/16")}, nil},
		{"private /8 plus a public /8", []v1.Action{ingressSG("10.0.0.0/8"), ingressSG("52.0.0.0/8")}, nil},
		{"many /9s add up", []v1.Action{ingressSG("52.0.0.0/9"), ingressSG("52.128.0.0/9"), ingressSG("10.0.0.0/9"), ingressSG("53.0.0.0/9")}, []string{
			"actions[0]", "actions[1]", "actions[3]"}},
		{"rfc1918 and friends", []v1.Action{ingressSG("10.0.0.0/8"), ingressSG("172.16.0.0/12"), ingressSG("192.168.0.0/16"), ingressSG("100.64.0.0/10"), ingressSG("169.254.0.0/16"), ingressSG("127.0.0.0/8")}, nil},
		{"ipv6 /32 alone is fine", []v1.Action{ingressSG("2001:db8::/32")}, nil},
		{"two ipv6 /32 together", []v1.Action{ingressSG("2001:db8::/32"), ingressSG("2001:db9::/32")}, []string{"public IPv6 /64 networks", "actions[1]"}},
		{"ula space does not add up", []v1.Action{ingressSG("fd00::/32"), ingressSG("fd01::/32"), ingressSG("fe80::/32")}, nil},
		{"ula wider than /32 is still a finding", []v1.Action{ingressSG("fd00::/8")}, []string{"wider than a /32"}},
		{"egress is fine", []v1.Action{sgRule(v1.ActionSecurityGroupRuleAuthorize, func(p *v1.SecurityGroupRuleParams) {
			p.CIDR, p.Direction = "0.0.0.0/0", v1.DirectionEgress
		})}, nil},
		{"nacl deny is fine", []v1.Action{naclEntry(v1.ActionNetworkACLEntryAdd, func(p *v1.NetworkACLEntryParams) { p.CIDR = "0.0.0.0/0" })}, nil},
		{"nacl allow egress is fine", []v1.Action{allowNACL("0.0.0.0/0", func(p *v1.NetworkACLEntryParams) { p.Direction = v1.DirectionEgress })}, nil},
		{"revoke is fine", []v1.Action{sgRule(v1.ActionSecurityGroupRuleRevoke, func(p *v1.SecurityGroupRuleParams) { p.CIDR = "0.0.0.0/0" })}, nil},
		{"nacl remove is fine", []v1.Action{naclEntry(v1.ActionNetworkACLEntryRemove, func(p *v1.NetworkACLEntryParams) {
			p.CIDR, p.RuleAction = "0.0.0.0/0", v1.RuleActionAllow
		})}, nil},
		{"default route is not ingress", []v1.Action{route(v1.ActionRouteCreate, func(p *v1.RouteParams) { p.DestinationCIDR = "0.0.0.0/0" })}, nil},
		{"unparseable fails closed", []v1.Action{ingressSG("anywhere")}, []string{`opens ingress from "anywhere", which is not a CIDR block; treated as the internet`}},
		{"host bits are masked", []v1.Action{ingressSG("1.2.3.4/0")}, []string{"opens ingress from 0.0.0.0/0"}},
		{"ipv4-mapped read as ipv4", []v1.Action{ingressSG("::ffff:0.0.0.0/96")}, []string{"opens ingress from 0.0.0.0/0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := InternetExposure(testPlan(tc.actions...))
			if len(got) != len(tc.want) {
				t.Fatalf("findings = %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("finding %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
	if InternetExposure(nil) != nil {
		t.Error("nil plan has findings")
	}
}
