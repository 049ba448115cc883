package plan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

func TestDecode_acceptsEveryCatalogType(t *testing.T) {
	want := Proposal{Actions: validActions(), Rationale: "one of each"}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(marshalled valid proposal): %v", err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("Decode round trip changed the proposal:\n got %+v\nwant %+v", *got, want)
	}
}

func TestDecode(t *testing.T) {
	const sg = `{"type":"SecurityGroupRuleRevoke","securityGroupRule":{"groupID":"sg-0123456789abcdef0","direction":"ingress","protocol":"all","cidr":"192.0.2.0/24"}}`
	cases := []struct {
		name    string
		in      string
		wantErr string // "" means accepted
		check   func(t *testing.T, p *Proposal)
	}{
		{"empty actions", `{"actions":[],"rationale":"nothing to do"}`, "", func(t *testing.T, p *Proposal) {
			if p.Actions == nil || len(p.Actions) != 0 || p.Rationale != "nothing to do" {
				t.Errorf("got %+v", p)
			}
		}},
		{"rationale optional", `{"actions":[` + sg + `]}`, "", func(t *testing.T, p *Proposal) {
			if p.Actions[0].SecurityGroupRule.CIDR != "192.0.2.0/24" {
				t.Errorf("got %+v", p.Actions[0].SecurityGroupRule)
			}
		}},
		{"whitespace around", " \n\t{\"actions\":[]}\n ", "", nil},
		{"nulls are unset (strict schema output)", `{"actions":[{"type":"SecurityGroupRuleRevoke","reason":null,"securityGroupRule":{"groupID":"sg-0123456789abcdef0","direction":"ingress","protocol":"all","ports":null,"cidr":"192.0.2.0/24","description":null},"networkACLEntry":null,"route":null,"prefixListEntry":null,"quarantine":null,"tags":null,"wafIPSet":null}],"rationale":"r"}`, "", func(t *testing.T, p *Proposal) {
			a := p.Actions[0]
			if a.SecurityGroupRule == nil || a.SecurityGroupRule.Ports != nil || a.Route != nil || a.Reason != "" {
				t.Errorf("got %+v", a)
			}
		}},
		{"empty input", ``, "empty input", nil},
		{"not an object", `[]`, "must be a JSON object", nil},
		{"string", `"rm -rf /"`, "must be a JSON object", nil},
		{"missing actions", `{"rationale":"x"}`, "actions is required; use []", nil},
		{"null actions", `{"actions":null}`, "actions is required", nil},
		{"unknown top-level field", `{"actions":[],"commands":["aws ec2 delete-vpc"]}`, `"commands": unknown field; allowed here: actions, rationale`, nil},
		{"wrong case field", `{"Actions":[]}`, `"Actions": unknown field`, nil},
		{"unknown action field", `{"actions":[{"type":"TagsAdd","tags":{"resourceID":"i-0123456789abcdef0","tags":[{"key":"a"}]},"shell":"x"}]}`, `actions[0]."shell": unknown field; allowed here:`, nil},
		{"unknown nested field", `{"actions":[` + sg + `,{"type":"RouteDelete","route":{"routeTableID":"rtb-0123456789abcdef0","destinationCIDR":"0.0.0.0/0","force":true}}]}`, `actions[1].route."force": unknown field`, nil},
		{"unknown field in ports", `{"actions":[{"type":"SecurityGroupRuleAuthorize","securityGroupRule":{"ports":{"from":1,"to":2,"step":1}}}]}`, `actions[0].securityGroupRule.ports."step": unknown field`, nil},
		{"unknown field in tag", `{"actions":[{"type":"TagsAdd","tags":{"tags":[{"key":"a","Value":"b"}]}}]}`, `actions[0].tags.tags[0]."Value": unknown field`, nil},
		{"duplicate field", `{"actions":[{"type":"TagsAdd","type":"RouteDelete"}]}`, "actions[0].type: duplicate field", nil},
		{"unknown action type", `{"actions":[` + sg + `,{"type":"RunCommand"}]}`, `actions[1].type: unknown action type "RunCommand"; the catalog is: SecurityGroupRuleAuthorize, SecurityGroupRuleRevoke, NetworkACLEntryAdd`, nil},
		{"missing type", `{"actions":[{"reason":"x"}]}`, "actions[0].type is required", nil},
		{"type wrong json type", `{"actions":[{"type":7}]}`, `actions[0].type: want a string, got the number "7"`, nil},
		{"port as string", `{"actions":[{"type":"SecurityGroupRuleAuthorize","securityGroupRule":{"ports":{"from":"443","to":443}}}]}`, `actions[0].securityGroupRule.ports.from: want an integer, got the string "443"`, nil},
		{"port fraction", `{"actions":[{"type":"SecurityGroupRuleAuthorize","securityGroupRule":{"ports":{"from":44.5,"to":443}}}]}`, "ports.from: want an integer that fits in 32 bits", nil},
		{"rule number overflow", `{"actions":[{"type":"NetworkACLEntryAdd","networkACLEntry":{"ruleNumber":4294967297}}]}`, "networkACLEntry.ruleNumber: want an integer that fits in 32 bits", nil},
		{"object where array", `{"actions":{"type":"TagsAdd"}}`, "actions: want an array, got an object", nil},
		{"array where object", `{"actions":[{"type":"TagsAdd","tags":[]}]}`, "actions[0].tags: want an object, got an array", nil},
		{"bool where string", `{"actions":[],"rationale":true}`, "rationale: want a string, got the boolean true", nil},
		{"trailing object", `{"actions":[]}{"actions":[]}`, "trailing data after the proposal object (an object)", nil},
		{"trailing garbage", `{"actions":[]} ok`, "trailing data after the proposal object", nil},
		{"truncated", `{"actions":[` + sg, "decode proposal", nil},
		{"syntax error", `{"actions":[,]}`, "decode proposal", nil},
		{"too many actions", `{"actions":[` + strings.TrimSuffix(strings.Repeat(sg+",", 21), ",") + `]}`, "actions: more than 20 actions", nil},
		{"too large", `{"actions":[],"rationale":"` + strings.Repeat("a", MaxProposalBytes) + `"}`, "more than the 262144 allowed", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Decode([]byte(tc.in))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if tc.check != nil {
					tc.check(t, p)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode accepted %q: %+v", tc.in, p)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %q, want it to contain %q", err, tc.wantErr)
			}
			if p != nil {
				t.Fatalf("Decode returned a proposal with an error")
			}
		})
	}
}

func TestDecode_twentyActionsIsTheLimit(t *testing.T) {
	var as []v1.Action
	for range MaxActions {
		as = append(as, sgRule(v1.ActionSecurityGroupRuleRevoke))
	}
	b, _ := json.Marshal(Proposal{Actions: as})
	if _, err := Decode(b); err != nil {
		t.Fatalf("20 actions refused: %v", err)
	}
}

func TestCatalog(t *testing.T) {
	got := Catalog()
	if len(got) != 15 {
		t.Fatalf("catalog has %d entries, want 15", len(got))
	}
	seen := map[v1.ActionType]bool{}
	for _, typ := range got {
		if seen[typ] {
			t.Errorf("%s listed twice", typ)
		}
		seen[typ] = true
		if !IsCatalogType(typ) || ParamsField(typ) == "" {
			t.Errorf("%s: not recognised", typ)
		}
	}
	if IsCatalogType("DeleteVPC") || ParamsField("") != "" {
		t.Error("non-catalog type recognised")
	}
	got[0] = "Mutated"
	if Catalog()[0] != v1.ActionSecurityGroupRuleAuthorize {
		t.Error("Catalog returns shared memory")
	}
}
