package awscontext

import (
	"cmp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// The state* types are the canonical JSON encodings of ResourceSnapshot.State.
// Rules for every kind: field order is fixed by these declarations; every list is
// sorted; nil lists encode as []; tags are included (they carry Environment and
// netchange.io/protected, which the auditor trusts, so a tag change makes a plan
// stale); volatile fields (association IDs, owner IDs, versions, lock tokens, route
// state and origin, launch times) are left out.

type stateTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// stateSGRule is one security group permission, flattened to one peer.
type stateSGRule struct {
	Protocol    string `json:"protocol"`
	FromPort    int32  `json:"fromPort"`
	ToPort      int32  `json:"toPort"`
	PeerType    string `json:"peerType"` // cidr, ipv6, prefixList, group
	Peer        string `json:"peer"`
	Description string `json:"description"`
}

type stateSecurityGroup struct {
	GroupName string        `json:"groupName"`
	VPCID     string        `json:"vpcID"`
	Ingress   []stateSGRule `json:"ingress"`
	Egress    []stateSGRule `json:"egress"`
	Tags      []stateTag    `json:"tags"`
}

// stateNACLEntry is one network ACL entry. The default deny rule 32767 (which AWS
// shows and nobody can change) is included as AWS reports it, so State is exactly
// the entry table a reader of the console sees.
type stateNACLEntry struct {
	Egress     bool   `json:"egress"`
	RuleNumber int32  `json:"ruleNumber"`
	RuleAction string `json:"ruleAction"`
	Protocol   string `json:"protocol"`
	CIDR       string `json:"cidr"`
	FromPort   int32  `json:"fromPort"`
	ToPort     int32  `json:"toPort"`
	ICMPType   int32  `json:"icmpType"`
	ICMPCode   int32  `json:"icmpCode"`
}

type stateNetworkACL struct {
	VPCID     string           `json:"vpcID"`
	IsDefault bool             `json:"isDefault"`
	Entries   []stateNACLEntry `json:"entries"`
	Subnets   []string         `json:"subnets"`
	Tags      []stateTag       `json:"tags"`
}

type stateRoute struct {
	Destination string `json:"destination"`
	TargetType  string `json:"targetType"`
	TargetID    string `json:"targetID"`
}

type stateRouteTable struct {
	VPCID   string       `json:"vpcID"`
	Main    bool         `json:"main"`
	Routes  []stateRoute `json:"routes"`
	Subnets []string     `json:"subnets"`
	Tags    []stateTag   `json:"tags"`
}

type statePrefixListEntry struct {
	CIDR        string `json:"cidr"`
	Description string `json:"description"`
}

// statePrefixList leaves out the version: it changes on every write, and the
// entries already say everything a plan depends on. Whoever writes must read the
// current version itself.
type statePrefixList struct {
	Name          string                 `json:"name"`
	AddressFamily string                 `json:"addressFamily"`
	MaxEntries    int32                  `json:"maxEntries"`
	Entries       []statePrefixListEntry `json:"entries"`
	Tags          []stateTag             `json:"tags"`
}

type stateInstance struct {
	VPCID          string     `json:"vpcID"`
	SubnetID       string     `json:"subnetID"`
	SecurityGroups []string   `json:"securityGroups"`
	State          string     `json:"state"`
	Tags           []stateTag `json:"tags"`
}

type stateVPC struct {
	CIDRs     []string   `json:"cidrs"`
	IsDefault bool       `json:"isDefault"`
	Tags      []stateTag `json:"tags"`
}

type stateSubnet struct {
	VPCID            string     `json:"vpcID"`
	CIDR             string     `json:"cidr"`
	AvailabilityZone string     `json:"availabilityZone"`
	Tags             []stateTag `json:"tags"`
}

type stateNetworkInterface struct {
	VPCID          string     `json:"vpcID"`
	SubnetID       string     `json:"subnetID"`
	SecurityGroups []string   `json:"securityGroups"`
	InstanceID     string     `json:"instanceID"`
	Tags           []stateTag `json:"tags"`
}

type stateInternetGateway struct {
	VPCs []string   `json:"vpcs"`
	Tags []stateTag `json:"tags"`
}

// stateWAFIPSet leaves out the lock token, which changes on every write.
type stateWAFIPSet struct {
	Name             string     `json:"name"`
	Scope            string     `json:"scope"`
	IPAddressVersion string     `json:"ipAddressVersion"`
	Addresses        []string   `json:"addresses"`
	Tags             []stateTag `json:"tags"`
}

func ec2Tags(tags []ec2types.Tag) []stateTag {
	out := make([]stateTag, 0, len(tags))
	for _, t := range tags {
		out = append(out, stateTag{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value)})
	}
	sortTags(out)
	return out
}

func sortTags(t []stateTag) {
	slices.SortFunc(t, func(a, b stateTag) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Value, b.Value))
	})
}

// envAndProtected reads the Environment (lower-cased) and protected tags.
func envAndProtected(tags []ec2types.Tag) (env string, protected bool) {
	for _, t := range tags {
		switch aws.ToString(t.Key) {
		case TagEnvironment:
			env = normEnv(aws.ToString(t.Value))
		case TagProtected:
			protected = true
		}
	}
	return env, protected
}

func wafEnvAndProtected(tags []waftypes.Tag) (env string, protected bool) {
	for _, t := range tags {
		switch aws.ToString(t.Key) {
		case TagEnvironment:
			env = normEnv(aws.ToString(t.Value))
		case TagProtected:
			protected = true
		}
	}
	return env, protected
}

func normEnv(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func tagValue(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// ProtocolName maps an AWS protocol ("-1", "6", "tcp", ...) to the catalog's
// protocol names (all, tcp, udp, icmp); other numbers are returned unchanged.
func ProtocolName(p string) string {
	switch strings.ToLower(p) {
	case "-1", "all":
		return string(v1.ProtocolAll)
	case "6", "tcp":
		return string(v1.ProtocolTCP)
	case "17", "udp":
		return string(v1.ProtocolUDP)
	case "1", "icmp":
		return string(v1.ProtocolICMP)
	}
	return p
}

func sgRules(perms []ec2types.IpPermission) []stateSGRule {
	out := []stateSGRule{}
	for _, p := range perms {
		base := stateSGRule{Protocol: ProtocolName(aws.ToString(p.IpProtocol)), FromPort: -1, ToPort: -1}
		if base.Protocol != string(v1.ProtocolAll) {
			if p.FromPort != nil {
				base.FromPort = *p.FromPort
			}
			if p.ToPort != nil {
				base.ToPort = *p.ToPort
			}
		}
		add := func(peerType, peer string, desc *string) {
			r := base
			r.PeerType, r.Peer, r.Description = peerType, peer, aws.ToString(desc)
			out = append(out, r)
		}
		for _, r := range p.IpRanges {
			add("cidr", aws.ToString(r.CidrIp), r.Description)
		}
		for _, r := range p.Ipv6Ranges {
			add("ipv6", aws.ToString(r.CidrIpv6), r.Description)
		}
		for _, r := range p.PrefixListIds {
			add("prefixList", aws.ToString(r.PrefixListId), r.Description)
		}
		for _, r := range p.UserIdGroupPairs {
			add("group", aws.ToString(r.GroupId), r.Description)
		}
	}
	slices.SortFunc(out, func(a, b stateSGRule) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.FromPort, b.FromPort),
			cmp.Compare(a.ToPort, b.ToPort), cmp.Compare(a.PeerType, b.PeerType),
			cmp.Compare(a.Peer, b.Peer), cmp.Compare(a.Description, b.Description))
	})
	return slices.Compact(out)
}

func securityGroupState(g ec2types.SecurityGroup) stateSecurityGroup {
	return stateSecurityGroup{
		GroupName: aws.ToString(g.GroupName),
		VPCID:     aws.ToString(g.VpcId),
		Ingress:   sgRules(g.IpPermissions),
		Egress:    sgRules(g.IpPermissionsEgress),
		Tags:      ec2Tags(g.Tags),
	}
}

func naclEntries(entries []ec2types.NetworkAclEntry) []stateNACLEntry {
	out := make([]stateNACLEntry, 0, len(entries))
	for _, e := range entries {
		s := stateNACLEntry{
			Egress:     aws.ToBool(e.Egress),
			RuleNumber: aws.ToInt32(e.RuleNumber),
			RuleAction: string(e.RuleAction),
			Protocol:   ProtocolName(aws.ToString(e.Protocol)),
			CIDR:       aws.ToString(e.CidrBlock),
		}
		if s.CIDR == "" {
			s.CIDR = aws.ToString(e.Ipv6CidrBlock)
		}
		if e.PortRange != nil {
			s.FromPort, s.ToPort = aws.ToInt32(e.PortRange.From), aws.ToInt32(e.PortRange.To)
		}
		if e.IcmpTypeCode != nil {
			s.ICMPType, s.ICMPCode = aws.ToInt32(e.IcmpTypeCode.Type), aws.ToInt32(e.IcmpTypeCode.Code)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b stateNACLEntry) int {
		ea, eb := 0, 0
		if a.Egress {
			ea = 1
		}
		if b.Egress {
			eb = 1
		}
		return cmp.Or(cmp.Compare(ea, eb), cmp.Compare(a.RuleNumber, b.RuleNumber), cmp.Compare(a.CIDR, b.CIDR))
	})
	return out
}

func naclSubnets(n ec2types.NetworkAcl) []string {
	out := []string{}
	for _, a := range n.Associations {
		if s := aws.ToString(a.SubnetId); s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func networkACLState(n ec2types.NetworkAcl) stateNetworkACL {
	return stateNetworkACL{
		VPCID:     aws.ToString(n.VpcId),
		IsDefault: aws.ToBool(n.IsDefault),
		Entries:   naclEntries(n.Entries),
		Subnets:   naclSubnets(n),
		Tags:      ec2Tags(n.Tags),
	}
}

// RouteDestination returns a route's destination: its IPv4 CIDR, IPv6 CIDR or
// prefix list ID.
func RouteDestination(r ec2types.Route) string {
	return cmp.Or(aws.ToString(r.DestinationCidrBlock), aws.ToString(r.DestinationIpv6CidrBlock),
		aws.ToString(r.DestinationPrefixListId))
}

// RouteTarget returns a route's next hop as the catalog's target type and ID. A
// network interface wins over the instance it is attached to; the VPC's local
// route is (gateway, "local"). Targets outside the catalog return ("", id).
func RouteTarget(r ec2types.Route) (v1.RouteTargetType, string) {
	switch {
	case aws.ToString(r.NatGatewayId) != "":
		return v1.RouteTargetNATGateway, aws.ToString(r.NatGatewayId)
	case aws.ToString(r.TransitGatewayId) != "":
		return v1.RouteTargetTransitGateway, aws.ToString(r.TransitGatewayId)
	case aws.ToString(r.VpcPeeringConnectionId) != "":
		return v1.RouteTargetVPCPeering, aws.ToString(r.VpcPeeringConnectionId)
	case aws.ToString(r.NetworkInterfaceId) != "":
		return v1.RouteTargetNetworkInterface, aws.ToString(r.NetworkInterfaceId)
	case aws.ToString(r.InstanceId) != "":
		return v1.RouteTargetInstance, aws.ToString(r.InstanceId)
	case aws.ToString(r.GatewayId) != "":
		return v1.RouteTargetGateway, aws.ToString(r.GatewayId)
	}
	id := cmp.Or(aws.ToString(r.EgressOnlyInternetGatewayId), aws.ToString(r.LocalGatewayId),
		aws.ToString(r.CarrierGatewayId), aws.ToString(r.CoreNetworkArn))
	return "", id
}

func routes(rs []ec2types.Route) []stateRoute {
	out := make([]stateRoute, 0, len(rs))
	for _, r := range rs {
		tt, id := RouteTarget(r)
		out = append(out, stateRoute{Destination: RouteDestination(r), TargetType: string(tt), TargetID: id})
	}
	slices.SortFunc(out, func(a, b stateRoute) int {
		return cmp.Or(cmp.Compare(a.Destination, b.Destination), cmp.Compare(a.TargetType, b.TargetType), cmp.Compare(a.TargetID, b.TargetID))
	})
	return out
}

func routeTableAssociations(t ec2types.RouteTable) (main bool, subnets []string) {
	subnets = []string{}
	for _, a := range t.Associations {
		if aws.ToBool(a.Main) {
			main = true
		}
		if s := aws.ToString(a.SubnetId); s != "" {
			subnets = append(subnets, s)
		}
	}
	slices.Sort(subnets)
	return main, slices.Compact(subnets)
}

func routeTableState(t ec2types.RouteTable) stateRouteTable {
	main, subnets := routeTableAssociations(t)
	return stateRouteTable{
		VPCID:   aws.ToString(t.VpcId),
		Main:    main,
		Routes:  routes(t.Routes),
		Subnets: subnets,
		Tags:    ec2Tags(t.Tags),
	}
}

func prefixListState(pl ec2types.ManagedPrefixList, entries []ec2types.PrefixListEntry) statePrefixList {
	es := make([]statePrefixListEntry, 0, len(entries))
	for _, e := range entries {
		es = append(es, statePrefixListEntry{CIDR: aws.ToString(e.Cidr), Description: aws.ToString(e.Description)})
	}
	slices.SortFunc(es, func(a, b statePrefixListEntry) int {
		return cmp.Or(cmp.Compare(a.CIDR, b.CIDR), cmp.Compare(a.Description, b.Description))
	})
	return statePrefixList{
		Name:          aws.ToString(pl.PrefixListName),
		AddressFamily: aws.ToString(pl.AddressFamily),
		MaxEntries:    aws.ToInt32(pl.MaxEntries),
		Entries:       es,
		Tags:          ec2Tags(pl.Tags),
	}
}

func instanceGroups(in ec2types.Instance) []string {
	out := []string{}
	for _, g := range in.SecurityGroups {
		out = append(out, aws.ToString(g.GroupId))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func instanceState(in ec2types.Instance) stateInstance {
	s := stateInstance{
		VPCID:          aws.ToString(in.VpcId),
		SubnetID:       aws.ToString(in.SubnetId),
		SecurityGroups: instanceGroups(in),
		Tags:           ec2Tags(in.Tags),
	}
	if in.State != nil {
		s.State = string(in.State.Name)
	}
	return s
}

func vpcState(v ec2types.Vpc) stateVPC {
	cidrs := []string{aws.ToString(v.CidrBlock)}
	for _, a := range v.CidrBlockAssociationSet {
		cidrs = append(cidrs, aws.ToString(a.CidrBlock))
	}
	slices.Sort(cidrs)
	return stateVPC{CIDRs: slices.Compact(cidrs), IsDefault: aws.ToBool(v.IsDefault), Tags: ec2Tags(v.Tags)}
}

func subnetState(s ec2types.Subnet) stateSubnet {
	return stateSubnet{
		VPCID:            aws.ToString(s.VpcId),
		CIDR:             aws.ToString(s.CidrBlock),
		AvailabilityZone: aws.ToString(s.AvailabilityZone),
		Tags:             ec2Tags(s.Tags),
	}
}

func networkInterfaceState(n ec2types.NetworkInterface) stateNetworkInterface {
	groups := []string{}
	for _, g := range n.Groups {
		groups = append(groups, aws.ToString(g.GroupId))
	}
	slices.Sort(groups)
	s := stateNetworkInterface{
		VPCID:          aws.ToString(n.VpcId),
		SubnetID:       aws.ToString(n.SubnetId),
		SecurityGroups: slices.Compact(groups),
		Tags:           ec2Tags(n.TagSet),
	}
	if n.Attachment != nil {
		s.InstanceID = aws.ToString(n.Attachment.InstanceId)
	}
	return s
}

func internetGatewayState(g ec2types.InternetGateway) stateInternetGateway {
	vpcs := []string{}
	for _, a := range g.Attachments {
		vpcs = append(vpcs, aws.ToString(a.VpcId))
	}
	slices.Sort(vpcs)
	return stateInternetGateway{VPCs: slices.Compact(vpcs), Tags: ec2Tags(g.Tags)}
}

func wafIPSetState(set *waftypes.IPSet, scope v1.WAFScope, tags []waftypes.Tag) stateWAFIPSet {
	ts := make([]stateTag, 0, len(tags))
	for _, t := range tags {
		ts = append(ts, stateTag{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value)})
	}
	sortTags(ts)
	addrs := append([]string{}, set.Addresses...)
	slices.Sort(addrs)
	return stateWAFIPSet{
		Name:             aws.ToString(set.Name),
		Scope:            string(scope),
		IPAddressVersion: string(set.IPAddressVersion),
		Addresses:        slices.Compact(addrs),
		Tags:             ts,
	}
}
