package awsapply_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/awsapply"
	"github.com/netchange-io/netchange/test/awsproxy"
)

const uid = "0d6f3f5e-1111-4222-8333-944445555666"

// catalogCase is one catalog action with what moto must show after apply and after rollback.
type catalogCase struct {
	name string
	// call is the mutating operation the action makes exactly once.
	call     string
	setup    func(t *testing.T, w *world)
	action   func(w *world) v1.Action
	applied  func(t *testing.T, w *world) string // "" when moto shows the change
	reverted func(t *testing.T, w *world) string // "" when moto shows the pre-state
}

func want(cond bool, format string, args ...any) string {
	if cond {
		return ""
	}
	return fmt.Sprintf(format, args...)
}

func catalogCases() []catalogCase {
	sgAction := func(typ v1.ActionType, group func(w *world) string, dir v1.Direction, port int32, cidr string) func(w *world) v1.Action {
		return func(w *world) v1.Action {
			return v1.Action{Type: typ, SecurityGroupRule: &v1.SecurityGroupRuleParams{GroupID: group(w), Direction: dir, Protocol: v1.ProtocolTCP,
				Ports: &v1.PortRange{From: port, To: port}, CIDR: cidr}}
		}
	}
	web := func(w *world) string { return w.sg }
	quarantine := func(w *world) *v1.QuarantineParams {
		return &v1.QuarantineParams{InstanceID: w.instance, VPCID: w.vpc, OriginalGroupIDs: []string{w.sg, w.sg2}, ForensicsCIDR: "10.0.99.0/24"}
	}
	isQuarantined := func(t *testing.T, w *world) string {
		gs, tags := w.instanceGroups(t)
		if len(gs) != 1 || !strings.HasPrefix(w.tagsOf(t, gs[0])["Name"], awsapply.QuarantineGroupPrefix) {
			return fmt.Sprintf("instance groups %v, want only the quarantine group", gs)
		}
		q := w.group(t, gs[0])
		if len(q.IpPermissions) != 0 || len(q.IpPermissionsEgress) != 1 || len(q.IpPermissionsEgress[0].IpRanges) != 1 ||
			aws.ToString(q.IpPermissionsEgress[0].IpRanges[0].CidrIp) != "10.0.99.0/24" {
			return fmt.Sprintf("quarantine group ingress %v egress %v, want no ingress and egress only to 10.0.99.0/24", q.IpPermissions, q.IpPermissionsEgress)
		}
		if w.tagsOf(t, gs[0])[v1.TagRequestUID] != uid {
			return "quarantine group is not tagged with the request uid"
		}
		return want(tags[awsapply.TagQuarantined] == uid, "instance tags %v, want %s=%s", tags, awsapply.TagQuarantined, uid)
	}
	isReleased := func(t *testing.T, w *world) string {
		gs, tags := w.instanceGroups(t)
		_, tagged := tags[awsapply.TagQuarantined]
		return want(reflect.DeepEqual(gs, sorted(w.sg, w.sg2)) && !tagged, "instance groups %v tags %v, want the original groups and no quarantine tag", gs, tags)
	}
	return []catalogCase{{
		name: "authorize ingress", call: "AuthorizeSecurityGroupIngress",
		action: sgAction(v1.ActionSecurityGroupRuleAuthorize, web, v1.DirectionIngress, 443, "203.0.113.0/24"),
		applied: func(t *testing.T, w *world) string {
			return want(w.sgRules(t, w.sg, false, "tcp", 443, "203.0.113.0/24") == 1, "rule missing")
		},
		reverted: func(t *testing.T, w *world) string {
			return want(w.sgRules(t, w.sg, false, "tcp", 443, "203.0.113.0/24") == 0, "rule still there")
		},
	}, {
		name: "revoke ingress", call: "RevokeSecurityGroupIngress",
		action: sgAction(v1.ActionSecurityGroupRuleRevoke, web, v1.DirectionIngress, 22, "198.51.100.0/24"),
		applied: func(t *testing.T, w *world) string {
			return want(w.sgRules(t, w.sg, false, "tcp", 22, "198.51.100.0/24") == 0, "rule still there")
		},
		reverted: func(t *testing.T, w *world) string {
			return want(w.sgRules(t, w.sg, false, "tcp", 22, "198.51.100.0/24") == 1, "rule not restored")
		},
	}, {
		name: "authorize egress", call: "AuthorizeSecurityGroupEgress",
		action: sgAction(v1.ActionSecurityGroupRuleAuthorize, web, v1.DirectionEgress, 5432, "10.0.0.0/16"),
		applied: func(t *testing.T, w *world) string {
			return want(w.sgRules(t, w.sg, true, "tcp", 5432, "10.0.0.0/16") == 1, "egress rule missing")
		},
		reverted: func(t *testing.T, w *world) string {
			return want(w.sgRules(t, w.sg, true, "tcp", 5432, "10.0.0.0/16") == 0, "egress rule still there")
		},
	}, {
		name: "revoke egress", call: "RevokeSecurityGroupEgress",
		setup: func(t *testing.T, w *world) {
			if _, err := w.app.Apply(t.Context(), sgAction(v1.ActionSecurityGroupRuleAuthorize, web, v1.DirectionEgress, 25, "0.0.0.0/0")(w), uid); err != nil {
				t.Fatal(err)
			}
		},
		action: sgAction(v1.ActionSecurityGroupRuleRevoke, web, v1.DirectionEgress, 25, "0.0.0.0/0"),
		applied: func(t *testing.T, w *world) string {
			return want(w.sgRules(t, w.sg, true, "tcp", 25, "0.0.0.0/0") == 0, "egress rule still there")
		},
		reverted: func(t *testing.T, w *world) string {
			return want(w.sgRules(t, w.sg, true, "tcp", 25, "0.0.0.0/0") == 1, "egress rule not restored")
		},
	}, {
		name: "NACL entry add", call: "CreateNetworkAclEntry",
		action: func(w *world) v1.Action {
			return v1.Action{Type: v1.ActionNetworkACLEntryAdd, NetworkACLEntry: &v1.NetworkACLEntryParams{NetworkACLID: w.acl, RuleNumber: 100,
				Direction: v1.DirectionIngress, RuleAction: v1.RuleActionDeny, Protocol: v1.ProtocolAll, CIDR: "203.0.113.0/24"}}
		},
		applied: func(t *testing.T, w *world) string {
			es := w.naclEntries(t, 100, false)
			return want(len(es) == 1 && es[0].RuleAction == "deny" && aws.ToString(es[0].CidrBlock) == "203.0.113.0/24", "entries %v", es)
		},
		reverted: func(t *testing.T, w *world) string {
			return want(len(w.naclEntries(t, 100, false)) == 0, "entry still there")
		},
	}, {
		name: "NACL entry remove", call: "DeleteNetworkAclEntry",
		action: func(w *world) v1.Action {
			return v1.Action{Type: v1.ActionNetworkACLEntryRemove, NetworkACLEntry: &v1.NetworkACLEntryParams{NetworkACLID: w.acl, RuleNumber: 200,
				Direction: v1.DirectionIngress, RuleAction: v1.RuleActionAllow, Protocol: v1.ProtocolTCP, Ports: &v1.PortRange{From: 443, To: 443}, CIDR: "0.0.0.0/0"}}
		},
		applied: func(t *testing.T, w *world) string {
			return want(len(w.naclEntries(t, 200, false)) == 0, "entry still there")
		},
		reverted: func(t *testing.T, w *world) string {
			es := w.naclEntries(t, 200, false)
			return want(len(es) == 1 && es[0].RuleAction == "allow" && es[0].PortRange != nil && aws.ToInt32(es[0].PortRange.From) == 443, "entries %v", es)
		},
	}, {
		name: "route create", call: "CreateRoute",
		action: func(w *world) v1.Action {
			return v1.Action{Type: v1.ActionRouteCreate, Route: &v1.RouteParams{RouteTableID: w.rtb, DestinationCIDR: "203.0.113.0/24", TargetType: v1.RouteTargetGateway, TargetID: w.igw}}
		},
		applied: func(t *testing.T, w *world) string {
			return want(reflect.DeepEqual(w.routeTargets(t, "203.0.113.0/24"), []string{w.igw}), "routes %v", w.routeTargets(t, "203.0.113.0/24"))
		},
		reverted: func(t *testing.T, w *world) string {
			return want(len(w.routeTargets(t, "203.0.113.0/24")) == 0, "route still there")
		},
	}, {
		name: "route replace", call: "ReplaceRoute",
		action: func(w *world) v1.Action {
			return v1.Action{Type: v1.ActionRouteReplace, Route: &v1.RouteParams{RouteTableID: w.rtb, DestinationCIDR: "0.0.0.0/0", TargetType: v1.RouteTargetGateway, TargetID: w.igw2,
				PreviousTargetType: v1.RouteTargetGateway, PreviousTargetID: w.igw}}
		},
		applied: func(t *testing.T, w *world) string {
			return want(reflect.DeepEqual(w.routeTargets(t, "0.0.0.0/0"), []string{w.igw2}), "routes %v", w.routeTargets(t, "0.0.0.0/0"))
		},
		reverted: func(t *testing.T, w *world) string {
			return want(reflect.DeepEqual(w.routeTargets(t, "0.0.0.0/0"), []string{w.igw}), "routes %v", w.routeTargets(t, "0.0.0.0/0"))
		},
	}, {
		name: "route delete", call: "DeleteRoute",
		action: func(w *world) v1.Action {
			return v1.Action{Type: v1.ActionRouteDelete, Route: &v1.RouteParams{RouteTableID: w.rtb, DestinationCIDR: "0.0.0.0/0", PreviousTargetType: v1.RouteTargetGateway, PreviousTargetID: w.igw}}
		},
		applied: func(t *testing.T, w *world) string {
			return want(len(w.routeTargets(t, "0.0.0.0/0")) == 0, "route still there")
		},
		reverted: func(t *testing.T, w *world) string {
			return want(reflect.DeepEqual(w.routeTargets(t, "0.0.0.0/0"), []string{w.igw}), "routes %v", w.routeTargets(t, "0.0.0.0/0"))
		},
	}, {
		name: "prefix list add", call: "ModifyManagedPrefixList",
		action: func(w *world) v1.Action {
			return v1.Action{Type: v1.ActionPrefixListEntryAdd, PrefixListEntry: &v1.PrefixListEntryParams{PrefixListID: w.pl, CIDR: "203.0.113.0/24", Description: "block"}}
		},
		applied: func(t *testing.T, w *world) string {
			return want(w.prefixEntries(t, "203.0.113.0/24") == 1, "entry missing")
		},
		reverted: func(t *testing.T, w *world) string {
			return want(w.prefixEntries(t, "203.0.113.0/24") == 0, "entry still there")
		},
	}, {
		name: "prefix list remove", call: "ModifyManagedPrefixList",
		action: func(w *world) v1.Action {
			return v1.Action{Type: v1.ActionPrefixListEntryRemove, PrefixListEntry: &v1.PrefixListEntryParams{PrefixListID: w.pl, CIDR: "192.0.2.0/24"}}
		},
		applied: func(t *testing.T, w *world) string {
			return want(w.prefixEntries(t, "192.0.2.0/24") == 0, "entry still there")
		},
		reverted: func(t *testing.T, w *world) string {
			return want(w.prefixEntries(t, "192.0.2.0/24") == 1, "entry not restored")
		},
	}, {
		name: "instance quarantine", call: "ModifyInstanceAttribute",
		action: func(w *world) v1.Action {
			return v1.Action{Type: v1.ActionInstanceQuarantine, Quarantine: quarantine(w)}
		},
		applied:  isQuarantined,
		reverted: isReleased,
	}, {
		name: "instance release", call: "ModifyInstanceAttribute",
		setup: func(t *testing.T, w *world) {
			if _, err := w.app.Apply(t.Context(), v1.Action{Type: v1.ActionInstanceQuarantine, Quarantine: quarantine(w)}, uid); err != nil {
				t.Fatal(err)
			}
		},
		action:   func(w *world) v1.Action { return v1.Action{Type: v1.ActionInstanceRelease, Quarantine: quarantine(w)} },
		applied:  isReleased,
		reverted: isQuarantined,
	}, {
		name: "tags add", call: "CreateTags",
		action: func(w *world) v1.Action {
			return v1.Action{Type: v1.ActionTagsAdd, Tags: &v1.TagsParams{ResourceID: w.sg, Tags: []v1.Tag{{Key: "Owner", Value: "secops"}}}}
		},
		applied: func(t *testing.T, w *world) string {
			return want(w.tagsOf(t, w.sg)["Owner"] == "secops", "tags %v", w.tagsOf(t, w.sg))
		},
		reverted: func(t *testing.T, w *world) string {
			_, ok := w.tagsOf(t, w.sg)["Owner"]
			return want(!ok, "tag still there")
		},
	}, {
		name: "tags remove", call: "DeleteTags",
		setup: func(t *testing.T, w *world) {
			if _, err := w.app.Apply(t.Context(), v1.Action{Type: v1.ActionTagsAdd, Tags: &v1.TagsParams{ResourceID: w.sg, Tags: []v1.Tag{{Key: "Team", Value: "web"}}}}, uid); err != nil {
				t.Fatal(err)
			}
		},
		action: func(w *world) v1.Action {
			return v1.Action{Type: v1.ActionTagsRemove, Tags: &v1.TagsParams{ResourceID: w.sg, Tags: []v1.Tag{{Key: "Team", Value: "web"}}}}
		},
		applied: func(t *testing.T, w *world) string {
			_, ok := w.tagsOf(t, w.sg)["Team"]
			return want(!ok, "tag still there")
		},
		reverted: func(t *testing.T, w *world) string {
			return want(w.tagsOf(t, w.sg)["Team"] == "web", "tags %v", w.tagsOf(t, w.sg))
		},
	}, {
		name: "WAF IP set add", call: "UpdateIPSet",
		action: func(w *world) v1.Action {
			return v1.Action{Type: v1.ActionWAFIPSetAdd, WAFIPSet: &v1.WAFIPSetParams{Name: w.ipSetName, ID: w.ipSetID, Scope: v1.WAFScopeRegional, Addresses: []string{"203.0.113.0/24"}}}
		},
		applied: func(t *testing.T, w *world) string {
			return want(reflect.DeepEqual(w.wafAddresses(t), []string{"192.0.2.0/24", "203.0.113.0/24"}), "addresses %v", w.wafAddresses(t))
		},
		reverted: func(t *testing.T, w *world) string {
			return want(reflect.DeepEqual(w.wafAddresses(t), []string{"192.0.2.0/24"}), "addresses %v", w.wafAddresses(t))
		},
	}, {
		name: "WAF IP set remove", call: "UpdateIPSet",
		action: func(w *world) v1.Action {
			return v1.Action{Type: v1.ActionWAFIPSetRemove, WAFIPSet: &v1.WAFIPSetParams{Name: w.ipSetName, ID: w.ipSetID, Scope: v1.WAFScopeRegional, Addresses: []string{"192.0.2.0/24"}}}
		},
		applied: func(t *testing.T, w *world) string {
			return want(len(w.wafAddresses(t)) == 0, "addresses %v", w.wafAddresses(t))
		},
		reverted: func(t *testing.T, w *world) string {
			return want(reflect.DeepEqual(w.wafAddresses(t), []string{"192.0.2.0/24"}), "addresses %v", w.wafAddresses(t))
		},
	}}
}

// Every catalog action: apply, verify and rollback leave moto in the expected
// state, the change is made by exactly one (non-dry-run) call, and Observe tracks it.
func TestApplier_catalog(t *testing.T) {
	w := startWorld(t)
	for _, tc := range catalogCases() {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			w.seed(t)
			if tc.setup != nil {
				tc.setup(t, w)
				w.proxy.Reset()
			}
			act := tc.action(w)
			if ok, _, err := w.app.Observe(ctx, act); err != nil || ok {
				t.Fatalf("Observe before apply = %v, %v; want not in effect", ok, err)
			}
			if msg := tc.reverted(t, w); msg != "" {
				t.Fatalf("pre-state: %s", msg)
			}
			res, err := w.app.Apply(ctx, act, uid)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if msg := tc.applied(t, w); msg != "" {
				t.Fatalf("after apply: %s", msg)
			}
			if n := w.proxy.Forwarded(tc.call); n != 1 {
				t.Errorf("%s reached AWS %d times, want exactly 1 (calls: %s)", tc.call, n, w.proxy.Summary())
			}
			if err := w.app.Verify(ctx, act); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if ok, _, err := w.app.Observe(ctx, act); err != nil || !ok {
				t.Fatalf("Observe after apply = %v, %v; want in effect", ok, err)
			}
			if err := w.app.Rollback(ctx, act, res, uid); err != nil {
				t.Fatalf("Rollback: %v", err)
			}
			if msg := tc.reverted(t, w); msg != "" {
				t.Fatalf("after rollback: %s", msg)
			}
			if err := w.app.Verify(ctx, act); err == nil {
				t.Fatal("Verify after rollback succeeded; want an error saying the change is not in effect")
			}
			// A second rollback (e.g. after a crash during the first) changes nothing.
			before := w.proxy.Summary()
			if err := w.app.Rollback(ctx, act, res, uid); err != nil {
				t.Fatalf("second Rollback: %v", err)
			}
			if after := w.proxy.Summary(); after != before {
				t.Errorf("second rollback made mutating calls: before %q after %q", before, after)
			}
		})
	}
}

// Throttling and 5xx are retried within the budget and the change is applied
// once; a lost response is not repeated; a permanent error is terminal at once.
func TestApplier_faults(t *testing.T) {
	w := startWorld(t)
	nacl := func(w *world) v1.Action {
		return v1.Action{Type: v1.ActionNetworkACLEntryAdd, NetworkACLEntry: &v1.NetworkACLEntryParams{NetworkACLID: w.acl, RuleNumber: 100,
			Direction: v1.DirectionIngress, RuleAction: v1.RuleActionDeny, Protocol: v1.ProtocolAll, CIDR: "203.0.113.0/24"}}
	}
	pl := func(w *world) v1.Action {
		return v1.Action{Type: v1.ActionPrefixListEntryAdd, PrefixListEntry: &v1.PrefixListEntryParams{PrefixListID: w.pl, CIDR: "203.0.113.0/24"}}
	}
	cases := []struct {
		name      string
		action    func(w *world) v1.Action
		call      string
		fault     awsproxy.Fault
		terminal  bool
		retryable bool
		received  int // mutating calls that arrived at the proxy
		forwarded int // of which reached moto
		entries   int // resulting NACL entries / prefix list entries
	}{
		{name: "throttled twice", action: nacl, call: "CreateNetworkAclEntry", fault: awsproxy.Fault{Action: "CreateNetworkAclEntry", Kind: awsproxy.Throttle, Times: 2}, received: 3, forwarded: 1, entries: 1},
		{name: "503 twice", action: pl, call: "ModifyManagedPrefixList", fault: awsproxy.Fault{Action: "ModifyManagedPrefixList", Kind: awsproxy.Unavailable, Times: 2}, received: 3, forwarded: 1, entries: 1},
		{name: "throttled beyond budget", action: nacl, call: "CreateNetworkAclEntry", fault: awsproxy.Fault{Action: "CreateNetworkAclEntry", Kind: awsproxy.Throttle}, retryable: true, received: 5, forwarded: 0, entries: 0},
		{name: "response lost", action: pl, call: "ModifyManagedPrefixList", fault: awsproxy.Fault{Action: "ModifyManagedPrefixList", Kind: awsproxy.DropAfterApply, Times: 1}, received: 1, forwarded: 1, entries: 1},
		{name: "permanent", action: nacl, call: "CreateNetworkAclEntry", fault: awsproxy.Fault{Action: "CreateNetworkAclEntry", Kind: awsproxy.Permanent, Code: "UnauthorizedOperation"}, terminal: true, received: 1, forwarded: 0, entries: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w.seed(t)
			w.proxy.Inject(tc.fault)
			act := tc.action(w)
			_, err := w.app.Apply(t.Context(), act, uid)
			switch {
			case tc.terminal:
				if !awsapply.IsTerminal(err) || !strings.Contains(err.Error(), "UnauthorizedOperation") {
					t.Fatalf("Apply = %v, want a terminal error naming the AWS error", err)
				}
			case tc.retryable:
				if !awsapply.IsRetryable(err) || !strings.Contains(err.Error(), "RequestLimitExceeded") {
					t.Fatalf("Apply = %v, want a retryable error naming RequestLimitExceeded", err)
				}
			case err != nil:
				t.Fatalf("Apply: %v", err)
			}
			if got := w.proxy.Received(tc.call); got != tc.received {
				t.Errorf("%s arrived %d times, want %d", tc.call, got, tc.received)
			}
			if got := w.proxy.Forwarded(tc.call); got != tc.forwarded {
				t.Errorf("%s reached moto %d times, want %d", tc.call, got, tc.forwarded)
			}
			got := 0
			if act.NetworkACLEntry != nil {
				got = len(w.naclEntries(t, 100, false))
			} else {
				got = w.prefixEntries(t, "203.0.113.0/24")
			}
			if got != tc.entries {
				t.Errorf("moto has %d entries, want %d", got, tc.entries)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	if awsapply.Classify(nil) != "" {
		t.Error("Classify(nil) must be empty")
	}
	if got := awsapply.Classify(errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer")); got != awsapply.ClassRetryable {
		t.Errorf("connection reset = %s, want retryable", got)
	}
	if got := awsapply.Classify(errors.New("bad input")); got != awsapply.ClassTerminal {
		t.Errorf("unknown error = %s, want terminal", got)
	}
}
