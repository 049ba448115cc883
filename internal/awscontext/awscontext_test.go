package awscontext_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/awscontext"
	"github.com/netchange-io/netchange/test/estate"
)

// world is a moto server with the seeded estate.
type world struct {
	est *estate.Estate
	cfg aws.Config
	obs *awscontext.Observer
	ec2 *ec2.Client
	waf *wafv2.Client
}

func seed(t *testing.T) *world {
	t.Helper()
	e, cfg := estate.StartSeeded(t)
	return &world{est: e, cfg: cfg, obs: awscontext.NewFromConfig(cfg), ec2: ec2.NewFromConfig(cfg), waf: wafv2.NewFromConfig(cfg)}
}

func actionsFor(e *estate.Estate) []v1.Action {
	return []v1.Action{
		{Type: v1.ActionNetworkACLEntryAdd, NetworkACLEntry: &v1.NetworkACLEntryParams{NetworkACLID: e.ProdNACL, RuleNumber: 1, Direction: v1.DirectionIngress, RuleAction: v1.RuleActionDeny, Protocol: v1.ProtocolAll, CIDR: "203.0.113.0/24"}},
		{Type: v1.ActionNetworkACLEntryAdd, NetworkACLEntry: &v1.NetworkACLEntryParams{NetworkACLID: e.ProdNACL, RuleNumber: 2, Direction: v1.DirectionIngress, RuleAction: v1.RuleActionDeny, Protocol: v1.ProtocolAll, CIDR: "198.51.100.0/24"}},
		{Type: v1.ActionSecurityGroupRuleAuthorize, SecurityGroupRule: &v1.SecurityGroupRuleParams{GroupID: e.ProdDBSG, Direction: v1.DirectionIngress, Protocol: v1.ProtocolTCP, Ports: &v1.PortRange{From: 5432, To: 5432}, CIDR: "10.0.1.0/24"}},
		{Type: v1.ActionRouteCreate, Route: &v1.RouteParams{RouteTableID: e.ProdRouteTable, DestinationCIDR: "10.50.0.0/16", TargetType: v1.RouteTargetGateway, TargetID: e.ProdIGW}},
		{Type: v1.ActionPrefixListEntryAdd, PrefixListEntry: &v1.PrefixListEntryParams{PrefixListID: e.BlockList, CIDR: "198.51.100.7/32"}},
		{Type: v1.ActionInstanceQuarantine, Quarantine: &v1.QuarantineParams{InstanceID: e.CryptoInstance, VPCID: e.ProdVPC, OriginalGroupIDs: []string{e.ProdWebSG}}},
		{Type: v1.ActionTagsAdd, Tags: &v1.TagsParams{ResourceID: e.ProdVPC, Tags: []v1.Tag{{Key: "owner", Value: "net"}}}},
		{Type: v1.ActionTagsAdd, Tags: &v1.TagsParams{ResourceID: e.ProdSubnets[0], Tags: []v1.Tag{{Key: "owner", Value: "net"}}}},
		{Type: v1.ActionTagsAdd, Tags: &v1.TagsParams{ResourceID: e.ProdIGW, Tags: []v1.Tag{{Key: "owner", Value: "net"}}}},
		{Type: v1.ActionTagsRemove, Tags: &v1.TagsParams{ResourceID: e.ProdENI, Tags: []v1.Tag{{Key: "Name", Value: "prod-spare-eni"}}}},
		{Type: v1.ActionWAFIPSetAdd, WAFIPSet: &v1.WAFIPSetParams{Name: e.WAFIPSet.Name, ID: e.WAFIPSet.ID, Scope: v1.WAFScopeRegional, Addresses: []string{"198.51.100.7/32"}}},
	}
}

func TestObserver_Snapshot(t *testing.T) {
	w := seed(t)
	ctx := context.Background()
	e := w.est
	snap, err := w.obs.Snapshot(ctx, actionsFor(e))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		kind, env string
		protected bool
	}{
		e.ProdNACL:       {awscontext.KindNetworkACL, "production", false},
		e.ProdDBSG:       {awscontext.KindSecurityGroup, "production", true},
		e.ProdRouteTable: {awscontext.KindRouteTable, "production", false},
		e.BlockList:      {awscontext.KindPrefixList, "production", false},
		e.CryptoInstance: {awscontext.KindInstance, "production", false},
		e.ProdVPC:        {awscontext.KindVPC, "production", false},
		e.ProdSubnets[0]: {awscontext.KindSubnet, "production", false},
		e.ProdIGW:        {awscontext.KindInternetGateway, "production", false},
		e.ProdENI:        {awscontext.KindNetworkInterface, "production", false},
		awscontext.WAFIPSetKey(v1.WAFScopeRegional, e.WAFIPSet.Name, e.WAFIPSet.ID): {awscontext.KindWAFIPSet, "production", false},
	}
	if len(snap) != len(want) {
		t.Fatalf("got %d snapshot entries, want one per distinct object (%d): %+v", len(snap), len(want), snap)
	}
	for i, s := range snap {
		if i > 0 && snap[i-1].ID >= s.ID {
			t.Errorf("snapshot not sorted by ID: %s before %s", snap[i-1].ID, s.ID)
		}
		wt, ok := want[s.ID]
		if !ok {
			t.Errorf("unexpected snapshot entry %s", s.ID)
			continue
		}
		if s.Kind != wt.kind || s.Environment != wt.env || s.Protected != wt.protected {
			t.Errorf("%s = kind %s env %q protected %v, want %s %q %v", s.ID, s.Kind, s.Environment, s.Protected, wt.kind, wt.env, wt.protected)
		}
		if !json.Valid([]byte(s.State)) || len(s.State) > 32768 {
			t.Errorf("%s state is not bounded JSON: %s", s.ID, s.State)
		}
	}

	// The state says what a reviewer needs: NACL rule 100, the instance's groups,
	// the route's target, the prefix list's entries, the WAF addresses.
	state := func(id string) string {
		for _, s := range snap {
			if s.ID == id {
				return s.State
			}
		}
		return ""
	}
	for id, frag := range map[string]string{
		e.ProdNACL:       `{"egress":false,"ruleNumber":100,"ruleAction":"allow","protocol":"all","cidr":"0.0.0.0/0"`,
		e.CryptoInstance: `"securityGroups":["` + e.ProdWebSG + `"],"state":"running"`,
		e.ProdRouteTable: `{"destination":"0.0.0.0/0","targetType":"gateway","targetID":"` + e.ProdIGW + `"}`,
		e.BlockList:      `"maxEntries":50,"entries":[{"cidr":"192.0.2.66/32","description":"seeded"}]`,
		awscontext.WAFIPSetKey(v1.WAFScopeRegional, e.WAFIPSet.Name, e.WAFIPSet.ID): `"addresses":["192.0.2.66/32"]`,
		e.ProdIGW:        `"vpcs":["` + e.ProdVPC + `"]`,
		e.ProdSubnets[0]: `"cidr":"10.0.1.0/24"`,
		e.ProdENI:        `"subnetID":"` + e.ProdSubnets[1] + `"`,
	} {
		if !strings.Contains(state(id), frag) {
			t.Errorf("state of %s = %s, want it to contain %s", id, state(id), frag)
		}
	}
}

func TestObserver_Snapshot_deterministic(t *testing.T) {
	w := seed(t)
	ctx := context.Background()
	acts := actionsFor(w.est)
	first, err := w.obs.Snapshot(ctx, acts)
	if err != nil {
		t.Fatal(err)
	}
	// Same objects, actions in reverse order, a second observer: byte-identical.
	rev := make([]v1.Action, len(acts))
	for i := range acts {
		rev[len(acts)-1-i] = acts[i]
	}
	second, err := awscontext.NewFromConfig(w.cfg).Snapshot(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(second)
	if string(a) != string(b) {
		t.Errorf("snapshots of the same AWS state differ:\n%s\n%s", a, b)
	}
}

func TestObserver_Snapshot_notFound(t *testing.T) {
	w := seed(t)
	ctx := context.Background()
	e := w.est
	for name, a := range map[string]v1.Action{
		"security group": {Type: v1.ActionSecurityGroupRuleRevoke, SecurityGroupRule: &v1.SecurityGroupRuleParams{GroupID: "sg-0123456789abcdef0", Direction: v1.DirectionIngress, Protocol: v1.ProtocolAll, CIDR: "10.0.0.0/8"}},
		"network ACL":    {Type: v1.ActionNetworkACLEntryRemove, NetworkACLEntry: &v1.NetworkACLEntryParams{NetworkACLID: "acl-0123456789abcdef0", RuleNumber: 5, Direction: v1.DirectionIngress, RuleAction: v1.RuleActionDeny, Protocol: v1.ProtocolAll, CIDR: "10.0.0.0/8"}},
		"route table":    {Type: v1.ActionRouteDelete, Route: &v1.RouteParams{RouteTableID: "rtb-0123456789abcdef0", DestinationCIDR: "10.9.0.0/16"}},
		"instance":       {Type: v1.ActionInstanceQuarantine, Quarantine: &v1.QuarantineParams{InstanceID: "i-0123456789abcdef0", VPCID: e.ProdVPC, OriginalGroupIDs: []string{e.ProdWebSG}}},
		"prefix list":    {Type: v1.ActionPrefixListEntryAdd, PrefixListEntry: &v1.PrefixListEntryParams{PrefixListID: "pl-0123456789abcdef0", CIDR: "10.0.0.0/8"}},
		"subnet":         {Type: v1.ActionTagsAdd, Tags: &v1.TagsParams{ResourceID: "subnet-0123456789abcdef0", Tags: []v1.Tag{{Key: "a"}}}},
		"WAF IP set":     {Type: v1.ActionWAFIPSetAdd, WAFIPSet: &v1.WAFIPSetParams{Name: "nope", ID: "11111111-2222-3333-4444-555555555555", Scope: v1.WAFScopeRegional, Addresses: []string{"10.0.0.1/32"}}},
	} {
		t.Run(name, func(t *testing.T) {
			existing := actionsFor(e)[0]
			_, err := w.obs.Snapshot(ctx, []v1.Action{existing, a})
			if !errors.Is(err, awscontext.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			ids, _ := awscontext.ActionResourceIDs(a)
			if !strings.Contains(err.Error(), strings.TrimPrefix(ids[0], "wafv2:REGIONAL/")) {
				t.Errorf("error %q does not name %s", err, ids[0])
			}
		})
	}
}

func TestObserver_Snapshot_changes(t *testing.T) {
	w := seed(t)
	ctx := context.Background()
	e := w.est
	acts := actionsFor(e)
	before, err := w.obs.Snapshot(ctx, acts)
	if err != nil {
		t.Fatal(err)
	}
	// Change some objects through the SDK, as someone else would.
	if _, err := w.ec2.CreateNetworkAclEntry(ctx, &ec2.CreateNetworkAclEntryInput{NetworkAclId: aws.String(e.ProdNACL), RuleNumber: aws.Int32(7), Egress: aws.Bool(false), Protocol: aws.String("-1"), RuleAction: ec2types.RuleActionDeny, CidrBlock: aws.String("192.0.2.0/24")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ec2.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String(e.ProdRouteTable), DestinationCidrBlock: aws.String("0.0.0.0/0"), NetworkInterfaceId: aws.String(e.ProdENI)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ec2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{e.ProdDBSG}, Tags: []ec2types.Tag{{Key: aws.String(awscontext.TagProtected)}}}); err != nil {
		t.Fatal(err)
	}
	got, err := w.ip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.waf.UpdateIPSet(ctx, &wafv2.UpdateIPSetInput{Name: aws.String(e.WAFIPSet.Name), Id: aws.String(e.WAFIPSet.ID), Scope: waftypes.ScopeRegional, LockToken: got.LockToken, Addresses: []string{"192.0.2.66/32", "198.51.100.9/32"}}); err != nil {
		t.Fatal(err)
	}
	after, err := w.obs.Snapshot(ctx, acts)
	if err != nil {
		t.Fatal(err)
	}
	changed := map[string]bool{}
	for i := range before {
		if before[i].ID != after[i].ID {
			t.Fatalf("snapshot IDs changed: %s vs %s", before[i].ID, after[i].ID)
		}
		changed[before[i].ID] = before[i].State != after[i].State || before[i].Protected != after[i].Protected
	}
	wafKey := awscontext.WAFIPSetKey(v1.WAFScopeRegional, e.WAFIPSet.Name, e.WAFIPSet.ID)
	want := map[string]bool{e.ProdNACL: true, e.ProdRouteTable: true, e.ProdDBSG: true, wafKey: true,
		e.BlockList: false, e.CryptoInstance: false, e.ProdVPC: false, e.ProdSubnets[0]: false, e.ProdIGW: false, e.ProdENI: false}
	for id, w := range want {
		if changed[id] != w {
			t.Errorf("%s changed = %v, want %v", id, changed[id], w)
		}
	}
	for _, s := range after {
		if s.ID == e.ProdDBSG && s.Protected {
			t.Errorf("prod-db still reported protected after its tag was removed")
		}
	}

	// A prefix list write bumps its version; only a change of entries changes State.
	pl, err := w.ec2.DescribeManagedPrefixLists(ctx, &ec2.DescribeManagedPrefixListsInput{PrefixListIds: []string{e.BlockList}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ec2.ModifyManagedPrefixList(ctx, &ec2.ModifyManagedPrefixListInput{PrefixListId: aws.String(e.BlockList), CurrentVersion: pl.PrefixLists[0].Version, AddEntries: []ec2types.AddPrefixListEntry{{Cidr: aws.String("198.51.100.7/32")}}}); err != nil {
		t.Fatal(err)
	}
	plAfter, err := w.obs.Snapshot(ctx, acts[4:5])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plAfter[0].State, "198.51.100.7/32") {
		t.Errorf("prefix list state %s misses the added entry", plAfter[0].State)
	}
}

func (w *world) ip(ctx context.Context) (*wafv2.GetIPSetOutput, error) {
	return w.waf.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: aws.String(w.est.WAFIPSet.Name), Id: aws.String(w.est.WAFIPSet.ID), Scope: waftypes.ScopeRegional})
}

func TestActionResourceIDs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		action  v1.Action
		want    string
		wantErr string
	}{
		{"route table, not target", v1.Action{Type: v1.ActionRouteCreate, Route: &v1.RouteParams{RouteTableID: "rtb-01234567", TargetID: "igw-01234567"}}, "rtb-01234567", ""},
		{"waf key", v1.Action{Type: v1.ActionWAFIPSetRemove, WAFIPSet: &v1.WAFIPSetParams{Name: "bl", ID: "x-1", Scope: v1.WAFScopeRegional}}, "wafv2:REGIONAL/bl/x-1", ""},
		{"missing block", v1.Action{Type: v1.ActionInstanceQuarantine}, "", "no quarantine parameters"},
		{"unknown type", v1.Action{Type: "DeleteVpc"}, "", "not in the action catalog"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, err := awscontext.ActionResourceIDs(tc.action)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(ids) != 1 || ids[0] != tc.want {
				t.Fatalf("ids = %v, %v; want [%s]", ids, err, tc.want)
			}
		})
	}
}

func TestObserver_Snapshot_unsupported(t *testing.T) {
	obs := awscontext.New(nil, nil)
	_, err := obs.Snapshot(context.Background(), []v1.Action{{Type: v1.ActionTagsAdd, Tags: &v1.TagsParams{ResourceID: "nat-0123456789abcdef0", Tags: []v1.Tag{{Key: "a"}}}}})
	if !errors.Is(err, awscontext.ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
}
