package awsapply

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// sgRule authorizes (add) or revokes a security group rule.
type sgRule struct {
	a   *Applier
	p   v1.SecurityGroupRuleParams
	add bool
}

func (h *sgRule) permission() ec2types.IpPermission {
	perm := ec2types.IpPermission{IpProtocol: aws.String(protocolNumber(h.p.Protocol))}
	switch h.p.Protocol {
	case v1.ProtocolTCP, v1.ProtocolUDP:
		if h.p.Ports != nil {
			perm.FromPort, perm.ToPort = aws.Int32(h.p.Ports.From), aws.Int32(h.p.Ports.To)
		} else {
			perm.FromPort, perm.ToPort = aws.Int32(0), aws.Int32(65535)
		}
	case v1.ProtocolICMP:
		if h.p.Ports != nil {
			perm.FromPort, perm.ToPort = aws.Int32(h.p.Ports.From), aws.Int32(h.p.Ports.To)
		} else {
			perm.FromPort, perm.ToPort = aws.Int32(-1), aws.Int32(-1)
		}
	}
	var desc *string
	if h.p.Description != "" && h.add {
		desc = aws.String(h.p.Description)
	}
	if isIPv6(h.p.CIDR) {
		perm.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String(normCIDR(h.p.CIDR)), Description: desc}}
	} else {
		perm.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(normCIDR(h.p.CIDR)), Description: desc}}
	}
	return perm
}

func (h *sgRule) observe(ctx context.Context) (bool, Result, error) {
	present, err := sgRulePresent(ctx, h.a, h.p.GroupID, h.p.Direction == v1.DirectionEgress, h.permission())
	if err != nil {
		return false, Result{}, err
	}
	return present == h.add, Result{}, nil
}

// sgRulePresent reports whether group has a rule equal to want (protocol, ports, one CIDR).
func sgRulePresent(ctx context.Context, a *Applier, groupID string, egress bool, want ec2types.IpPermission) (bool, error) {
	var out *ec2.DescribeSecurityGroupsOutput
	err := a.read(ctx, "DescribeSecurityGroups", func(ctx context.Context) error {
		var err error
		out, err = a.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{groupID}})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("describe security group %s: %w", groupID, err)
	}
	if len(out.SecurityGroups) != 1 {
		return false, &TerminalError{Op: "describe security group " + groupID, Err: fmt.Errorf("found %d groups", len(out.SecurityGroups))}
	}
	perms := out.SecurityGroups[0].IpPermissions
	if egress {
		perms = out.SecurityGroups[0].IpPermissionsEgress
	}
	for _, p := range perms {
		if permMatches(p, want) {
			return true, nil
		}
	}
	return false, nil
}

func permMatches(have, want ec2types.IpPermission) bool {
	if protocolName(aws.ToString(have.IpProtocol)) != protocolName(aws.ToString(want.IpProtocol)) {
		return false
	}
	if protocolName(aws.ToString(want.IpProtocol)) != v1.ProtocolAll {
		if aws.ToInt32(have.FromPort) != aws.ToInt32(want.FromPort) || aws.ToInt32(have.ToPort) != aws.ToInt32(want.ToPort) {
			return false
		}
	}
	for _, w := range want.IpRanges {
		for _, r := range have.IpRanges {
			if normCIDR(aws.ToString(r.CidrIp)) == normCIDR(aws.ToString(w.CidrIp)) {
				return true
			}
		}
	}
	for _, w := range want.Ipv6Ranges {
		for _, r := range have.Ipv6Ranges {
			if normCIDR(aws.ToString(r.CidrIpv6)) == normCIDR(aws.ToString(w.CidrIpv6)) {
				return true
			}
		}
	}
	return false
}

func (h *sgRule) apply(ctx context.Context, reqUID string) (Result, error) {
	err := changeSGRule(ctx, h.p.GroupID, h.p.Direction == v1.DirectionEgress, h.add, h.permission(), reqUID, h.a)
	return Result{Message: Describe(h.action())}, err
}

func (h *sgRule) action() v1.Action {
	t := v1.ActionSecurityGroupRuleRevoke
	if h.add {
		t = v1.ActionSecurityGroupRuleAuthorize
	}
	p := h.p
	return v1.Action{Type: t, SecurityGroupRule: &p}
}

// changeSGRule dry-runs, then authorizes or revokes one permission on a group.
// Authorized rules are tagged with the request uid.
func changeSGRule(ctx context.Context, groupID string, egress, add bool, perm ec2types.IpPermission, reqUID string, a *Applier) error {
	var tagSpecs []ec2types.TagSpecification
	if add && reqUID != "" {
		tagSpecs = []ec2types.TagSpecification{{
			ResourceType: ec2types.ResourceTypeSecurityGroupRule,
			Tags:         []ec2types.Tag{{Key: aws.String(v1.TagRequestUID), Value: aws.String(reqUID)}},
		}}
	}
	perms := []ec2types.IpPermission{perm}
	var op string
	var fn func(ctx context.Context, dry bool) error
	switch {
	case add && !egress:
		op = "AuthorizeSecurityGroupIngress"
		fn = func(ctx context.Context, dry bool) error {
			_, err := a.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(groupID), IpPermissions: perms, TagSpecifications: tagSpecs, DryRun: aws.Bool(dry)})
			return err
		}
	case add && egress:
		op = "AuthorizeSecurityGroupEgress"
		fn = func(ctx context.Context, dry bool) error {
			_, err := a.ec2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(groupID), IpPermissions: perms, TagSpecifications: tagSpecs, DryRun: aws.Bool(dry)})
			return err
		}
	case !add && !egress:
		op = "RevokeSecurityGroupIngress"
		fn = func(ctx context.Context, dry bool) error {
			_, err := a.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(groupID), IpPermissions: perms, DryRun: aws.Bool(dry)})
			return err
		}
	default:
		op = "RevokeSecurityGroupEgress"
		fn = func(ctx context.Context, dry bool) error {
			_, err := a.ec2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(groupID), IpPermissions: perms, DryRun: aws.Bool(dry)})
			return err
		}
	}
	if err := dryRun(ctx, op, func(ctx context.Context) error { return fn(ctx, true) }); err != nil {
		return fmt.Errorf("on %s: %w", groupID, err)
	}
	if err := call(ctx, op, false, func(ctx context.Context) error { return fn(ctx, false) }); err != nil {
		return fmt.Errorf("on %s: %w", groupID, err)
	}
	return nil
}
