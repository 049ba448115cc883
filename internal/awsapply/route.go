package awsapply

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/awscontext"
)

// route creates, replaces or deletes a route. No dry run: moto ignores DryRun for routes.
type route struct {
	a    *Applier
	p    v1.RouteParams
	kind v1.ActionType
}

// current returns the route's target in AWS, or found=false.
func (h *route) current(ctx context.Context) (found bool, tt v1.RouteTargetType, id string, err error) {
	var out *ec2.DescribeRouteTablesOutput
	err = h.a.read(ctx, "DescribeRouteTables", func(ctx context.Context) error {
		var err error
		out, err = h.a.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{h.p.RouteTableID}})
		return err
	})
	if err != nil {
		return false, "", "", fmt.Errorf("describe route table %s: %w", h.p.RouteTableID, err)
	}
	if len(out.RouteTables) != 1 {
		return false, "", "", &TerminalError{Op: "describe route table " + h.p.RouteTableID, Err: fmt.Errorf("found %d route tables", len(out.RouteTables))}
	}
	want := normCIDR(h.p.DestinationCIDR)
	for _, r := range out.RouteTables[0].Routes {
		dst := aws.ToString(r.DestinationCidrBlock)
		if dst == "" {
			dst = aws.ToString(r.DestinationIpv6CidrBlock)
		}
		if normCIDR(dst) != want {
			continue
		}
		// The same reading of a route's next hop as the planner's snapshot
		// (awscontext), so previous targets recorded there match what is observed
		// here; a route to an instance also carries the instance's interface.
		tt, id := awscontext.RouteTarget(r)
		if h.p.TargetType == v1.RouteTargetInstance && h.p.TargetID != "" && aws.ToString(r.InstanceId) == h.p.TargetID {
			tt, id = v1.RouteTargetInstance, h.p.TargetID
		}
		return true, tt, id, nil
	}
	return false, "", "", nil
}

func (h *route) observe(ctx context.Context) (bool, Result, error) {
	found, _, id, err := h.current(ctx)
	if err != nil {
		return false, Result{}, err
	}
	if h.kind == v1.ActionRouteDelete {
		return !found, Result{}, nil
	}
	return found && id == h.p.TargetID, Result{}, nil
}

func (h *route) apply(ctx context.Context, _ string) (Result, error) {
	rt, dst := aws.String(h.p.RouteTableID), aws.String(normCIDR(h.p.DestinationCIDR))
	v6 := isIPv6(h.p.DestinationCIDR)
	var err error
	switch h.kind {
	case v1.ActionRouteDelete:
		in := &ec2.DeleteRouteInput{RouteTableId: rt}
		if v6 {
			in.DestinationIpv6CidrBlock = dst
		} else {
			in.DestinationCidrBlock = dst
		}
		err = call(ctx, "DeleteRoute", false, func(ctx context.Context) error {
			_, err := h.a.ec2.DeleteRoute(ctx, in)
			return err
		})
	case v1.ActionRouteCreate:
		in := &ec2.CreateRouteInput{RouteTableId: rt}
		if v6 {
			in.DestinationIpv6CidrBlock = dst
		} else {
			in.DestinationCidrBlock = dst
		}
		if err := setCreateTarget(in, h.p.TargetType, h.p.TargetID); err != nil {
			return Result{}, err
		}
		err = call(ctx, "CreateRoute", false, func(ctx context.Context) error {
			_, err := h.a.ec2.CreateRoute(ctx, in)
			return err
		})
	case v1.ActionRouteReplace:
		in := &ec2.ReplaceRouteInput{RouteTableId: rt}
		if v6 {
			in.DestinationIpv6CidrBlock = dst
		} else {
			in.DestinationCidrBlock = dst
		}
		c := &ec2.CreateRouteInput{}
		if err := setCreateTarget(c, h.p.TargetType, h.p.TargetID); err != nil {
			return Result{}, err
		}
		in.GatewayId, in.NatGatewayId, in.NetworkInterfaceId = c.GatewayId, c.NatGatewayId, c.NetworkInterfaceId
		in.TransitGatewayId, in.VpcPeeringConnectionId, in.InstanceId = c.TransitGatewayId, c.VpcPeeringConnectionId, c.InstanceId
		err = call(ctx, "ReplaceRoute", false, func(ctx context.Context) error {
			_, err := h.a.ec2.ReplaceRoute(ctx, in)
			return err
		})
	}
	if err != nil {
		return Result{}, fmt.Errorf("%s %s in %s: %w", h.kind, h.p.DestinationCIDR, h.p.RouteTableID, err)
	}
	return Result{Message: fmt.Sprintf("%s %s -> %s in %s", h.kind, h.p.DestinationCIDR, h.p.TargetID, h.p.RouteTableID)}, nil
}

func setCreateTarget(in *ec2.CreateRouteInput, tt v1.RouteTargetType, id string) error {
	if id == "" {
		return &TerminalError{Op: "route", Err: fmt.Errorf("route has no target")}
	}
	switch tt {
	case v1.RouteTargetGateway:
		in.GatewayId = aws.String(id)
	case v1.RouteTargetNATGateway:
		in.NatGatewayId = aws.String(id)
	case v1.RouteTargetNetworkInterface:
		in.NetworkInterfaceId = aws.String(id)
	case v1.RouteTargetTransitGateway:
		in.TransitGatewayId = aws.String(id)
	case v1.RouteTargetVPCPeering:
		in.VpcPeeringConnectionId = aws.String(id)
	case v1.RouteTargetInstance:
		in.InstanceId = aws.String(id)
	default:
		return &TerminalError{Op: "route", Err: fmt.Errorf("unknown route target type %q", tt)}
	}
	return nil
}
