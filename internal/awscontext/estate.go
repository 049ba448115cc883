package awscontext

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// Estate is a compact inventory of one account and region, for planners to ground
// plans in (the LLM planner serialises it into its prompt). Every list is sorted by ID.
type Estate struct {
	// VPCs are the VPCs.
	VPCs []VPC `json:"vpcs"`
	// Subnets are the subnets.
	Subnets []Subnet `json:"subnets"`
	// NetworkACLs are the network ACLs.
	NetworkACLs []NetworkACL `json:"networkACLs"`
	// SecurityGroups are the security groups.
	SecurityGroups []SecurityGroup `json:"securityGroups"`
	// RouteTables are the route tables.
	RouteTables []RouteTable `json:"routeTables"`
	// Instances are the instances that are not terminated.
	Instances []Instance `json:"instances"`
	// PrefixLists are the customer-managed prefix lists (AWS-managed ones are left out).
	PrefixLists []PrefixList `json:"prefixLists"`
	// WAFIPSets are the REGIONAL WAFv2 IP sets.
	WAFIPSets []WAFIPSet `json:"wafIPSets"`
}

// VPC is one VPC.
type VPC struct {
	// ID is vpc-….
	ID string `json:"id"`
	// CIDR is the primary IPv4 CIDR.
	CIDR string `json:"cidr"`
	// Name is the Name tag.
	Name string `json:"name,omitempty"`
	// Environment is the lower-cased Environment tag.
	Environment string `json:"environment,omitempty"`
	// Protected is true when tagged netchange.io/protected.
	Protected bool `json:"protected,omitempty"`
}

// Subnet is one subnet.
type Subnet struct {
	// ID is subnet-….
	ID string `json:"id"`
	// VPCID is the subnet's VPC.
	VPCID string `json:"vpcID"`
	// CIDR is the subnet's IPv4 CIDR.
	CIDR string `json:"cidr"`
	// NetworkACLID is the network ACL associated with the subnet.
	NetworkACLID string `json:"networkACLID,omitempty"`
	// RouteTableID is the route table explicitly associated with the subnet, or
	// the VPC's main route table.
	RouteTableID string `json:"routeTableID,omitempty"`
	// Name is the Name tag.
	Name string `json:"name,omitempty"`
	// Environment is the lower-cased Environment tag.
	Environment string `json:"environment,omitempty"`
	// Protected is true when tagged netchange.io/protected.
	Protected bool `json:"protected,omitempty"`
}

// NACLEntry is one network ACL entry.
type NACLEntry struct {
	// RuleNumber is the entry's rule number (32767 is the default deny).
	RuleNumber int32 `json:"ruleNumber"`
	// Direction is ingress or egress.
	Direction v1.Direction `json:"direction"`
	// RuleAction is allow or deny.
	RuleAction v1.RuleAction `json:"ruleAction"`
	// Protocol is tcp, udp, icmp, all or an IP protocol number.
	Protocol string `json:"protocol"`
	// CIDR is the IPv4 or IPv6 block matched.
	CIDR string `json:"cidr"`
	// Ports is the port range, for tcp and udp.
	Ports *v1.PortRange `json:"ports,omitempty"`
}

// NetworkACL is one network ACL.
type NetworkACL struct {
	// ID is acl-….
	ID string `json:"id"`
	// VPCID is the ACL's VPC.
	VPCID string `json:"vpcID"`
	// IsDefault is true for the VPC's default ACL.
	IsDefault bool `json:"isDefault,omitempty"`
	// SubnetIDs are the associated subnets.
	SubnetIDs []string `json:"subnetIDs"`
	// Entries are the entries, ingress first, by rule number.
	Entries []NACLEntry `json:"entries"`
	// Name is the Name tag.
	Name string `json:"name,omitempty"`
	// Environment is the lower-cased Environment tag.
	Environment string `json:"environment,omitempty"`
	// Protected is true when tagged netchange.io/protected.
	Protected bool `json:"protected,omitempty"`
}

// SecurityGroup is one security group.
type SecurityGroup struct {
	// ID is sg-….
	ID string `json:"id"`
	// GroupName is the group's AWS name.
	GroupName string `json:"groupName"`
	// Name is the Name tag.
	Name string `json:"name,omitempty"`
	// VPCID is the group's VPC.
	VPCID string `json:"vpcID"`
	// Environment is the lower-cased Environment tag.
	Environment string `json:"environment,omitempty"`
	// Protected is true when tagged netchange.io/protected.
	Protected bool `json:"protected,omitempty"`
}

// Route is one route of a route table.
type Route struct {
	// Destination is the destination CIDR (or prefix list ID).
	Destination string `json:"destination"`
	// TargetType is the next hop's kind ("" for kinds outside the catalog).
	TargetType v1.RouteTargetType `json:"targetType,omitempty"`
	// TargetID is the next hop ("local" for the VPC's local route).
	TargetID string `json:"targetID"`
}

// RouteTable is one route table.
type RouteTable struct {
	// ID is rtb-….
	ID string `json:"id"`
	// VPCID is the table's VPC.
	VPCID string `json:"vpcID"`
	// Main is true for the VPC's main route table.
	Main bool `json:"main,omitempty"`
	// SubnetIDs are the explicitly associated subnets.
	SubnetIDs []string `json:"subnetIDs"`
	// Routes are the routes, by destination.
	Routes []Route `json:"routes"`
	// Name is the Name tag.
	Name string `json:"name,omitempty"`
	// Environment is the lower-cased Environment tag.
	Environment string `json:"environment,omitempty"`
	// Protected is true when tagged netchange.io/protected.
	Protected bool `json:"protected,omitempty"`
}

// Instance is one instance.
type Instance struct {
	// ID is i-….
	ID string `json:"id"`
	// VPCID is the instance's VPC.
	VPCID string `json:"vpcID"`
	// SubnetID is the instance's subnet.
	SubnetID string `json:"subnetID"`
	// PrivateIP is the primary private IPv4 address.
	PrivateIP string `json:"privateIP,omitempty"`
	// GroupIDs are the instance's security groups, sorted.
	GroupIDs []string `json:"groupIDs"`
	// State is the instance state name (running, stopped, ...).
	State string `json:"state"`
	// Name is the Name tag.
	Name string `json:"name,omitempty"`
	// Environment is the lower-cased Environment tag.
	Environment string `json:"environment,omitempty"`
	// Protected is true when tagged netchange.io/protected.
	Protected bool `json:"protected,omitempty"`
}

// PrefixList is one customer-managed prefix list.
type PrefixList struct {
	// ID is pl-….
	ID string `json:"id"`
	// Name is the prefix list's name.
	Name string `json:"name"`
	// MaxEntries is the list's capacity.
	MaxEntries int32 `json:"maxEntries"`
	// Entries are the CIDRs in the list, sorted.
	Entries []string `json:"entries"`
	// Environment is the lower-cased Environment tag.
	Environment string `json:"environment,omitempty"`
	// Protected is true when tagged netchange.io/protected.
	Protected bool `json:"protected,omitempty"`
}

// WAFIPSet is one REGIONAL WAFv2 IP set.
type WAFIPSet struct {
	// Name is the IP set's name.
	Name string `json:"name"`
	// ID is the IP set's ID.
	ID string `json:"id"`
	// Scope is REGIONAL.
	Scope v1.WAFScope `json:"scope"`
	// Addresses are the CIDRs in the set, sorted.
	Addresses []string `json:"addresses"`
}

// Estate describes the VPCs, subnets, network ACLs, security groups, route tables,
// instances, customer-managed prefix lists and REGIONAL WAF IP sets visible to the
// Observer's clients. Any failed call fails the whole inventory (it may be retried).
func (o *Observer) Estate(ctx context.Context) (*Estate, error) {
	e := &Estate{}
	vp := ec2.NewDescribeVpcsPaginator(o.ec2, &ec2.DescribeVpcsInput{})
	for vp.HasMorePages() {
		page, err := vp.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("estate: describe VPCs: %w", err)
		}
		for _, v := range page.Vpcs {
			env, prot := envAndProtected(v.Tags)
			e.VPCs = append(e.VPCs, VPC{ID: aws.ToString(v.VpcId), CIDR: aws.ToString(v.CidrBlock),
				Name: tagValue(v.Tags, TagName), Environment: env, Protected: prot})
		}
	}
	sp := ec2.NewDescribeSubnetsPaginator(o.ec2, &ec2.DescribeSubnetsInput{})
	for sp.HasMorePages() {
		page, err := sp.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("estate: describe subnets: %w", err)
		}
		for _, s := range page.Subnets {
			env, prot := envAndProtected(s.Tags)
			e.Subnets = append(e.Subnets, Subnet{ID: aws.ToString(s.SubnetId), VPCID: aws.ToString(s.VpcId),
				CIDR: aws.ToString(s.CidrBlock), Name: tagValue(s.Tags, TagName), Environment: env, Protected: prot})
		}
	}
	np := ec2.NewDescribeNetworkAclsPaginator(o.ec2, &ec2.DescribeNetworkAclsInput{})
	for np.HasMorePages() {
		page, err := np.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("estate: describe network ACLs: %w", err)
		}
		for _, n := range page.NetworkAcls {
			env, prot := envAndProtected(n.Tags)
			acl := NetworkACL{ID: aws.ToString(n.NetworkAclId), VPCID: aws.ToString(n.VpcId),
				IsDefault: aws.ToBool(n.IsDefault), SubnetIDs: naclSubnets(n),
				Name: tagValue(n.Tags, TagName), Environment: env, Protected: prot, Entries: []NACLEntry{}}
			for _, s := range naclEntries(n.Entries) {
				en := NACLEntry{RuleNumber: s.RuleNumber, Direction: v1.DirectionIngress,
					RuleAction: v1.RuleAction(s.RuleAction), Protocol: s.Protocol, CIDR: s.CIDR}
				if s.Egress {
					en.Direction = v1.DirectionEgress
				}
				if s.Protocol == string(v1.ProtocolTCP) || s.Protocol == string(v1.ProtocolUDP) {
					en.Ports = &v1.PortRange{From: s.FromPort, To: s.ToPort}
				}
				acl.Entries = append(acl.Entries, en)
			}
			e.NetworkACLs = append(e.NetworkACLs, acl)
		}
	}
	gp := ec2.NewDescribeSecurityGroupsPaginator(o.ec2, &ec2.DescribeSecurityGroupsInput{})
	for gp.HasMorePages() {
		page, err := gp.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("estate: describe security groups: %w", err)
		}
		for _, g := range page.SecurityGroups {
			env, prot := envAndProtected(g.Tags)
			e.SecurityGroups = append(e.SecurityGroups, SecurityGroup{ID: aws.ToString(g.GroupId),
				GroupName: aws.ToString(g.GroupName), Name: tagValue(g.Tags, TagName), VPCID: aws.ToString(g.VpcId),
				Environment: env, Protected: prot})
		}
	}
	rp := ec2.NewDescribeRouteTablesPaginator(o.ec2, &ec2.DescribeRouteTablesInput{})
	for rp.HasMorePages() {
		page, err := rp.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("estate: describe route tables: %w", err)
		}
		for _, t := range page.RouteTables {
			env, prot := envAndProtected(t.Tags)
			main, subnets := routeTableAssociations(t)
			rt := RouteTable{ID: aws.ToString(t.RouteTableId), VPCID: aws.ToString(t.VpcId), Main: main,
				SubnetIDs: subnets, Name: tagValue(t.Tags, TagName), Environment: env, Protected: prot, Routes: []Route{}}
			for _, r := range routes(t.Routes) {
				rt.Routes = append(rt.Routes, Route{Destination: r.Destination, TargetType: v1.RouteTargetType(r.TargetType), TargetID: r.TargetID})
			}
			e.RouteTables = append(e.RouteTables, rt)
		}
	}
	ip := ec2.NewDescribeInstancesPaginator(o.ec2, &ec2.DescribeInstancesInput{})
	for ip.HasMorePages() {
		page, err := ip.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("estate: describe instances: %w", err)
		}
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				st := instanceState(in)
				if st.State == string(ec2types.InstanceStateNameTerminated) {
					continue
				}
				env, prot := envAndProtected(in.Tags)
				e.Instances = append(e.Instances, Instance{ID: aws.ToString(in.InstanceId), VPCID: st.VPCID,
					SubnetID: st.SubnetID, PrivateIP: aws.ToString(in.PrivateIpAddress), GroupIDs: st.SecurityGroups,
					State: st.State, Name: tagValue(in.Tags, TagName), Environment: env, Protected: prot})
			}
		}
	}
	pp := ec2.NewDescribeManagedPrefixListsPaginator(o.ec2, &ec2.DescribeManagedPrefixListsInput{})
	for pp.HasMorePages() {
		page, err := pp.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("estate: describe prefix lists: %w", err)
		}
		for _, pl := range page.PrefixLists {
			if aws.ToString(pl.OwnerId) == "AWS" {
				continue
			}
			id := aws.ToString(pl.PrefixListId)
			entries, err := o.prefixListEntries(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("estate: %w", err)
			}
			env, prot := envAndProtected(pl.Tags)
			p := PrefixList{ID: id, Name: aws.ToString(pl.PrefixListName), MaxEntries: aws.ToInt32(pl.MaxEntries),
				Entries: []string{}, Environment: env, Protected: prot}
			for _, en := range entries {
				p.Entries = append(p.Entries, aws.ToString(en.Cidr))
			}
			slices.Sort(p.Entries)
			e.PrefixLists = append(e.PrefixLists, p)
		}
	}
	if o.waf != nil {
		var marker *string
		for {
			out, err := o.waf.ListIPSets(ctx, &wafv2.ListIPSetsInput{Scope: waftypes.ScopeRegional, NextMarker: marker})
			if err != nil {
				return nil, fmt.Errorf("estate: list WAF IP sets: %w", err)
			}
			for _, s := range out.IPSets {
				name, id := aws.ToString(s.Name), aws.ToString(s.Id)
				set, _, err := o.ipSet(ctx, name, id, waftypes.ScopeRegional)
				if err != nil {
					return nil, fmt.Errorf("estate: %w", err)
				}
				addrs := append([]string{}, set.Addresses...)
				slices.Sort(addrs)
				e.WAFIPSets = append(e.WAFIPSets, WAFIPSet{Name: name, ID: id, Scope: v1.WAFScopeRegional, Addresses: addrs})
			}
			if len(out.IPSets) == 0 || aws.ToString(out.NextMarker) == "" || aws.ToString(out.NextMarker) == aws.ToString(marker) {
				break
			}
			marker = out.NextMarker
		}
	}
	e.fillSubnetAssociations()
	e.sort()
	return e, nil
}

// fillSubnetAssociations records each subnet's network ACL and route table.
func (e *Estate) fillSubnetAssociations() {
	for i := range e.Subnets {
		s := &e.Subnets[i]
		for _, n := range e.NetworkACLs {
			if slices.Contains(n.SubnetIDs, s.ID) {
				s.NetworkACLID = n.ID
			}
		}
		for _, t := range e.RouteTables {
			if slices.Contains(t.SubnetIDs, s.ID) {
				s.RouteTableID = t.ID
			}
		}
		if s.RouteTableID == "" {
			for _, t := range e.RouteTables {
				if t.Main && t.VPCID == s.VPCID {
					s.RouteTableID = t.ID
				}
			}
		}
	}
}

func (e *Estate) sort() {
	slices.SortFunc(e.VPCs, func(a, b VPC) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(e.Subnets, func(a, b Subnet) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(e.NetworkACLs, func(a, b NetworkACL) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(e.SecurityGroups, func(a, b SecurityGroup) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(e.RouteTables, func(a, b RouteTable) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(e.Instances, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(e.PrefixLists, func(a, b PrefixList) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(e.WAFIPSets, func(a, b WAFIPSet) int { return strings.Compare(a.Name+"/"+a.ID, b.Name+"/"+b.ID) })
}

// SubnetsInEnvironment returns the subnets whose Environment tag is env
// (case-insensitive).
func (e *Estate) SubnetsInEnvironment(env string) []Subnet {
	var out []Subnet
	for _, s := range e.Subnets {
		if s.Environment == normEnv(env) {
			out = append(out, s)
		}
	}
	return out
}

// NetworkACLsForSubnets returns, sorted by ID and without duplicates, the network
// ACLs associated with the given subnets.
func (e *Estate) NetworkACLsForSubnets(subnetIDs ...string) []NetworkACL {
	var out []NetworkACL
	for _, n := range e.NetworkACLs {
		for _, s := range n.SubnetIDs {
			if slices.Contains(subnetIDs, s) {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// SecurityGroupsMatching returns the security groups whose group name or Name tag
// contains nameFragment (case-insensitive) and, when env is not empty, whose
// Environment tag is env. A group whose name or Name tag equals the fragment
// exactly is preferred: if any match exactly, only those are returned.
func (e *Estate) SecurityGroupsMatching(nameFragment, env string) []SecurityGroup {
	frag := strings.ToLower(strings.TrimSpace(nameFragment))
	if frag == "" {
		return nil
	}
	var exact, partial []SecurityGroup
	for _, g := range e.SecurityGroups {
		if env != "" && g.Environment != normEnv(env) {
			continue
		}
		gn, tn := strings.ToLower(g.GroupName), strings.ToLower(g.Name)
		switch {
		case gn == frag || tn == frag:
			exact = append(exact, g)
		case strings.Contains(gn, frag) || strings.Contains(tn, frag):
			partial = append(partial, g)
		}
	}
	if len(exact) > 0 {
		return exact
	}
	return partial
}

// FreeNACLRuleNumber returns the lowest rule number, from 1 up and strictly below
// `below`, that no entry of the network ACL uses in that direction.
func (e *Estate) FreeNACLRuleNumber(aclID string, direction v1.Direction, below int32) (int32, error) {
	n, err := e.FreeNACLRuleNumbers(aclID, direction, below, 1)
	if err != nil {
		return 0, err
	}
	return n[0], nil
}

// FreeNACLRuleNumbers returns the count lowest unused rule numbers of the network
// ACL in that direction, from 1 up and strictly below `below`.
func (e *Estate) FreeNACLRuleNumbers(aclID string, direction v1.Direction, below int32, count int) ([]int32, error) {
	acl, ok := e.NetworkACL(aclID)
	if !ok {
		return nil, fmt.Errorf("network ACL %s: %w", aclID, ErrNotFound)
	}
	used := map[int32]bool{}
	for _, en := range acl.Entries {
		if en.Direction == direction {
			used[en.RuleNumber] = true
		}
	}
	var out []int32
	for n := int32(1); n < below && n <= 32766 && len(out) < count; n++ {
		if !used[n] {
			out = append(out, n)
		}
	}
	if len(out) < count {
		return nil, fmt.Errorf("network ACL %s has no %d free %s rule numbers below %d: free some entries or name another ACL", aclID, count, direction, below)
	}
	return out, nil
}

// LowestAllowRule returns the lowest rule number of an allow entry of the ACL in
// that direction, or 32767 (the default rule) when there is none.
func (a NetworkACL) LowestAllowRule(direction v1.Direction) int32 {
	low := int32(32767)
	for _, en := range a.Entries {
		if en.Direction == direction && en.RuleAction == v1.RuleActionAllow && en.RuleNumber < low {
			low = en.RuleNumber
		}
	}
	return low
}

// NetworkACL returns the network ACL with that ID.
func (e *Estate) NetworkACL(id string) (NetworkACL, bool) {
	for _, n := range e.NetworkACLs {
		if n.ID == id {
			return n, true
		}
	}
	return NetworkACL{}, false
}

// Subnet returns the subnet with that ID.
func (e *Estate) Subnet(id string) (Subnet, bool) {
	for _, s := range e.Subnets {
		if s.ID == id {
			return s, true
		}
	}
	return Subnet{}, false
}

// SecurityGroup returns the security group with that ID.
func (e *Estate) SecurityGroup(id string) (SecurityGroup, bool) {
	for _, g := range e.SecurityGroups {
		if g.ID == id {
			return g, true
		}
	}
	return SecurityGroup{}, false
}

// RouteTable returns the route table with that ID.
func (e *Estate) RouteTable(id string) (RouteTable, bool) {
	for _, t := range e.RouteTables {
		if t.ID == id {
			return t, true
		}
	}
	return RouteTable{}, false
}

// Route returns the route of the table whose destination is dest.
func (t RouteTable) Route(dest string) (Route, bool) {
	for _, r := range t.Routes {
		if r.Destination == dest {
			return r, true
		}
	}
	return Route{}, false
}

// Instance returns the instance with that ID.
func (e *Estate) Instance(id string) (Instance, bool) {
	for _, in := range e.Instances {
		if in.ID == id {
			return in, true
		}
	}
	return Instance{}, false
}

// PrefixList returns the prefix list whose ID or name is idOrName.
func (e *Estate) PrefixList(idOrName string) (PrefixList, bool) {
	for _, p := range e.PrefixLists {
		if p.ID == idOrName || p.Name == idOrName {
			return p, true
		}
	}
	return PrefixList{}, false
}

// WAFIPSet returns the REGIONAL WAF IP set with that name (or ID).
func (e *Estate) WAFIPSet(nameOrID string) (WAFIPSet, bool) {
	for _, s := range e.WAFIPSets {
		if s.Name == nameOrID || s.ID == nameOrID {
			return s, true
		}
	}
	return WAFIPSet{}, false
}

// InstancesInCIDR returns the instances whose private IPv4 address is inside cidr.
func (e *Estate) InstancesInCIDR(cidr string) []Instance {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil
	}
	var out []Instance
	for _, in := range e.Instances {
		if a, err := netip.ParseAddr(in.PrivateIP); err == nil && p.Contains(a) {
			out = append(out, in)
		}
	}
	return out
}

// Environments returns the distinct environments tagged on the estate's VPCs, sorted.
func (e *Estate) Environments() []string {
	var out []string
	for _, v := range e.VPCs {
		if v.Environment != "" {
			out = append(out, v.Environment)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
