// Package plan holds the pure logic of netchange's closed action catalog: strict
// decoding of plan proposals, validation, inverse actions for rollback, internet
// exposure findings, blast radius, cost estimates, the proposal JSON Schema and the
// plan digest. Nothing here performs I/O.
package plan

import (
	"strconv"
	"strings"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// MaxActions is the largest number of actions a plan may hold (the CRD's limit).
const MaxActions = 20

// catalog lists every action type with the JSON name of its parameter block, in
// the order of api/v1alpha1/plan_types.go.
var catalog = []struct {
	typ    v1.ActionType
	params string
}{
	{v1.ActionSecurityGroupRuleAuthorize, "securityGroupRule"},
	{v1.ActionSecurityGroupRuleRevoke, "securityGroupRule"},
	{v1.ActionNetworkACLEntryAdd, "networkACLEntry"},
	{v1.ActionNetworkACLEntryRemove, "networkACLEntry"},
	{v1.ActionRouteCreate, "route"},
	{v1.ActionRouteReplace, "route"},
	{v1.ActionRouteDelete, "route"},
	{v1.ActionPrefixListEntryAdd, "prefixListEntry"},
	{v1.ActionPrefixListEntryRemove, "prefixListEntry"},
	{v1.ActionInstanceQuarantine, "quarantine"},
	{v1.ActionInstanceRelease, "quarantine"},
	{v1.ActionTagsAdd, "tags"},
	{v1.ActionTagsRemove, "tags"},
	{v1.ActionWAFIPSetAdd, "wafIPSet"},
	{v1.ActionWAFIPSetRemove, "wafIPSet"},
}

// Catalog returns every action type of the closed catalog, in a fixed order.
func Catalog() []v1.ActionType {
	out := make([]v1.ActionType, len(catalog))
	for i, c := range catalog {
		out[i] = c.typ
	}
	return out
}

// IsCatalogType reports whether t is an entry of the closed catalog.
func IsCatalogType(t v1.ActionType) bool {
	return ParamsField(t) != ""
}

// ParamsField returns the JSON name of the parameter block an action of type t
// must set (for example "securityGroupRule"), or "" when t is not in the catalog.
func ParamsField(t v1.ActionType) string {
	for _, c := range catalog {
		if c.typ == t {
			return c.params
		}
	}
	return ""
}

// catalogList is the catalog as a comma-separated list for error messages.
func catalogList() string {
	names := make([]string, len(catalog))
	for i, c := range catalog {
		names[i] = string(c.typ)
	}
	return strings.Join(names, ", ")
}

// setParams returns the JSON names of the parameter blocks set on a, in
// declaration order.
func setParams(a *v1.Action) []string {
	var out []string
	if a.SecurityGroupRule != nil {
		out = append(out, "securityGroupRule")
	}
	if a.NetworkACLEntry != nil {
		out = append(out, "networkACLEntry")
	}
	if a.Route != nil {
		out = append(out, "route")
	}
	if a.PrefixListEntry != nil {
		out = append(out, "prefixListEntry")
	}
	if a.Quarantine != nil {
		out = append(out, "quarantine")
	}
	if a.Tags != nil {
		out = append(out, "tags")
	}
	if a.WAFIPSet != nil {
		out = append(out, "wafIPSet")
	}
	return out
}

// shapeError returns "" when a has exactly the parameter block its type needs,
// and otherwise says what is wrong.
func shapeError(a *v1.Action) string {
	want := ParamsField(a.Type)
	if want == "" {
		if a.Type == "" {
			return "type is required; the catalog is: " + catalogList()
		}
		return "unknown action type " + quote(string(a.Type)) + "; the catalog is: " + catalogList()
	}
	got := setParams(a)
	if len(got) == 1 && got[0] == want {
		return ""
	}
	if len(got) == 0 {
		return "the " + want + " block is required for " + string(a.Type)
	}
	var extra []string
	for _, g := range got {
		if g != want {
			extra = append(extra, g)
		}
	}
	return "only the " + want + " block may be set for " + string(a.Type) + "; remove " + strings.Join(extra, ", ")
}

// quote quotes untrusted text for an error message, shortened to 64 bytes.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}
