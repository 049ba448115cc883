package awsapply_test

import (
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
)

// Readers of moto's state, straight through the SDK (not through the applier).

func (w *world) group(t *testing.T, id string) ec2types.SecurityGroup {
	t.Helper()
	out, err := w.ec2.DescribeSecurityGroups(t.Context(), &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	if err != nil || len(out.SecurityGroups) != 1 {
		t.Fatalf("describe %s: %v", id, err)
	}
	return out.SecurityGroups[0]
}

// sgRules counts rules of group with the protocol, port and CIDR.
func (w *world) sgRules(t *testing.T, id string, egress bool, proto string, port int32, cidr string) int {
	t.Helper()
	g := w.group(t, id)
	perms := g.IpPermissions
	if egress {
		perms = g.IpPermissionsEgress
	}
	n := 0
	for _, p := range perms {
		if aws.ToString(p.IpProtocol) != proto || (proto != "-1" && aws.ToInt32(p.FromPort) != port) {
			continue
		}
		for _, r := range p.IpRanges {
			if aws.ToString(r.CidrIp) == cidr {
				n++
			}
		}
	}
	return n
}

func (w *world) naclEntries(t *testing.T, rule int32, egress bool) []ec2types.NetworkAclEntry {
	t.Helper()
	out, err := w.ec2.DescribeNetworkAcls(t.Context(), &ec2.DescribeNetworkAclsInput{NetworkAclIds: []string{w.acl}})
	if err != nil || len(out.NetworkAcls) != 1 {
		t.Fatalf("describe %s: %v", w.acl, err)
	}
	var es []ec2types.NetworkAclEntry
	for _, e := range out.NetworkAcls[0].Entries {
		if aws.ToInt32(e.RuleNumber) == rule && aws.ToBool(e.Egress) == egress {
			es = append(es, e)
		}
	}
	return es
}

// routeTargets returns the gateway IDs of routes to dst (one per route).
func (w *world) routeTargets(t *testing.T, dst string) []string {
	t.Helper()
	out, err := w.ec2.DescribeRouteTables(t.Context(), &ec2.DescribeRouteTablesInput{RouteTableIds: []string{w.rtb}})
	if err != nil || len(out.RouteTables) != 1 {
		t.Fatalf("describe %s: %v", w.rtb, err)
	}
	var ts []string
	for _, r := range out.RouteTables[0].Routes {
		if aws.ToString(r.DestinationCidrBlock) == dst {
			ts = append(ts, aws.ToString(r.GatewayId))
		}
	}
	return ts
}

func (w *world) prefixEntries(t *testing.T, cidr string) int {
	t.Helper()
	out, err := w.ec2.GetManagedPrefixListEntries(t.Context(), &ec2.GetManagedPrefixListEntriesInput{PrefixListId: aws.String(w.pl)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range out.Entries {
		if aws.ToString(e.Cidr) == cidr {
			n++
		}
	}
	return n
}

// instanceGroups returns the instance's groups (DescribeInstances: moto's ENI view
// shows old ∪ new groups after a swap) and tags.
func (w *world) instanceGroups(t *testing.T) ([]string, map[string]string) {
	t.Helper()
	out, err := w.ec2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{InstanceIds: []string{w.instance}})
	if err != nil || len(out.Reservations) != 1 {
		t.Fatalf("describe %s: %v", w.instance, err)
	}
	in := out.Reservations[0].Instances[0]
	var gs []string
	for _, g := range in.SecurityGroups {
		gs = append(gs, aws.ToString(g.GroupId))
	}
	sort.Strings(gs)
	tags := map[string]string{}
	for _, tg := range in.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return gs, tags
}

func (w *world) tagsOf(t *testing.T, id string) map[string]string {
	t.Helper()
	out, err := w.ec2.DescribeTags(t.Context(), &ec2.DescribeTagsInput{Filters: []ec2types.Filter{{Name: aws.String("resource-id"), Values: []string{id}}}})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, tg := range out.Tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

func (w *world) wafAddresses(t *testing.T) []string {
	t.Helper()
	out, err := w.waf.GetIPSet(t.Context(), &wafv2.GetIPSetInput{Name: aws.String(w.ipSetName), Id: aws.String(w.ipSetID), Scope: waftypes.ScopeRegional})
	if err != nil {
		t.Fatal(err)
	}
	a := append([]string(nil), out.IPSet.Addresses...)
	sort.Strings(a)
	return a
}

func sorted(s ...string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
