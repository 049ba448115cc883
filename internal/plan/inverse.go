package plan

import (
	"fmt"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// inverseType maps each catalog type to the type that undoes it. RouteReplace is
// its own inverse (replace back to the previous target).
var inverseType = map[v1.ActionType]v1.ActionType{
	v1.ActionSecurityGroupRuleAuthorize: v1.ActionSecurityGroupRuleRevoke,
	v1.ActionSecurityGroupRuleRevoke:    v1.ActionSecurityGroupRuleAuthorize,
	v1.ActionNetworkACLEntryAdd:         v1.ActionNetworkACLEntryRemove,
	v1.ActionNetworkACLEntryRemove:      v1.ActionNetworkACLEntryAdd,
	v1.ActionRouteCreate:                v1.ActionRouteDelete,
	v1.ActionRouteDelete:                v1.ActionRouteCreate,
	v1.ActionRouteReplace:               v1.ActionRouteReplace,
	v1.ActionPrefixListEntryAdd:         v1.ActionPrefixListEntryRemove,
	v1.ActionPrefixListEntryRemove:      v1.ActionPrefixListEntryAdd,
	v1.ActionInstanceQuarantine:         v1.ActionInstanceRelease,
	v1.ActionInstanceRelease:            v1.ActionInstanceQuarantine,
	v1.ActionTagsAdd:                    v1.ActionTagsRemove,
	v1.ActionTagsRemove:                 v1.ActionTagsAdd,
	v1.ActionWAFIPSetAdd:                v1.ActionWAFIPSetRemove,
	v1.ActionWAFIPSetRemove:             v1.ActionWAFIPSetAdd,
}

// Inverse returns the action that undoes a, for rollback and time-boxed reverts.
// The result shares no memory with a and keeps a's reason; for every valid action
// Inverse(Inverse(a)) equals a.
//
//   - SecurityGroupRuleAuthorize ↔ SecurityGroupRuleRevoke, NetworkACLEntryAdd ↔
//     NetworkACLEntryRemove, PrefixListEntryAdd ↔ PrefixListEntryRemove,
//     WAFIPSetAdd ↔ WAFIPSetRemove, InstanceQuarantine ↔ InstanceRelease: same
//     parameters, opposite type.
//   - RouteCreate → RouteDelete whose previous target is the created target;
//     RouteDelete → RouteCreate of its previous target; RouteReplace →
//     RouteReplace with target and previous target swapped.
//   - TagsAdd → TagsRemove of the same keys (with the added values);
//     TagsRemove → TagsAdd of the removed keys with the values it carries.
//     TagsAdd overwrites existing values, and its inverse only removes the keys:
//     an overwritten value is restored on rollback only if the planner recorded
//     it, by planning a TagsRemove of the old tag (with its value) before the
//     TagsAdd, whose inverse then re-adds it.
//
// It returns an error when a is not a valid-shaped catalog action, or when a
// route action lacks the target its inverse needs.
func Inverse(a v1.Action) (v1.Action, error) {
	if msg := shapeError(&a); msg != "" {
		return v1.Action{}, fmt.Errorf("inverse of %s action: %s", typeName(a.Type), msg)
	}
	out := *a.DeepCopy()
	out.Type = inverseType[a.Type]
	if out.Route != nil {
		r := out.Route
		switch a.Type {
		case v1.ActionRouteCreate:
			if r.TargetType == "" || r.TargetID == "" {
				return v1.Action{}, fmt.Errorf("inverse of RouteCreate on %s %s: the created target is unknown; set targetType and targetID", r.RouteTableID, r.DestinationCIDR)
			}
		case v1.ActionRouteDelete, v1.ActionRouteReplace:
			if r.PreviousTargetType == "" || r.PreviousTargetID == "" {
				return v1.Action{}, fmt.Errorf("inverse of %s on %s %s: the previous target is unknown, so it cannot be restored; set previousTargetType and previousTargetID", a.Type, r.RouteTableID, r.DestinationCIDR)
			}
		}
		if a.Type == v1.ActionRouteReplace && (r.TargetType == "" || r.TargetID == "") {
			return v1.Action{}, fmt.Errorf("inverse of RouteReplace on %s %s: the new target is unknown; set targetType and targetID", r.RouteTableID, r.DestinationCIDR)
		}
		r.TargetType, r.PreviousTargetType = r.PreviousTargetType, r.TargetType
		r.TargetID, r.PreviousTargetID = r.PreviousTargetID, r.TargetID
	}
	return out, nil
}

// typeName names an action type for a message: catalog types as they are,
// anything else quoted because it is untrusted text.
func typeName(t v1.ActionType) string {
	switch {
	case t == "":
		return "untyped"
	case IsCatalogType(t):
		return string(t)
	}
	return quote(string(t))
}

// IsDeletion reports whether a removes something from AWS: a revoke, a NACL entry
// or prefix list entry removal, a route deletion, a tag removal, a WAF address
// removal, or an instance release (it drops the quarantine). Deletions need
// explicit confirmation under the built-in guardrails.
func IsDeletion(a v1.Action) bool {
	switch a.Type {
	case v1.ActionSecurityGroupRuleRevoke, v1.ActionNetworkACLEntryRemove, v1.ActionRouteDelete,
		v1.ActionPrefixListEntryRemove, v1.ActionTagsRemove, v1.ActionWAFIPSetRemove, v1.ActionInstanceRelease:
		return true
	}
	return false
}

// Resources returns the AWS resources a touches, without duplicates, in a fixed
// order: the security group; the network ACL; the route table, then target and
// previous target; the prefix list; the instance, its VPC and original groups;
// the tagged resource; or the WAF IP set as "wafv2:<scope>/<name>/<id>". It
// reads only the block that matches a's type, and returns nil when it is unset.
func Resources(a v1.Action) []string {
	var ids []string
	switch a.Type {
	case v1.ActionSecurityGroupRuleAuthorize, v1.ActionSecurityGroupRuleRevoke:
		if r := a.SecurityGroupRule; r != nil {
			ids = []string{r.GroupID}
		}
	case v1.ActionNetworkACLEntryAdd, v1.ActionNetworkACLEntryRemove:
		if e := a.NetworkACLEntry; e != nil {
			ids = []string{e.NetworkACLID}
		}
	case v1.ActionRouteCreate, v1.ActionRouteReplace, v1.ActionRouteDelete:
		if r := a.Route; r != nil {
			ids = []string{r.RouteTableID, r.TargetID, r.PreviousTargetID}
		}
	case v1.ActionPrefixListEntryAdd, v1.ActionPrefixListEntryRemove:
		if e := a.PrefixListEntry; e != nil {
			ids = []string{e.PrefixListID}
		}
	case v1.ActionInstanceQuarantine, v1.ActionInstanceRelease:
		if q := a.Quarantine; q != nil {
			ids = append([]string{q.InstanceID, q.VPCID}, q.OriginalGroupIDs...)
		}
	case v1.ActionTagsAdd, v1.ActionTagsRemove:
		if t := a.Tags; t != nil {
			ids = []string{t.ResourceID}
		}
	case v1.ActionWAFIPSetAdd, v1.ActionWAFIPSetRemove:
		if w := a.WAFIPSet; w != nil {
			ids = []string{WAFIPSetResource(w.Scope, w.Name, w.ID)}
		}
	}
	out := ids[:0]
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// WAFIPSetResource is how Resources and BlastRadius name a WAFv2 IP set:
// "wafv2:<scope>/<name>/<id>".
func WAFIPSetResource(scope v1.WAFScope, name, id string) string {
	return "wafv2:" + string(scope) + "/" + name + "/" + id
}
