package explain

import (
	"fmt"
	"strings"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// ActionInWords describes one catalog action as a sentence an operator can read
// without knowing the catalog, e.g. "Add network ACL entry #100 to acl-… that
// denies inbound TCP port 443 from 203.0.113.0/24".
func ActionInWords(a v1.Action) string {
	switch a.Type {
	case v1.ActionSecurityGroupRuleAuthorize, v1.ActionSecurityGroupRuleRevoke:
		p := a.SecurityGroupRule
		if p == nil {
			break
		}
		verb := "Allow"
		if a.Type == v1.ActionSecurityGroupRuleRevoke {
			verb = "Stop allowing"
		}
		return fmt.Sprintf("%s %s %s %s %s on security group %s", verb, directionWord(p.Direction), trafficWords(p.Protocol, p.Ports), peerWord(p.Direction), p.CIDR, p.GroupID)
	case v1.ActionNetworkACLEntryAdd, v1.ActionNetworkACLEntryRemove:
		p := a.NetworkACLEntry
		if p == nil {
			break
		}
		verb, rel := "Add", "to"
		if a.Type == v1.ActionNetworkACLEntryRemove {
			verb, rel = "Remove", "from"
		}
		act := "allows"
		if p.RuleAction == v1.RuleActionDeny {
			act = "denies"
		}
		return fmt.Sprintf("%s network ACL entry #%d %s %s that %s %s %s %s %s", verb, p.RuleNumber, rel, p.NetworkACLID, act, directionWord(p.Direction), trafficWords(p.Protocol, p.Ports), peerWord(p.Direction), p.CIDR)
	case v1.ActionRouteCreate, v1.ActionRouteReplace, v1.ActionRouteDelete:
		p := a.Route
		if p == nil {
			break
		}
		switch a.Type {
		case v1.ActionRouteCreate:
			return fmt.Sprintf("Create a route in %s sending %s to %s %s", p.RouteTableID, p.DestinationCIDR, p.TargetType, p.TargetID)
		case v1.ActionRouteReplace:
			return fmt.Sprintf("Point the route for %s in %s at %s %s (was %s)", p.DestinationCIDR, p.RouteTableID, p.TargetType, p.TargetID, previousTarget(p))
		default:
			return fmt.Sprintf("Delete the route for %s from %s (it pointed at %s)", p.DestinationCIDR, p.RouteTableID, previousTarget(p))
		}
	case v1.ActionPrefixListEntryAdd, v1.ActionPrefixListEntryRemove:
		p := a.PrefixListEntry
		if p == nil {
			break
		}
		if a.Type == v1.ActionPrefixListEntryAdd {
			return fmt.Sprintf("Add %s to managed prefix list %s", p.CIDR, p.PrefixListID)
		}
		return fmt.Sprintf("Remove %s from managed prefix list %s", p.CIDR, p.PrefixListID)
	case v1.ActionInstanceQuarantine, v1.ActionInstanceRelease:
		p := a.Quarantine
		if p == nil {
			break
		}
		if a.Type == v1.ActionInstanceQuarantine {
			s := fmt.Sprintf("Quarantine instance %s: replace its security groups (%s) with a quarantine group in %s that allows no traffic", p.InstanceID, strings.Join(p.OriginalGroupIDs, ", "), p.VPCID)
			if p.ForensicsCIDR != "" {
				s += " except to the forensics network " + p.ForensicsCIDR
			}
			return s
		}
		return fmt.Sprintf("Release instance %s from quarantine: restore its security groups %s", p.InstanceID, strings.Join(p.OriginalGroupIDs, ", "))
	case v1.ActionTagsAdd, v1.ActionTagsRemove:
		p := a.Tags
		if p == nil {
			break
		}
		tags := make([]string, 0, len(p.Tags))
		for _, t := range p.Tags {
			tags = append(tags, t.Key+"="+t.Value)
		}
		if a.Type == v1.ActionTagsAdd {
			return fmt.Sprintf("Tag %s with %s", p.ResourceID, strings.Join(tags, ", "))
		}
		return fmt.Sprintf("Remove the tags %s from %s", strings.Join(tags, ", "), p.ResourceID)
	case v1.ActionWAFIPSetAdd, v1.ActionWAFIPSetRemove:
		p := a.WAFIPSet
		if p == nil {
			break
		}
		if a.Type == v1.ActionWAFIPSetAdd {
			return fmt.Sprintf("Add %s to the %s WAF IP set %s", strings.Join(p.Addresses, ", "), strings.ToLower(string(p.Scope)), p.Name)
		}
		return fmt.Sprintf("Remove %s from the %s WAF IP set %s", strings.Join(p.Addresses, ", "), strings.ToLower(string(p.Scope)), p.Name)
	}
	return fmt.Sprintf("%s (parameters missing or unknown action type)", a.Type)
}

func directionWord(d v1.Direction) string {
	if d == v1.DirectionEgress {
		return "outbound"
	}
	return "inbound"
}

func peerWord(d v1.Direction) string {
	if d == v1.DirectionEgress {
		return "to"
	}
	return "from"
}

func trafficWords(p v1.Protocol, ports *v1.PortRange) string {
	proto := strings.ToUpper(string(p))
	if p == v1.ProtocolAll || p == "" {
		return "traffic of every protocol"
	}
	if ports == nil {
		return proto + " traffic"
	}
	if ports.From == ports.To {
		return fmt.Sprintf("%s port %d", proto, ports.From)
	}
	return fmt.Sprintf("%s ports %d-%d", proto, ports.From, ports.To)
}

func previousTarget(p *v1.RouteParams) string {
	if p.PreviousTargetID == "" {
		return "an unrecorded target"
	}
	return fmt.Sprintf("%s %s", p.PreviousTargetType, p.PreviousTargetID)
}
