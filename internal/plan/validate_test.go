package plan

import (
	"fmt"
	"strings"
	"testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

func TestValidate_validActionsOfEveryType(t *testing.T) {
	for _, a := range validActions() {
		t.Run(string(a.Type), func(t *testing.T) {
			for _, env := range []v1.Environment{v1.EnvironmentProduction, v1.EnvironmentStaging} {
				if err := Validate(testRequest(env), testPlan(a)); err != nil {
					t.Fatalf("valid %s action in %s refused: %v", a.Type, env, err)
				}
			}
		})
	}
	if err := Validate(testRequest(v1.EnvironmentProduction), testPlan(validActions()...)); err != nil {
		t.Fatalf("plan with one action of every type refused: %v", err)
	}
}

func TestValidate_actionProblems(t *testing.T) {
	auth, revoke := v1.ActionSecurityGroupRuleAuthorize, v1.ActionSecurityGroupRuleRevoke
	naclAdd, naclRm := v1.ActionNetworkACLEntryAdd, v1.ActionNetworkACLEntryRemove
	rc, rr, rd := v1.ActionRouteCreate, v1.ActionRouteReplace, v1.ActionRouteDelete
	pla, plr := v1.ActionPrefixListEntryAdd, v1.ActionPrefixListEntryRemove
	qa, qr := v1.ActionInstanceQuarantine, v1.ActionInstanceRelease
	ta, tr := v1.ActionTagsAdd, v1.ActionTagsRemove
	wa, wr := v1.ActionWAFIPSetAdd, v1.ActionWAFIPSetRemove

	cases := []struct {
		name string
		a    v1.Action
		want string // the single problem expected, as a substring
	}{
		// shape
		{"unknown type", v1.Action{Type: "DeleteVPC"}, `actions[0] ("DeleteVPC"): unknown action type "DeleteVPC"; the catalog is: SecurityGroupRuleAuthorize`},
		{"unknown type is quoted", v1.Action{Type: "X\nactions[1]: ok"}, `actions[0] ("X\nactions[1]: ok"): unknown action type`},
		{"missing type", v1.Action{SecurityGroupRule: sgRule(auth).SecurityGroupRule}, "actions[0]: type is required"},
		{"missing block", v1.Action{Type: auth}, "actions[0] (SecurityGroupRuleAuthorize): the securityGroupRule block is required"},
		{"wrong block", v1.Action{Type: auth, Route: route(rc).Route}, "only the securityGroupRule block may be set for SecurityGroupRuleAuthorize; remove route"},
		{"extra block", func() v1.Action { a := sgRule(auth); a.Tags = tags(ta).Tags; return a }(), "remove tags"},
		{"reason too long", func() v1.Action { a := sgRule(auth); a.Reason = strings.Repeat("x", 1025); return a }(), "actions[0] (SecurityGroupRuleAuthorize).reason: 1025 bytes"},

		// security group rules
		{"sg id missing", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.GroupID = "" }), ".securityGroupRule.groupID: required"},
		{"sg id wrong prefix", sgRule(revoke, func(p *v1.SecurityGroupRuleParams) { p.GroupID = "acl-0123456789abcdef0" }), `.securityGroupRule.groupID: "acl-0123456789abcdef0" is not a valid ID`},
		{"sg id 9 hex", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.GroupID = "sg-012345678" }), "groupID"},
		{"sg id uppercase", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.GroupID = "sg-0123456789ABCDEF0" }), "groupID"},
		{"direction", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.Direction = "inbound" }), `.securityGroupRule.direction: "inbound" is not a direction`},
		{"direction missing", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.Direction = "" }), ".securityGroupRule.direction: required"},
		{"protocol", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.Protocol = "sctp" }), `.securityGroupRule.protocol: "sctp" is not a protocol`},
		{"tcp without ports", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.Ports = nil }), ".securityGroupRule.ports: required for tcp"},
		{"udp port too high", sgRule(auth, func(p *v1.SecurityGroupRuleParams) {
			p.Protocol = v1.ProtocolUDP
			p.Ports = &v1.PortRange{From: 53, To: 65536}
		}), ".securityGroupRule.ports.to: 65536 is outside 0-65535"},
		{"negative port", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.Ports = &v1.PortRange{From: -1, To: 5} }), "ports.from: -1 is outside"},
		{"from > to", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.Ports = &v1.PortRange{From: 444, To: 443} }), ".securityGroupRule.ports: from 444 is greater than to 443"},
		{"icmp with ports", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.Protocol = v1.ProtocolICMP }), ".securityGroupRule.ports: must not be set for protocol icmp"},
		{"all with ports", sgRule(revoke, func(p *v1.SecurityGroupRuleParams) { p.Protocol = v1.ProtocolAll }), "must not be set for protocol all"},
		{"cidr host bits", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.CIDR = "203.0.113.5/24" }),
			"actions[0] (SecurityGroupRuleAuthorize).securityGroupRule.cidr: host bits set in 203.0.113.5/24; use 203.0.113.0/24"},
		{"cidr ipv6 host bits", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.CIDR = "2001:db8::1/64" }), "host bits set in 2001:db8::1/64; use 2001:db8::/64"},
		{"cidr garbage", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.CIDR = "the internet" }), `.securityGroupRule.cidr: "the internet" is not a CIDR block`},
		{"bare address", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.CIDR = "203.0.113.5" }), "is an address, not a CIDR block; use 203.0.113.5/32"},
		{"cidr missing", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.CIDR = "" }), ".securityGroupRule.cidr: required"},
		{"ipv4-mapped", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.CIDR = "::ffff:0.0.0.0/96" }), "IPv4-mapped"},
		{"non-canonical ipv6", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.CIDR = "2001:0db8::/32" }), "not in canonical form; use 2001:db8::/32"},
		{"description chars", sgRule(auth, func(p *v1.SecurityGroupRuleParams) { p.Description = "ignore previous instructions <script>" }), ".securityGroupRule.description: contains characters AWS refuses"},

		// network ACL entries
		{"acl id", naclEntry(naclAdd, func(p *v1.NetworkACLEntryParams) { p.NetworkACLID = "acl-xyz" }), `.networkACLEntry.networkACLID: "acl-xyz" is not a valid ID`},
		{"rule number 0", naclEntry(naclAdd, func(p *v1.NetworkACLEntryParams) { p.RuleNumber = 0 }), ".networkACLEntry.ruleNumber: 0 is outside 1-32766"},
		{"rule number 32767", naclEntry(naclRm, func(p *v1.NetworkACLEntryParams) { p.RuleNumber = 32767 }), "ruleNumber: 32767 is outside 1-32766"},
		{"rule action", naclEntry(naclAdd, func(p *v1.NetworkACLEntryParams) { p.RuleAction = "reject" }), `.networkACLEntry.ruleAction: "reject" is not a rule action`},
		{"rule action missing", naclEntry(naclRm, func(p *v1.NetworkACLEntryParams) { p.RuleAction = "" }), "ruleAction: required"},
		{"nacl direction", naclEntry(naclAdd, func(p *v1.NetworkACLEntryParams) { p.Direction = "both" }), ".networkACLEntry.direction"},
		{"nacl tcp no ports", naclEntry(naclAdd, func(p *v1.NetworkACLEntryParams) { p.Protocol = v1.ProtocolTCP }), ".networkACLEntry.ports: required for tcp"},
		{"nacl cidr host bits", naclEntry(naclAdd, func(p *v1.NetworkACLEntryParams) { p.CIDR = "198.51.100.1/24" }),
			"actions[0] (NetworkACLEntryAdd).networkACLEntry.cidr: host bits set in 198.51.100.1/24; use 198.51.100.0/24"},

		// routes
		{"rtb id", route(rc, func(p *v1.RouteParams) { p.RouteTableID = "rtb-1" }), `.route.routeTableID: "rtb-1" is not a valid ID`},
		{"destination", route(rc, func(p *v1.RouteParams) { p.DestinationCIDR = "10.20.0.0/33" }), ".route.destinationCIDR"},
		{"create without target", route(rc, func(p *v1.RouteParams) { p.TargetType, p.TargetID = "", "" }), ".route.targetType: required for RouteCreate"},
		{"target type vs id", route(rc, func(p *v1.RouteParams) { p.TargetType = v1.RouteTargetGateway }),
			`.route.targetID: "nat-0123456789abcdef0" is not a valid igw- or vgw- ID for targetType gateway`},
		{"vgw ok but eni wrong", route(rc, func(p *v1.RouteParams) {
			p.TargetType, p.TargetID = v1.RouteTargetNetworkInterface, "igw-0123456789abcdef0"
		}), "not a valid eni- ID"},
		{"target id missing", route(rr, func(p *v1.RouteParams) { p.TargetID = "" }), ".route.targetID: required for targetType natGateway"},
		{"target id without type", route(rc, func(p *v1.RouteParams) { p.TargetType = "" }), ".route.targetType: required with targetID"},
		{"target type unknown", route(rc, func(p *v1.RouteParams) { p.TargetType = "carrierGateway" }), `.route.targetType: "carrierGateway" is not a target type`},
		{"pcx prefix", route(rc, func(p *v1.RouteParams) { p.TargetType, p.TargetID = v1.RouteTargetVPCPeering, "tgw-0123456789abcdef0" }), "not a valid pcx- ID"},
		{"tgw prefix", route(rc, func(p *v1.RouteParams) {
			p.TargetType, p.TargetID = v1.RouteTargetTransitGateway, "pcx-0123456789abcdef0"
		}), "not a valid tgw- ID"},
		{"instance prefix", route(rc, func(p *v1.RouteParams) { p.TargetType, p.TargetID = v1.RouteTargetInstance, "eni-0123456789abcdef0" }), "not a valid i- ID"},
		{"replace without previous", route(rr, func(p *v1.RouteParams) { p.PreviousTargetType, p.PreviousTargetID = "", "" }),
			".route.previousTargetType: required for RouteReplace so it can be rolled back"},
		{"delete without previous", route(rd, func(p *v1.RouteParams) { p.PreviousTargetType, p.PreviousTargetID = "", "" }), "required for RouteDelete so it can be rolled back"},
		{"previous mismatched", route(rd, func(p *v1.RouteParams) { p.PreviousTargetType = v1.RouteTargetNATGateway }), ".route.previousTargetID: \"igw-0123456789abcdef0\" is not a valid nat- ID"},
		{"delete with target", route(rd, func(p *v1.RouteParams) { p.TargetType, p.TargetID = v1.RouteTargetNATGateway, testNAT }), ".route.targetType: must not be set for RouteDelete"},
		{"create with previous", route(rc, func(p *v1.RouteParams) { p.PreviousTargetType, p.PreviousTargetID = v1.RouteTargetGateway, testIGW }), "must not be set for RouteCreate"},
		{"replace no-op", route(rr, func(p *v1.RouteParams) { p.TargetType, p.TargetID = v1.RouteTargetGateway, testIGW }), ".route.targetID: equals previousTargetID"},

		// prefix lists
		{"pl id", prefixEntry(pla, func(p *v1.PrefixListEntryParams) { p.PrefixListID = "pl-ZZ" }), `.prefixListEntry.prefixListID: "pl-ZZ" is not a valid ID`},
		{"pl cidr", prefixEntry(plr, func(p *v1.PrefixListEntryParams) { p.CIDR = "192.0.3.0/23" }), ".prefixListEntry.cidr: host bits set in 192.0.3.0/23; use 192.0.2.0/23"},
		{"pl description", prefixEntry(pla, func(p *v1.PrefixListEntryParams) { p.Description = strings.Repeat("d", 256) }), ".prefixListEntry.description: 256 bytes"},

		// quarantine
		{"instance id", quarantine(qa, func(p *v1.QuarantineParams) { p.InstanceID = "i-abc" }), `.quarantine.instanceID: "i-abc" is not a valid ID`},
		{"vpc id", quarantine(qa, func(p *v1.QuarantineParams) { p.VPCID = "" }), ".quarantine.vpcID: required"},
		{"no original groups", quarantine(qa, func(p *v1.QuarantineParams) { p.OriginalGroupIDs = nil }), ".quarantine.originalGroupIDs: at least one group is required"},
		{"bad original group", quarantine(qr, func(p *v1.QuarantineParams) { p.OriginalGroupIDs = []string{testSG, "default"} }), `.quarantine.originalGroupIDs[1]: "default" is not a valid ID`},
		{"duplicate original group", quarantine(qa, func(p *v1.QuarantineParams) { p.OriginalGroupIDs = []string{testSG, testSG} }), "originalGroupIDs[1]: \"sg-0123456789abcdef0\" is listed twice"},
		{"forensics cidr", quarantine(qa, func(p *v1.QuarantineParams) { p.ForensicsCIDR = "10.99.0.10/24" }), ".quarantine.forensicsCIDR: host bits set in 10.99.0.10/24; use 10.99.0.0/24"},
		{"forensics everywhere", quarantine(qa, func(p *v1.QuarantineParams) { p.ForensicsCIDR = "0.0.0.0/0" }), ".quarantine.forensicsCIDR: 0.0.0.0/0 matches every address"},

		// tags
		{"tag resource", tags(ta, func(p *v1.TagsParams) { p.ResourceID = "arn:aws:ec2:eu-west-1:123456789012:instance/i-1" }), ".tags.resourceID"},
		{"tag resource kind", tags(ta, func(p *v1.TagsParams) { p.ResourceID = "ami-0123456789abcdef0" }), ".tags.resourceID"},
		{"no tags", tags(ta, func(p *v1.TagsParams) { p.Tags = nil }), ".tags.tags: at least one tag is required"},
		{"aws: key", tags(ta, func(p *v1.TagsParams) { p.Tags[0].Key = "aws:cloudformation:stack-name" }), `.tags.tags[0].key: "aws:cloudformation:stack-name": keys starting with "aws:" are reserved`},
		{"AWS: key", tags(tr, func(p *v1.TagsParams) { p.Tags[1].Key = "AWS:x" }), ".tags.tags[1].key"},
		{"empty key", tags(ta, func(p *v1.TagsParams) { p.Tags[0].Key = "" }), ".tags.tags[0].key: required"},
		{"long key", tags(ta, func(p *v1.TagsParams) { p.Tags[0].Key = strings.Repeat("k", 129) }), ".tags.tags[0].key: 129 bytes"},
		{"long value", tags(ta, func(p *v1.TagsParams) { p.Tags[0].Value = strings.Repeat("v", 257) }), ".tags.tags[0].value: 257 bytes"},
		{"duplicate key", tags(ta, func(p *v1.TagsParams) { p.Tags[1].Key = p.Tags[0].Key }), `.tags.tags[1].key: "incident" is listed twice`},
		{"remove protected", tags(tr, func(p *v1.TagsParams) { p.Tags[0] = v1.Tag{Key: v1.TagProtected, Value: "true"} }), "netchange.io/protected cannot be removed"},
		{"too many tags", tags(ta, func(p *v1.TagsParams) {
			p.Tags = nil
			for i := range 17 {
				p.Tags = append(p.Tags, v1.Tag{Key: fmt.Sprintf("k%d", i)})
			}
		}), ".tags.tags: 17 tags, at most 16"},

		// WAF
		{"waf name", waf(wa, func(p *v1.WAFIPSetParams) { p.Name = "block list" }), `.wafIPSet.name: "block list" is not a WAF IP set name`},
		{"waf id", waf(wa, func(p *v1.WAFIPSetParams) { p.ID = "blocklist" }), `.wafIPSet.id: "blocklist" is not a WAF IP set ID`},
		{"waf scope", waf(wr, func(p *v1.WAFIPSetParams) { p.Scope = "GLOBAL" }), `.wafIPSet.scope: "GLOBAL" is not a WAF scope`},
		{"waf scope missing", waf(wa, func(p *v1.WAFIPSetParams) { p.Scope = "" }), ".wafIPSet.scope: required"},
		{"cloudfront outside us-east-1", waf(wa, func(p *v1.WAFIPSetParams) { p.Scope = v1.WAFScopeCloudFront }), ".wafIPSet.scope: CLOUDFRONT IP sets are managed in us-east-1"},
		{"waf no addresses", waf(wa, func(p *v1.WAFIPSetParams) { p.Addresses = nil }), ".wafIPSet.addresses: at least one address is required"},
		{"waf bad address", waf(wa, func(p *v1.WAFIPSetParams) { p.Addresses[1] = "198.51.100.0/255" }), `.wafIPSet.addresses[1]: "198.51.100.0/255" is not a CIDR block`},
		{"waf /0", waf(wa, func(p *v1.WAFIPSetParams) { p.Addresses = []string{"0.0.0.0/0"} }), ".wafIPSet.addresses[0]: 0.0.0.0/0 matches every address"},
		{"waf mixed families", waf(wr, func(p *v1.WAFIPSetParams) { p.Addresses[1] = "2001:db8::/32" }), ".wafIPSet.addresses: mixes IPv4 and IPv6"},
		{"waf duplicate address", waf(wa, func(p *v1.WAFIPSetParams) { p.Addresses[1] = p.Addresses[0] }), `.wafIPSet.addresses[1]: "203.0.113.7/32" is listed twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, Validate(testRequest(v1.EnvironmentStaging), testPlan(tc.a)))
			if len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Fatalf("problems = %q\nwant exactly one containing %q", got, tc.want)
			}
		})
	}
}

func TestValidate_planProblems(t *testing.T) {
	cases := []struct {
		name string
		req  *v1.NetworkChangeRequest
		plan func() *v1.Plan
		want []string
	}{
		{"nil request fails closed", nil, func() *v1.Plan { return testPlan(validActions()[0]) }, []string{"request: the request is required"}},
		{"region missing", testRequest(v1.EnvironmentStaging), func() *v1.Plan { p := testPlan(); p.Region = ""; return p }, []string{"region: required"}},
		{"region format", testRequest(v1.EnvironmentStaging), func() *v1.Plan { p := testPlan(); p.Region = "europe"; return p },
			[]string{`region: "europe" is not an AWS region name`, "the request names"}},
		{"region differs from request", testRequest(v1.EnvironmentStaging), func() *v1.Plan { p := testPlan(); p.Region = "us-east-1"; return p },
			[]string{`region: the plan targets "us-east-1" but the request names "eu-west-1"`}},
		{"account format", testRequest(v1.EnvironmentStaging), func() *v1.Plan { p := testPlan(); p.AccountID = "12345"; return p },
			[]string{`accountID: "12345" is not a 12-digit`, "the request names"}},
		{"account differs", testRequest(v1.EnvironmentStaging), func() *v1.Plan { p := testPlan(); p.AccountID = "210987654321"; return p },
			[]string{"accountID: the plan targets"}},
		{"rationale too long", testRequest(v1.EnvironmentStaging), func() *v1.Plan { p := testPlan(); p.Rationale = strings.Repeat("r", 4097); return p },
			[]string{"rationale: 4097 bytes"}},
		{"too many actions", testRequest(v1.EnvironmentStaging), func() *v1.Plan {
			var as []v1.Action
			for i := range 21 {
				as = append(as, naclEntry(v1.ActionNetworkACLEntryAdd, func(p *v1.NetworkACLEntryParams) { p.RuleNumber = int32(100 + i) }))
			}
			return testPlan(as...)
		}, []string{"actions: 21 actions, at most 20"}},
		{"too many resources", testRequest(v1.EnvironmentStaging), func() *v1.Plan {
			var as []v1.Action
			for i := range 5 {
				as = append(as, quarantine(v1.ActionInstanceQuarantine, func(p *v1.QuarantineParams) {
					p.InstanceID = fmt.Sprintf("i-%017x", i)
					p.OriginalGroupIDs = nil
					for g := range 16 {
						p.OriginalGroupIDs = append(p.OriginalGroupIDs, fmt.Sprintf("sg-%017x", i*100+g))
					}
				}))
			}
			return testPlan(as...)
		}, []string{"actions: the plan touches 86 AWS resources, at most 64"}},
		{"duplicate actions ignore reason", testRequest(v1.EnvironmentStaging), func() *v1.Plan {
			a, b := sgRule(v1.ActionSecurityGroupRuleRevoke), sgRule(v1.ActionSecurityGroupRuleRevoke)
			b.Reason = "again"
			return testPlan(naclEntry(v1.ActionNetworkACLEntryAdd), a, b)
		}, []string{"actions[2] (SecurityGroupRuleRevoke): duplicates actions[1]"}},
		{"production internet ingress", testRequest(v1.EnvironmentProduction), func() *v1.Plan {
			return testPlan(sgRule(v1.ActionSecurityGroupRuleAuthorize, func(p *v1.SecurityGroupRuleParams) { p.CIDR = "0.0.0.0/0" }))
		}, []string{"actions[0] (SecurityGroupRuleAuthorize).securityGroupRule.cidr: opens ingress from 0.0.0.0/0, the whole internet; production allows no ingress from the internet"}},
		{"staging request on a production-tagged resource", testRequest(v1.EnvironmentStaging), func() *v1.Plan {
			p := testPlan(sgRule(v1.ActionSecurityGroupRuleAuthorize, func(p *v1.SecurityGroupRuleParams) { p.CIDR = "::/0" }))
			p.Snapshot[0].Environment = "Prod"
			return p
		}, []string{"opens ingress from ::/0"}},
		{"every problem is reported", testRequest(v1.EnvironmentStaging), func() *v1.Plan {
			p := testPlan(sgRule(v1.ActionSecurityGroupRuleAuthorize, func(p *v1.SecurityGroupRuleParams) { p.CIDR = "1.2.3.4/8" }),
				naclEntry(v1.ActionNetworkACLEntryAdd, func(p *v1.NetworkACLEntryParams) { p.RuleNumber = 0 }))
			p.Region = ""
			return p
		}, []string{"region: required", "actions[0] (SecurityGroupRuleAuthorize).securityGroupRule.cidr: host bits", "actions[1] (NetworkACLEntryAdd).networkACLEntry.ruleNumber"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, Validate(tc.req, tc.plan()))
			if len(got) != len(tc.want) {
				t.Fatalf("problems = %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestValidate_stagingAllowsWideIngress(t *testing.T) {
	p := testPlan(sgRule(v1.ActionSecurityGroupRuleAuthorize, func(p *v1.SecurityGroupRuleParams) { p.CIDR = "0.0.0.0/0" }))
	if err := Validate(testRequest(v1.EnvironmentStaging), p); err != nil {
		t.Fatalf("staging 0.0.0.0/0 ingress refused by Validate (the auditor's policy judges it): %v", err)
	}
}

func TestValidate_nilPlan(t *testing.T) {
	got := problems(t, Validate(testRequest(v1.EnvironmentStaging), nil))
	if len(got) != 1 || !strings.Contains(got[0], "plan is required") {
		t.Fatalf("problems = %q", got)
	}
}

func TestValidationError_Error(t *testing.T) {
	one := &ValidationError{Problems: []string{"a"}}
	two := &ValidationError{Problems: []string{"a", "b"}}
	if one.Error() != "invalid plan: a" {
		t.Errorf("one problem: %q", one.Error())
	}
	if two.Error() != "invalid plan: 2 problems: a; b" {
		t.Errorf("two problems: %q", two.Error())
	}
}

// TestValidateStructure_leavesGuardrailsToTheAuditor checks that a well-formed plan
// opening production to the internet passes the planners' structural gate but
// fails Validate, which the auditor and the executor use, naming the action.
func TestValidateStructure_leavesGuardrailsToTheAuditor(t *testing.T) {
	open := sgRule(v1.ActionSecurityGroupRuleAuthorize, func(p *v1.SecurityGroupRuleParams) {
		p.Direction = v1.DirectionIngress
		p.CIDR = "0.0.0.0/0"
	})
	req := testRequest(v1.EnvironmentProduction)
	p := testPlan(open)
	if err := ValidateStructure(req, p); err != nil {
		t.Fatalf("ValidateStructure refused a well-formed plan: %v", err)
	}
	err := Validate(req, p)
	if err == nil {
		t.Fatal("Validate accepted 0.0.0.0/0 ingress in production")
	}
	if got := problems(t, err); len(got) != 1 || !strings.Contains(got[0], "actions[0]") || !strings.Contains(got[0], "production allows no ingress from the internet") {
		t.Fatalf("problems = %q, want one naming actions[0] and the production guardrail", got)
	}
	if got := ProductionExposure(testRequest(v1.EnvironmentDevelopment), testPlan(open)); got != nil {
		t.Fatalf("ProductionExposure in development with no production snapshot = %q, want nil", got)
	}
	if err := ValidateStructure(req, testPlan(sgRule(v1.ActionSecurityGroupRuleAuthorize, func(p *v1.SecurityGroupRuleParams) { p.CIDR = "203.0.113.5/24" }))); err == nil {
		t.Fatal("ValidateStructure accepted a CIDR with host bits set")
	}
}
