package plan

import (
	"fmt"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// actionCost is the estimated monthly cost, in US dollars, each catalog action
// adds to an AWS bill (us-east-1 list prices, 2026):
//
//   - Security group rules, network ACL entries, routes and tags: free.
//   - Managed prefix list entries: free (a prefix list referenced by a security
//     group counts its max entries against the group's rule quota, not the bill).
//   - WAFv2 IP set addresses: free. An IP set costs nothing by itself; the web ACL
//     rule that references it costs $1.00/month plus request charges, and netchange
//     only changes addresses of existing sets, never creates rules.
//   - InstanceQuarantine and InstanceRelease: free; the quarantine security group
//     costs nothing and the instance keeps running (and billing) as before.
//
// Unknown types cost 0 here; Validate refuses them.
var actionCost = map[v1.ActionType]float64{
	v1.ActionSecurityGroupRuleAuthorize: 0,
	v1.ActionSecurityGroupRuleRevoke:    0,
	v1.ActionNetworkACLEntryAdd:         0,
	v1.ActionNetworkACLEntryRemove:      0,
	v1.ActionRouteCreate:                0,
	v1.ActionRouteReplace:               0,
	v1.ActionRouteDelete:                0,
	v1.ActionPrefixListEntryAdd:         0,
	v1.ActionPrefixListEntryRemove:      0,
	v1.ActionInstanceQuarantine:         0,
	v1.ActionInstanceRelease:            0,
	v1.ActionTagsAdd:                    0,
	v1.ActionTagsRemove:                 0,
	v1.ActionWAFIPSetAdd:                0,
	v1.ActionWAFIPSetRemove:             0,
}

// ActionMonthlyCostUSD returns the estimated monthly cost in US dollars that a
// adds, from the documented table above (every current catalog entry is free).
func ActionMonthlyCostUSD(a v1.Action) float64 {
	return actionCost[a.Type]
}

// MonthlyCostUSD returns the plan's estimated monthly cost, the sum of
// ActionMonthlyCostUSD over its actions, formatted "%.2f" (e.g. "0.00").
func MonthlyCostUSD(p *v1.Plan) string {
	var sum float64
	if p != nil {
		for _, a := range p.Actions {
			sum += ActionMonthlyCostUSD(a)
		}
	}
	return fmt.Sprintf("%.2f", sum)
}
