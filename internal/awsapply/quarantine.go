package awsapply

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// quarantine moves an instance into its VPC's quarantine security group
// (netchange-quarantine-<vpc>: no ingress, no egress except the forensics CIDR)
// and tags it netchange.io/quarantined=<request uid>; release restores the
// original groups and removes the tag. The group is found or created and tagged
// with Name and netchange.io/request-uid; it is left in place on release because
// other quarantined instances of the VPC may use it.
type quarantine struct {
	a       *Applier
	p       v1.QuarantineParams
	release bool
}

func (h *quarantine) groupName() string { return QuarantineGroupPrefix + h.p.VPCID }

// findGroup returns the quarantine group's ID in the VPC, or "".
func (h *quarantine) findGroup(ctx context.Context) (string, error) {
	var out *ec2.DescribeSecurityGroupsOutput
	err := h.a.read(ctx, "DescribeSecurityGroups", func(ctx context.Context) error {
		var err error
		out, err = h.a.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{h.p.VPCID}},
			{Name: aws.String("group-name"), Values: []string{h.groupName()}},
		}})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("find quarantine group of %s: %w", h.p.VPCID, err)
	}
	for _, g := range out.SecurityGroups {
		if aws.ToString(g.GroupName) == h.groupName() && aws.ToString(g.VpcId) == h.p.VPCID {
			return aws.ToString(g.GroupId), nil
		}
	}
	return "", nil
}

// instance returns the instance's security group IDs (from DescribeInstances: moto's
// ENI view shows old ∪ new groups after a swap) and its tags.
func (h *quarantine) instance(ctx context.Context) ([]string, map[string]string, error) {
	var out *ec2.DescribeInstancesOutput
	err := h.a.read(ctx, "DescribeInstances", func(ctx context.Context) error {
		var err error
		out, err = h.a.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{h.p.InstanceID}})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("describe instance %s: %w", h.p.InstanceID, err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if aws.ToString(in.InstanceId) != h.p.InstanceID {
				continue
			}
			var groups []string
			for _, g := range in.SecurityGroups {
				groups = append(groups, aws.ToString(g.GroupId))
			}
			tags := map[string]string{}
			for _, t := range in.Tags {
				tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
			sort.Strings(groups)
			return groups, tags, nil
		}
	}
	return nil, nil, &TerminalError{Op: "describe instance " + h.p.InstanceID, Err: fmt.Errorf("instance not found")}
}

func sameSet(a, b []string) bool {
	x := append([]string(nil), a...)
	y := append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

func (h *quarantine) observe(ctx context.Context) (bool, Result, error) {
	groups, tags, err := h.instance(ctx)
	if err != nil {
		return false, Result{}, err
	}
	_, tagged := tags[TagQuarantined]
	if h.release {
		return sameSet(groups, h.p.OriginalGroupIDs) && !tagged, Result{}, nil
	}
	qsg, err := h.findGroup(ctx)
	if err != nil {
		return false, Result{}, err
	}
	if qsg == "" {
		return false, Result{}, nil
	}
	return sameSet(groups, []string{qsg}) && tagged, Result{ResourceID: qsg}, nil
}

func (h *quarantine) apply(ctx context.Context, reqUID string) (Result, error) {
	if h.release {
		return h.applyRelease(ctx)
	}
	qsg, err := h.ensureGroup(ctx, reqUID)
	if err != nil {
		return Result{}, err
	}
	if err := h.lockDownEgress(ctx, qsg, reqUID); err != nil {
		return Result{ResourceID: qsg}, err
	}
	groups, tags, err := h.instance(ctx)
	if err != nil {
		return Result{ResourceID: qsg}, err
	}
	if !sameSet(groups, []string{qsg}) {
		if err := h.setGroups(ctx, []string{qsg}); err != nil {
			return Result{ResourceID: qsg}, err
		}
	}
	if _, ok := tags[TagQuarantined]; !ok {
		ts := []ec2types.Tag{{Key: aws.String(TagQuarantined), Value: aws.String(reqUID)}}
		if err := changeTags(ctx, h.a, h.p.InstanceID, ts, true); err != nil {
			return Result{ResourceID: qsg}, err
		}
	}
	return Result{ResourceID: qsg, Message: fmt.Sprintf("instance %s quarantined in %s", h.p.InstanceID, qsg)}, nil
}

func (h *quarantine) applyRelease(ctx context.Context) (Result, error) {
	groups, tags, err := h.instance(ctx)
	if err != nil {
		return Result{}, err
	}
	if !sameSet(groups, h.p.OriginalGroupIDs) {
		if err := h.setGroups(ctx, h.p.OriginalGroupIDs); err != nil {
			return Result{}, err
		}
	}
	if _, ok := tags[TagQuarantined]; ok {
		if err := changeTags(ctx, h.a, h.p.InstanceID, []ec2types.Tag{{Key: aws.String(TagQuarantined)}}, false); err != nil {
			return Result{}, err
		}
	}
	return Result{Message: fmt.Sprintf("instance %s released to %v", h.p.InstanceID, h.p.OriginalGroupIDs)}, nil
}

func (h *quarantine) setGroups(ctx context.Context, groups []string) error {
	fn := func(ctx context.Context, dry bool) error {
		_, err := h.a.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(h.p.InstanceID), Groups: groups, DryRun: aws.Bool(dry)})
		return err
	}
	if err := dryRun(ctx, "ModifyInstanceAttribute", func(ctx context.Context) error { return fn(ctx, true) }); err != nil {
		return fmt.Errorf("set groups of %s: %w", h.p.InstanceID, err)
	}
	if err := call(ctx, "ModifyInstanceAttribute", false, func(ctx context.Context) error { return fn(ctx, false) }); err != nil {
		return fmt.Errorf("set groups of %s to %v: %w", h.p.InstanceID, groups, err)
	}
	return nil
}

// ensureGroup finds or creates the VPC's quarantine group.
func (h *quarantine) ensureGroup(ctx context.Context, reqUID string) (string, error) {
	if id, err := h.findGroup(ctx); err != nil || id != "" {
		return id, err
	}
	in := &ec2.CreateSecurityGroupInput{
		GroupName:   aws.String(h.groupName()),
		Description: aws.String("netchange quarantine: no ingress, egress only to the forensics CIDR"),
		VpcId:       aws.String(h.p.VPCID),
		TagSpecifications: []ec2types.TagSpecification{{
			ResourceType: ec2types.ResourceTypeSecurityGroup,
			Tags: []ec2types.Tag{
				{Key: aws.String("Name"), Value: aws.String(h.groupName())},
				{Key: aws.String(v1.TagRequestUID), Value: aws.String(reqUID)},
			},
		}},
	}
	if err := dryRun(ctx, "CreateSecurityGroup", func(ctx context.Context) error {
		dry := *in
		dry.DryRun = aws.Bool(true)
		_, err := h.a.ec2.CreateSecurityGroup(ctx, &dry)
		return err
	}); err != nil {
		return "", fmt.Errorf("create quarantine group in %s: %w", h.p.VPCID, err)
	}
	var out *ec2.CreateSecurityGroupOutput
	err := call(ctx, "CreateSecurityGroup", false, func(ctx context.Context) error {
		var err error
		out, err = h.a.ec2.CreateSecurityGroup(ctx, in)
		return err
	})
	if err != nil {
		if Classify(err) == ClassAlreadyDone {
			if id, ferr := h.findGroup(ctx); ferr == nil && id != "" {
				return id, nil
			}
		}
		return "", fmt.Errorf("create quarantine group in %s: %w", h.p.VPCID, err)
	}
	return aws.ToString(out.GroupId), nil
}

// lockDownEgress revokes every egress rule of the group except "all traffic to the
// forensics CIDR", which it adds when a forensics CIDR is set.
func (h *quarantine) lockDownEgress(ctx context.Context, qsg, reqUID string) error {
	var out *ec2.DescribeSecurityGroupsOutput
	err := h.a.read(ctx, "DescribeSecurityGroups", func(ctx context.Context) error {
		var err error
		out, err = h.a.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{qsg}})
		return err
	})
	if err != nil {
		return fmt.Errorf("describe quarantine group %s: %w", qsg, err)
	}
	if len(out.SecurityGroups) != 1 {
		return &TerminalError{Op: "describe quarantine group " + qsg, Err: fmt.Errorf("found %d groups", len(out.SecurityGroups))}
	}
	var forensics ec2types.IpPermission
	if h.p.ForensicsCIDR != "" {
		forensics = (&sgRule{p: v1.SecurityGroupRuleParams{Protocol: v1.ProtocolAll, CIDR: h.p.ForensicsCIDR}}).permission()
	}
	haveForensics := false
	for _, p := range out.SecurityGroups[0].IpPermissionsEgress {
		if h.p.ForensicsCIDR != "" && permMatches(p, forensics) && len(p.IpRanges)+len(p.Ipv6Ranges) == 1 && len(p.UserIdGroupPairs) == 0 && len(p.PrefixListIds) == 0 {
			haveForensics = true
			continue
		}
		revoke := ec2types.IpPermission{IpProtocol: p.IpProtocol, FromPort: p.FromPort, ToPort: p.ToPort, IpRanges: p.IpRanges, Ipv6Ranges: p.Ipv6Ranges, UserIdGroupPairs: p.UserIdGroupPairs, PrefixListIds: p.PrefixListIds}
		if err := changeSGRule(ctx, qsg, true, false, revoke, "", h.a); err != nil && Classify(err) != ClassAlreadyDone {
			return fmt.Errorf("revoke egress of quarantine group: %w", err)
		}
	}
	if h.p.ForensicsCIDR != "" && !haveForensics {
		if err := changeSGRule(ctx, qsg, true, true, forensics, reqUID, h.a); err != nil && Classify(err) != ClassAlreadyDone {
			return fmt.Errorf("allow forensics egress from quarantine group: %w", err)
		}
	}
	return nil
}
