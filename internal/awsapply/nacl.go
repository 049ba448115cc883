package awsapply

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// naclEntry adds or removes a network ACL entry. No dry run: moto ignores DryRun
// for NACL entries and would apply the change.
type naclEntry struct {
	a   *Applier
	p   v1.NetworkACLEntryParams
	add bool
}

// observe: an add is in effect when an entry with the rule number and direction
// exists and matches the parameters; a remove when no entry has that number.
// An entry with the number but other parameters makes an add fail terminally.
func (h *naclEntry) observe(ctx context.Context) (bool, Result, error) {
	var out *ec2.DescribeNetworkAclsOutput
	err := h.a.read(ctx, "DescribeNetworkAcls", func(ctx context.Context) error {
		var err error
		out, err = h.a.ec2.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{NetworkAclIds: []string{h.p.NetworkACLID}})
		return err
	})
	if err != nil {
		return false, Result{}, fmt.Errorf("describe network ACL %s: %w", h.p.NetworkACLID, err)
	}
	if len(out.NetworkAcls) != 1 {
		return false, Result{}, &TerminalError{Op: "describe network ACL " + h.p.NetworkACLID, Err: fmt.Errorf("found %d network ACLs", len(out.NetworkAcls))}
	}
	egress := h.p.Direction == v1.DirectionEgress
	for _, e := range out.NetworkAcls[0].Entries {
		if aws.ToInt32(e.RuleNumber) != h.p.RuleNumber || aws.ToBool(e.Egress) != egress {
			continue
		}
		if !h.add {
			return false, Result{}, nil
		}
		if h.matches(e) {
			return true, Result{}, nil
		}
		return false, Result{}, &TerminalError{Op: string(v1.ActionNetworkACLEntryAdd), Err: fmt.Errorf("rule number %d on %s is taken by a different entry; plan again", h.p.RuleNumber, h.p.NetworkACLID)}
	}
	return !h.add, Result{}, nil
}

func (h *naclEntry) matches(e ec2types.NetworkAclEntry) bool {
	if string(e.RuleAction) != string(h.p.RuleAction) || protocolName(aws.ToString(e.Protocol)) != h.p.Protocol {
		return false
	}
	cidr := aws.ToString(e.CidrBlock)
	if cidr == "" {
		cidr = aws.ToString(e.Ipv6CidrBlock)
	}
	if normCIDR(cidr) != normCIDR(h.p.CIDR) {
		return false
	}
	if (h.p.Protocol == v1.ProtocolTCP || h.p.Protocol == v1.ProtocolUDP) && h.p.Ports != nil {
		if e.PortRange == nil || aws.ToInt32(e.PortRange.From) != h.p.Ports.From || aws.ToInt32(e.PortRange.To) != h.p.Ports.To {
			return false
		}
	}
	return true
}

func (h *naclEntry) apply(ctx context.Context, _ string) (Result, error) {
	egress := aws.Bool(h.p.Direction == v1.DirectionEgress)
	if !h.add {
		err := call(ctx, "DeleteNetworkAclEntry", false, func(ctx context.Context) error {
			_, err := h.a.ec2.DeleteNetworkAclEntry(ctx, &ec2.DeleteNetworkAclEntryInput{NetworkAclId: aws.String(h.p.NetworkACLID), RuleNumber: aws.Int32(h.p.RuleNumber), Egress: egress})
			return err
		})
		if err != nil {
			return Result{}, fmt.Errorf("remove entry %d from %s: %w", h.p.RuleNumber, h.p.NetworkACLID, err)
		}
		return Result{Message: fmt.Sprintf("removed entry %d from %s", h.p.RuleNumber, h.p.NetworkACLID)}, nil
	}
	in := &ec2.CreateNetworkAclEntryInput{
		NetworkAclId: aws.String(h.p.NetworkACLID),
		RuleNumber:   aws.Int32(h.p.RuleNumber),
		Egress:       egress,
		Protocol:     aws.String(protocolNumber(h.p.Protocol)),
		RuleAction:   ec2types.RuleAction(h.p.RuleAction),
	}
	if isIPv6(h.p.CIDR) {
		in.Ipv6CidrBlock = aws.String(normCIDR(h.p.CIDR))
	} else {
		in.CidrBlock = aws.String(normCIDR(h.p.CIDR))
	}
	switch h.p.Protocol {
	case v1.ProtocolTCP, v1.ProtocolUDP:
		from, to := int32(0), int32(65535)
		if h.p.Ports != nil {
			from, to = h.p.Ports.From, h.p.Ports.To
		}
		in.PortRange = &ec2types.PortRange{From: aws.Int32(from), To: aws.Int32(to)}
	case v1.ProtocolICMP:
		in.IcmpTypeCode = &ec2types.IcmpTypeCode{Type: aws.Int32(-1), Code: aws.Int32(-1)}
	}
	err := call(ctx, "CreateNetworkAclEntry", false, func(ctx context.Context) error {
		_, err := h.a.ec2.CreateNetworkAclEntry(ctx, in)
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("add entry %d to %s: %w", h.p.RuleNumber, h.p.NetworkACLID, err)
	}
	return Result{Message: fmt.Sprintf("added entry %d to %s", h.p.RuleNumber, h.p.NetworkACLID)}, nil
}
