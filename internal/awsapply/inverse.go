package awsapply

import (
	"fmt"
	"net/netip"
	"strings"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// Inverse returns the action that undoes act. Route replace and delete need the
// previous target recorded in the plan; without it there is nothing to restore and
// Inverse fails (the plan was not safe to roll back).
func Inverse(act v1.Action) (v1.Action, error) {
	inv := *act.DeepCopy()
	inv.Reason = "rollback of " + string(act.Type)
	switch act.Type {
	case v1.ActionSecurityGroupRuleAuthorize:
		inv.Type = v1.ActionSecurityGroupRuleRevoke
	case v1.ActionSecurityGroupRuleRevoke:
		inv.Type = v1.ActionSecurityGroupRuleAuthorize
	case v1.ActionNetworkACLEntryAdd:
		inv.Type = v1.ActionNetworkACLEntryRemove
	case v1.ActionNetworkACLEntryRemove:
		inv.Type = v1.ActionNetworkACLEntryAdd
	case v1.ActionPrefixListEntryAdd:
		inv.Type = v1.ActionPrefixListEntryRemove
	case v1.ActionPrefixListEntryRemove:
		inv.Type = v1.ActionPrefixListEntryAdd
	case v1.ActionInstanceQuarantine:
		inv.Type = v1.ActionInstanceRelease
	case v1.ActionInstanceRelease:
		inv.Type = v1.ActionInstanceQuarantine
	case v1.ActionTagsAdd:
		inv.Type = v1.ActionTagsRemove
	case v1.ActionTagsRemove:
		inv.Type = v1.ActionTagsAdd
	case v1.ActionWAFIPSetAdd:
		inv.Type = v1.ActionWAFIPSetRemove
	case v1.ActionWAFIPSetRemove:
		inv.Type = v1.ActionWAFIPSetAdd
	case v1.ActionRouteCreate:
		inv.Type = v1.ActionRouteDelete
		if inv.Route != nil {
			inv.Route.PreviousTargetType, inv.Route.PreviousTargetID = inv.Route.TargetType, inv.Route.TargetID
		}
	case v1.ActionRouteReplace, v1.ActionRouteDelete:
		if act.Route == nil || act.Route.PreviousTargetType == "" || act.Route.PreviousTargetID == "" {
			return v1.Action{}, fmt.Errorf("%s of %s has no previous target to restore", act.Type, routeName(act.Route))
		}
		if act.Type == v1.ActionRouteDelete {
			inv.Type = v1.ActionRouteCreate
		}
		inv.Route.TargetType, inv.Route.TargetID = act.Route.PreviousTargetType, act.Route.PreviousTargetID
		inv.Route.PreviousTargetType, inv.Route.PreviousTargetID = act.Route.TargetType, act.Route.TargetID
	default:
		return v1.Action{}, fmt.Errorf("action type %q is not in the catalog", act.Type)
	}
	return inv, nil
}

func routeName(p *v1.RouteParams) string {
	if p == nil {
		return "a route"
	}
	return p.DestinationCIDR + " in " + p.RouteTableID
}

// Describe is a one-line human description of act, for journal messages.
func Describe(act v1.Action) string {
	switch {
	case act.SecurityGroupRule != nil:
		p := act.SecurityGroupRule
		return fmt.Sprintf("%s %s %s %s %s on %s", act.Type, p.Direction, p.Protocol, portsString(p.Ports), p.CIDR, p.GroupID)
	case act.NetworkACLEntry != nil:
		p := act.NetworkACLEntry
		return fmt.Sprintf("%s #%d %s %s %s %s %s on %s", act.Type, p.RuleNumber, p.Direction, p.RuleAction, p.Protocol, portsString(p.Ports), p.CIDR, p.NetworkACLID)
	case act.Route != nil:
		p := act.Route
		return fmt.Sprintf("%s %s -> %s %s in %s", act.Type, p.DestinationCIDR, p.TargetType, p.TargetID, p.RouteTableID)
	case act.PrefixListEntry != nil:
		return fmt.Sprintf("%s %s in %s", act.Type, act.PrefixListEntry.CIDR, act.PrefixListEntry.PrefixListID)
	case act.Quarantine != nil:
		return fmt.Sprintf("%s %s (groups %s)", act.Type, act.Quarantine.InstanceID, strings.Join(act.Quarantine.OriginalGroupIDs, ","))
	case act.Tags != nil:
		keys := make([]string, 0, len(act.Tags.Tags))
		for _, t := range act.Tags.Tags {
			keys = append(keys, t.Key)
		}
		return fmt.Sprintf("%s %s on %s", act.Type, strings.Join(keys, ","), act.Tags.ResourceID)
	case act.WAFIPSet != nil:
		return fmt.Sprintf("%s %s in WAF IP set %s", act.Type, strings.Join(act.WAFIPSet.Addresses, ","), act.WAFIPSet.Name)
	}
	return string(act.Type)
}

// ResourceIDs returns the EC2 resource IDs act touches (not WAF IP sets, which are
// not EC2 resources).
func ResourceIDs(act v1.Action) []string {
	switch {
	case act.SecurityGroupRule != nil:
		return []string{act.SecurityGroupRule.GroupID}
	case act.NetworkACLEntry != nil:
		return []string{act.NetworkACLEntry.NetworkACLID}
	case act.Route != nil:
		return []string{act.Route.RouteTableID}
	case act.PrefixListEntry != nil:
		return []string{act.PrefixListEntry.PrefixListID}
	case act.Quarantine != nil:
		return append([]string{act.Quarantine.InstanceID}, act.Quarantine.OriginalGroupIDs...)
	case act.Tags != nil:
		return []string{act.Tags.ResourceID}
	}
	return nil
}

func portsString(p *v1.PortRange) string {
	if p == nil {
		return "all-ports"
	}
	if p.From == p.To {
		return fmt.Sprint(p.From)
	}
	return fmt.Sprintf("%d-%d", p.From, p.To)
}

// normCIDR returns the canonical (masked) form of a CIDR, or s unchanged when it
// does not parse.
func normCIDR(s string) string {
	pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return s
	}
	return pfx.Masked().String()
}

func isIPv6(cidr string) bool {
	pfx, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	return err == nil && pfx.Addr().Is6() && !pfx.Addr().Is4In6()
}

// protocolNumber maps a catalog protocol to AWS's IpProtocol/Protocol form.
func protocolNumber(p v1.Protocol) string {
	switch p {
	case v1.ProtocolTCP:
		return "6"
	case v1.ProtocolUDP:
		return "17"
	case v1.ProtocolICMP:
		return "1"
	default:
		return "-1"
	}
}

// protocolName maps an AWS protocol (name or number) to the catalog's names.
func protocolName(s string) v1.Protocol {
	switch strings.ToLower(s) {
	case "6", "tcp":
		return v1.ProtocolTCP
	case "17", "udp":
		return v1.ProtocolUDP
	case "1", "icmp":
		return v1.ProtocolICMP
	default:
		return v1.ProtocolAll
	}
}
