package awscontext

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/plan"
)

// WAFIPSetKey is the snapshot ID of a WAFv2 IP set, the same name
// plan.Resources and plan.BlastRadius use: "wafv2:<scope>/<name>/<id>".
func WAFIPSetKey(scope v1.WAFScope, name, id string) string {
	return plan.WAFIPSetResource(scope, name, id)
}

// resourceRef is one AWS object an action touches.
type resourceRef struct {
	id    string // snapshot ID
	waf   *v1.WAFIPSetParams
	index int
}

// ActionResourceIDs returns the snapshot IDs of the AWS objects action a touches:
// the security group, network ACL, route table (not the route's target), prefix
// list, instance, tagged resource, or WAFIPSetKey(scope, name, id). It fails when the
// action's parameter block is missing or its type is not in the catalog.
func ActionResourceIDs(a v1.Action) ([]string, error) {
	refs, err := actionRefs(0, a)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		ids = append(ids, r.id)
	}
	return ids, nil
}

func actionRefs(i int, a v1.Action) ([]resourceRef, error) {
	missing := func(block string) error {
		return fmt.Errorf("action %d (%s) has no %s parameters: give the %s block", i, a.Type, block, block)
	}
	switch a.Type {
	case v1.ActionSecurityGroupRuleAuthorize, v1.ActionSecurityGroupRuleRevoke:
		if a.SecurityGroupRule == nil {
			return nil, missing("securityGroupRule")
		}
		return []resourceRef{{id: a.SecurityGroupRule.GroupID, index: i}}, nil
	case v1.ActionNetworkACLEntryAdd, v1.ActionNetworkACLEntryRemove:
		if a.NetworkACLEntry == nil {
			return nil, missing("networkACLEntry")
		}
		return []resourceRef{{id: a.NetworkACLEntry.NetworkACLID, index: i}}, nil
	case v1.ActionRouteCreate, v1.ActionRouteReplace, v1.ActionRouteDelete:
		if a.Route == nil {
			return nil, missing("route")
		}
		return []resourceRef{{id: a.Route.RouteTableID, index: i}}, nil
	case v1.ActionPrefixListEntryAdd, v1.ActionPrefixListEntryRemove:
		if a.PrefixListEntry == nil {
			return nil, missing("prefixListEntry")
		}
		return []resourceRef{{id: a.PrefixListEntry.PrefixListID, index: i}}, nil
	case v1.ActionInstanceQuarantine, v1.ActionInstanceRelease:
		if a.Quarantine == nil {
			return nil, missing("quarantine")
		}
		return []resourceRef{{id: a.Quarantine.InstanceID, index: i}}, nil
	case v1.ActionTagsAdd, v1.ActionTagsRemove:
		if a.Tags == nil {
			return nil, missing("tags")
		}
		return []resourceRef{{id: a.Tags.ResourceID, index: i}}, nil
	case v1.ActionWAFIPSetAdd, v1.ActionWAFIPSetRemove:
		if a.WAFIPSet == nil {
			return nil, missing("wafIPSet")
		}
		w := *a.WAFIPSet
		return []resourceRef{{id: WAFIPSetKey(w.Scope, w.Name, w.ID), waf: &w, index: i}}, nil
	default:
		return nil, fmt.Errorf("action %d has type %q, which is not in the action catalog", i, a.Type)
	}
}

// Snapshot describes every distinct AWS object the actions touch and returns one
// entry per object, sorted by ID. Each entry's State is canonical JSON of the
// object's relevant, non-volatile fields (see the state* types in state.go), so the
// same AWS state always gives byte-identical State and any relevant change gives a
// different one. Environment is the lower-cased Environment tag; Protected is true
// when the netchange.io/protected tag is present. An object that does not exist
// fails the whole snapshot with an error wrapping ErrNotFound that names it.
func (o *Observer) Snapshot(ctx context.Context, actions []v1.Action) ([]v1.ResourceSnapshot, error) {
	seen := map[string]resourceRef{}
	for i, a := range actions {
		refs, err := actionRefs(i, a)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		for _, r := range refs {
			if _, ok := seen[r.id]; !ok {
				seen[r.id] = r
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]v1.ResourceSnapshot, 0, len(ids))
	for _, id := range ids {
		s, err := o.snapshotOne(ctx, seen[id])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (o *Observer) snapshotOne(ctx context.Context, r resourceRef) (v1.ResourceSnapshot, error) {
	if r.waf != nil {
		return o.snapshotWAF(ctx, *r.waf)
	}
	prefix, _, _ := strings.Cut(r.id, "-")
	switch prefix {
	case "sg":
		g, err := o.securityGroup(ctx, r.id)
		if err != nil {
			return v1.ResourceSnapshot{}, err
		}
		return snapshotOf(r.id, KindSecurityGroup, g.Tags, securityGroupState(g))
	case "acl":
		n, err := o.networkACL(ctx, r.id)
		if err != nil {
			return v1.ResourceSnapshot{}, err
		}
		return snapshotOf(r.id, KindNetworkACL, n.Tags, networkACLState(n))
	case "rtb":
		t, err := o.routeTable(ctx, r.id)
		if err != nil {
			return v1.ResourceSnapshot{}, err
		}
		return snapshotOf(r.id, KindRouteTable, t.Tags, routeTableState(t))
	case "pl":
		pl, entries, err := o.prefixList(ctx, r.id)
		if err != nil {
			return v1.ResourceSnapshot{}, err
		}
		return snapshotOf(r.id, KindPrefixList, pl.Tags, prefixListState(pl, entries))
	case "i":
		in, err := o.instance(ctx, r.id)
		if err != nil {
			return v1.ResourceSnapshot{}, err
		}
		return snapshotOf(r.id, KindInstance, in.Tags, instanceState(in))
	case "vpc":
		out, err := o.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{r.id}})
		if err := describeErr("VPC", r.id, err, out != nil && len(out.Vpcs) > 0); err != nil {
			return v1.ResourceSnapshot{}, err
		}
		return snapshotOf(r.id, KindVPC, out.Vpcs[0].Tags, vpcState(out.Vpcs[0]))
	case "subnet":
		out, err := o.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{r.id}})
		if err := describeErr("subnet", r.id, err, out != nil && len(out.Subnets) > 0); err != nil {
			return v1.ResourceSnapshot{}, err
		}
		return snapshotOf(r.id, KindSubnet, out.Subnets[0].Tags, subnetState(out.Subnets[0]))
	case "eni":
		out, err := o.ec2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{r.id}})
		if err := describeErr("network interface", r.id, err, out != nil && len(out.NetworkInterfaces) > 0); err != nil {
			return v1.ResourceSnapshot{}, err
		}
		n := out.NetworkInterfaces[0]
		return snapshotOf(r.id, KindNetworkInterface, n.TagSet, networkInterfaceState(n))
	case "igw":
		out, err := o.ec2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{InternetGatewayIds: []string{r.id}})
		if err := describeErr("internet gateway", r.id, err, out != nil && len(out.InternetGateways) > 0); err != nil {
			return v1.ResourceSnapshot{}, err
		}
		g := out.InternetGateways[0]
		return snapshotOf(r.id, KindInternetGateway, g.Tags, internetGatewayState(g))
	default:
		return v1.ResourceSnapshot{}, fmt.Errorf("snapshot %s: %w: netchange observes sg-, acl-, rtb-, pl-, i-, vpc-, subnet-, eni- and igw- resources and WAF IP sets", r.id, ErrUnsupported)
	}
}

// describeErr turns a Describe call's outcome into nil, a NotFound error or a
// wrapped AWS error.
func describeErr(what, id string, err error, found bool) error {
	switch {
	case err != nil && isNotFound(err):
		return fmt.Errorf("%s %s: %w (%w)", what, id, ErrNotFound, err)
	case err != nil:
		return fmt.Errorf("describe %s %s: %w", what, id, err)
	case !found:
		return fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	}
	return nil
}

func snapshotOf(id, kind string, tags []ec2types.Tag, state any) (v1.ResourceSnapshot, error) {
	env, protected := envAndProtected(tags)
	b, err := canonicalJSON(state)
	if err != nil {
		return v1.ResourceSnapshot{}, fmt.Errorf("encode state of %s %s: %w", kind, id, err)
	}
	return v1.ResourceSnapshot{ID: id, Kind: kind, Environment: env, Protected: protected, State: b}, nil
}

func canonicalJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (o *Observer) securityGroup(ctx context.Context, id string) (ec2types.SecurityGroup, error) {
	out, err := o.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	if err := describeErr("security group", id, err, out != nil && len(out.SecurityGroups) > 0); err != nil {
		return ec2types.SecurityGroup{}, err
	}
	return out.SecurityGroups[0], nil
}

func (o *Observer) networkACL(ctx context.Context, id string) (ec2types.NetworkAcl, error) {
	out, err := o.ec2.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{NetworkAclIds: []string{id}})
	if err := describeErr("network ACL", id, err, out != nil && len(out.NetworkAcls) > 0); err != nil {
		return ec2types.NetworkAcl{}, err
	}
	return out.NetworkAcls[0], nil
}

func (o *Observer) routeTable(ctx context.Context, id string) (ec2types.RouteTable, error) {
	out, err := o.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{id}})
	if err := describeErr("route table", id, err, out != nil && len(out.RouteTables) > 0); err != nil {
		return ec2types.RouteTable{}, err
	}
	return out.RouteTables[0], nil
}

func (o *Observer) instance(ctx context.Context, id string) (ec2types.Instance, error) {
	out, err := o.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	found := false
	var inst ec2types.Instance
	if err == nil && out != nil {
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				if aws.ToString(in.InstanceId) == id {
					inst, found = in, true
				}
			}
		}
	}
	if err := describeErr("instance", id, err, found); err != nil {
		return ec2types.Instance{}, err
	}
	return inst, nil
}

func (o *Observer) prefixList(ctx context.Context, id string) (ec2types.ManagedPrefixList, []ec2types.PrefixListEntry, error) {
	out, err := o.ec2.DescribeManagedPrefixLists(ctx, &ec2.DescribeManagedPrefixListsInput{PrefixListIds: []string{id}})
	if err := describeErr("prefix list", id, err, out != nil && len(out.PrefixLists) > 0); err != nil {
		return ec2types.ManagedPrefixList{}, nil, err
	}
	entries, err := o.prefixListEntries(ctx, id)
	if err != nil {
		return ec2types.ManagedPrefixList{}, nil, err
	}
	return out.PrefixLists[0], entries, nil
}

func (o *Observer) prefixListEntries(ctx context.Context, id string) ([]ec2types.PrefixListEntry, error) {
	var entries []ec2types.PrefixListEntry
	p := ec2.NewGetManagedPrefixListEntriesPaginator(o.ec2, &ec2.GetManagedPrefixListEntriesInput{PrefixListId: aws.String(id)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err := describeErr("prefix list", id, err, true); err != nil {
			return nil, fmt.Errorf("entries: %w", err)
		}
		entries = append(entries, page.Entries...)
	}
	return entries, nil
}

func (o *Observer) snapshotWAF(ctx context.Context, w v1.WAFIPSetParams) (v1.ResourceSnapshot, error) {
	key := WAFIPSetKey(w.Scope, w.Name, w.ID)
	if o.waf == nil {
		return v1.ResourceSnapshot{}, fmt.Errorf("snapshot WAF IP set %s: no WAFv2 client configured", key)
	}
	set, tags, err := o.ipSet(ctx, w.Name, w.ID, waftypes.Scope(w.Scope))
	if err != nil {
		return v1.ResourceSnapshot{}, err
	}
	env, protected := wafEnvAndProtected(tags)
	b, err := canonicalJSON(wafIPSetState(set, w.Scope, tags))
	if err != nil {
		return v1.ResourceSnapshot{}, fmt.Errorf("encode state of WAF IP set %s: %w", key, err)
	}
	return v1.ResourceSnapshot{ID: key, Kind: KindWAFIPSet, Environment: env, Protected: protected, State: b}, nil
}

func (o *Observer) ipSet(ctx context.Context, name, id string, scope waftypes.Scope) (*waftypes.IPSet, []waftypes.Tag, error) {
	key := WAFIPSetKey(v1.WAFScope(scope), name, id)
	out, err := o.waf.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: aws.String(name), Id: aws.String(id), Scope: scope})
	if err := describeErr("WAF IP set", key, err, out != nil && out.IPSet != nil); err != nil {
		return nil, nil, err
	}
	var tags []waftypes.Tag
	if arn := aws.ToString(out.IPSet.ARN); arn != "" {
		t, err := o.waf.ListTagsForResource(ctx, &wafv2.ListTagsForResourceInput{ResourceARN: aws.String(arn)})
		if err := describeErr("WAF IP set", key, err, true); err != nil {
			return nil, nil, fmt.Errorf("tags: %w", err)
		}
		if t.TagInfoForResource != nil {
			tags = t.TagInfoForResource.TagList
		}
	}
	return out.IPSet, tags, nil
}
