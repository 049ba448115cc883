package intent

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/plan"
)

// maxFindings is the most scope-creep findings returned (ChangeVerdict findings hold 64).
const maxFindings = 64

// Reserved tag keys: netchange's own markers, which a plan may not remove or set
// (audit) as a side effect.
const (
	tagAudit     = "netchange.io/audit"
	tagProtected = v1.TagProtected
)

// snapEntry is the part of a snapshot entry the scope check reads.
type snapEntry struct {
	s     v1.ResourceSnapshot
	refs  map[string]bool // EC2 IDs its state mentions
	names []string        // lower-case names (Name tag, groupName, name)
}

// reRefID finds EC2 IDs anywhere in a string (snapshot states are trusted to be
// what the executor will compare against AWS, but are still parsed defensively).
var reRefID = regexp.MustCompile(`\b(?:i|sg|acl|rtb|pl|vpc|subnet|igw|nat|tgw|eni|pcx|vpce)-(?:[0-9a-f]{17}|[0-9a-f]{8})\b`)

func parseSnapshot(snap []v1.ResourceSnapshot) map[string]*snapEntry {
	out := make(map[string]*snapEntry, len(snap))
	for _, s := range snap {
		e := &snapEntry{s: s, refs: map[string]bool{}}
		var root any
		if len(s.State) <= 1<<16 && json.Unmarshal([]byte(s.State), &root) == nil {
			budget := 20000
			var walk func(key string, v any, depth int)
			walk = func(key string, v any, depth int) {
				budget--
				if depth > 32 || budget < 0 {
					return
				}
				switch x := v.(type) {
				case map[string]any:
					// A tag in {"Key": "Name", "Value": "payments"} form.
					if k, ok := firstString(x, "key", "Key"); ok && strings.EqualFold(k, "name") {
						if val, ok := firstString(x, "value", "Value"); ok {
							e.names = append(e.names, strings.ToLower(val))
						}
					}
					keys := make([]string, 0, len(x))
					for k := range x {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					for _, k := range keys {
						walk(k, x[k], depth+1)
					}
				case []any:
					for _, el := range x {
						walk(key, el, depth+1)
					}
				case string:
					for _, id := range reRefID.FindAllString(x, 64) {
						if id != s.ID {
							e.refs[id] = true
						}
					}
					lk := strings.ToLower(key)
					if lk == "name" || lk == "groupname" || lk == "prefixlistname" {
						e.names = append(e.names, strings.ToLower(x))
					}
				}
			}
			walk("", root, 0)
		}
		out[s.ID] = e
	}
	return out
}

func firstString(m map[string]any, keys ...string) (string, bool) {
	for _, k := range keys {
		if s, ok := m[k].(string); ok {
			return s, true
		}
	}
	return "", false
}

// scope holds what one CheckScope call needs.
type scope struct {
	in    Intent
	env   string
	snap  map[string]*snapEntry
	cidrs []netip.Prefix
	// reached are IDs mentioned in the snapshot state of a resource the request names.
	reached map[string]bool
	out     []string
}

// CheckScope returns one finding per action or target of p that the request does
// not ask for (scope creep). An action must match a verb the request uses (an
// ingress allow in a "block" request is creep; a quarantine needs "isolate" or a
// finding about the instance), and each target must be grounded: CIDRs named by
// the request (for blocks and removals, contained in a named CIDR), resource IDs
// named by the text, targets or event, or reached through the snapshot of a named
// resource, or (for a resource whose snapshot environment is the request's) either
// a block in that environment or a resource kind the request names generically
// ("the production subnets"). An empty result means the plan is within scope.
func CheckScope(in Intent, req *v1.NetworkChangeRequest, p *v1.Plan) []string {
	if p == nil {
		return nil
	}
	sc := &scope{in: in, snap: parseSnapshot(p.Snapshot), reached: map[string]bool{}}
	if req != nil {
		sc.env = string(req.Spec.Environment)
	}
	for _, c := range in.CIDRs {
		if pfx, err := netip.ParsePrefix(c); err == nil {
			sc.cidrs = append(sc.cidrs, pfx)
		}
	}
	for id, e := range sc.snap {
		if in.Named(id) {
			for r := range e.refs {
				sc.reached[r] = true
			}
		}
	}
	if len(in.Regions) > 0 && p.Region != "" && !contains(in.Regions, p.Region) {
		sc.add("plan region %s is not a region the request names (%s)", p.Region, strings.Join(in.Regions, ", "))
	}
	for i := range p.Actions {
		sc.action(i, &p.Actions[i])
	}
	if len(sc.out) > maxFindings {
		n := len(sc.out) - (maxFindings - 1)
		sc.out = append(sc.out[:maxFindings-1], fmt.Sprintf("... and %d more scope-creep findings", n))
	}
	return sc.out
}

func (sc *scope) add(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if len(s) > 500 {
		s = s[:497] + "..."
	}
	sc.out = append(sc.out, s)
}

// verbsFor says which verbs make an action asked for.
func verbsFor(a *v1.Action) []Verb {
	switch a.Type {
	case v1.ActionSecurityGroupRuleAuthorize:
		return []Verb{VerbAllow}
	case v1.ActionSecurityGroupRuleRevoke:
		return []Verb{VerbRemove, VerbBlock}
	case v1.ActionNetworkACLEntryAdd:
		if a.NetworkACLEntry != nil && a.NetworkACLEntry.RuleAction == v1.RuleActionDeny {
			return []Verb{VerbBlock}
		}
		return []Verb{VerbAllow}
	case v1.ActionNetworkACLEntryRemove, v1.ActionPrefixListEntryRemove, v1.ActionWAFIPSetRemove,
		v1.ActionInstanceRelease, v1.ActionTagsRemove:
		return []Verb{VerbRemove}
	case v1.ActionRouteCreate, v1.ActionRouteReplace, v1.ActionRouteDelete:
		return []Verb{VerbRoute}
	case v1.ActionPrefixListEntryAdd, v1.ActionWAFIPSetAdd:
		return []Verb{VerbBlock, VerbAdd}
	case v1.ActionInstanceQuarantine:
		return []Verb{VerbIsolate}
	case v1.ActionTagsAdd:
		return []Verb{VerbAdd, VerbTag, VerbIsolate}
	}
	return nil
}

// describe says what an action does, for findings.
func describe(a *v1.Action) string {
	switch {
	case a.SecurityGroupRule != nil:
		r := a.SecurityGroupRule
		verb := "opens"
		if a.Type == v1.ActionSecurityGroupRuleRevoke {
			verb = "revokes"
		}
		return fmt.Sprintf("on %s %s %s %s%s", r.GroupID, verb, r.CIDR, r.Direction, portsOf(r.Protocol, r.Ports))
	case a.NetworkACLEntry != nil:
		e := a.NetworkACLEntry
		return fmt.Sprintf("on %s %ss %s %s%s (rule %d)", e.NetworkACLID, e.RuleAction, e.CIDR, e.Direction, portsOf(e.Protocol, e.Ports), e.RuleNumber)
	case a.Route != nil:
		return fmt.Sprintf("on %s routes %s via %s", a.Route.RouteTableID, a.Route.DestinationCIDR, a.Route.TargetID)
	case a.PrefixListEntry != nil:
		return fmt.Sprintf("on %s %s", a.PrefixListEntry.PrefixListID, a.PrefixListEntry.CIDR)
	case a.Quarantine != nil:
		return "on " + a.Quarantine.InstanceID
	case a.Tags != nil:
		return "on " + a.Tags.ResourceID
	case a.WAFIPSet != nil:
		return fmt.Sprintf("on IP set %s %s", a.WAFIPSet.Name, strings.Join(a.WAFIPSet.Addresses, ","))
	}
	return "(no parameters)"
}

func portsOf(proto v1.Protocol, p *v1.PortRange) string {
	switch {
	case proto == v1.ProtocolAll:
		return " all traffic"
	case p == nil:
		return " " + string(proto)
	default:
		return " " + string(proto) + "/" + portString(*p)
	}
}

func (sc *scope) action(i int, a *v1.Action) {
	head := fmt.Sprintf("actions[%d] %s", i, a.Type)
	want := verbsFor(a)
	if want == nil {
		sc.add("%s: type is not in the action catalog", head)
		return
	}
	if ps := paramsPresent(a); ps == "" {
		sc.add("%s: parameters are missing", head)
		return
	}
	asked := false
	for _, v := range want {
		if sc.in.Has(v) {
			asked = true
		}
	}
	if !asked {
		sc.add("%s %s: not asked for by the request (it needs one of: %s; the request asks to: %s)",
			head, describe(a), verbList(want), verbList(sc.in.Verbs))
	}
	switch {
	case a.SecurityGroupRule != nil:
		r := a.SecurityGroupRule
		sc.resource(head, "security group", r.GroupID, KindSG, false)
		if a.Type == v1.ActionSecurityGroupRuleAuthorize {
			sc.cidr(head, r.CIDR, false, fmt.Sprintf("opens %s %s", r.CIDR, r.Direction))
			sc.ports(head, r.Protocol, r.Ports)
		} else {
			sc.cidr(head, r.CIDR, true, "revokes "+r.CIDR)
		}
	case a.NetworkACLEntry != nil:
		e := a.NetworkACLEntry
		block := e.RuleAction == v1.RuleActionDeny || a.Type == v1.ActionNetworkACLEntryRemove
		sc.resource(head, "network ACL", e.NetworkACLID, KindACL, e.RuleAction == v1.RuleActionDeny && a.Type == v1.ActionNetworkACLEntryAdd)
		sc.cidr(head, e.CIDR, block, fmt.Sprintf("%ss %s %s", e.RuleAction, e.CIDR, e.Direction))
		if e.RuleAction == v1.RuleActionAllow && a.Type == v1.ActionNetworkACLEntryAdd {
			sc.ports(head, e.Protocol, e.Ports)
		}
	case a.Route != nil:
		r := a.Route
		sc.resource(head, "route table", r.RouteTableID, KindRTB, false)
		sc.cidr(head, r.DestinationCIDR, a.Type == v1.ActionRouteDelete, "routes "+r.DestinationCIDR)
		if r.TargetID != "" {
			sc.linked(head, "route target", r.TargetID, r.RouteTableID)
		}
		if r.PreviousTargetID != "" {
			sc.linked(head, "previous route target", r.PreviousTargetID, r.RouteTableID)
		}
	case a.PrefixListEntry != nil:
		e := a.PrefixListEntry
		sc.resource(head, "prefix list", e.PrefixListID, KindPL, a.Type == v1.ActionPrefixListEntryAdd)
		sc.cidr(head, e.CIDR, true, "lists "+e.CIDR)
	case a.Quarantine != nil:
		q := a.Quarantine
		if !sc.in.Named(q.InstanceID) {
			sc.add("%s on %s: instance %s is not named by the request, its targets or its event", head, q.InstanceID, q.InstanceID)
		}
		sc.linked(head, "VPC", q.VPCID, q.InstanceID)
		for _, g := range q.OriginalGroupIDs {
			sc.linked(head, "original security group", g, q.InstanceID)
		}
		if q.ForensicsCIDR != "" {
			sc.cidr(head, q.ForensicsCIDR, true, "keeps egress to forensics CIDR "+q.ForensicsCIDR)
		}
	case a.Tags != nil:
		t := a.Tags
		if idKind(t.ResourceID) == KindInstance {
			if !sc.in.Named(t.ResourceID) {
				sc.add("%s on %s: instance %s is not named by the request, its targets or its event", head, t.ResourceID, t.ResourceID)
			}
		} else {
			sc.resource(head, "resource", t.ResourceID, idKind(t.ResourceID), false)
		}
		for _, tag := range t.Tags {
			if tag.Key == tagAudit || (tag.Key == tagProtected && a.Type == v1.ActionTagsRemove) {
				sc.add("%s on %s: changes netchange's own tag %s, which no request may do", head, t.ResourceID, tag.Key)
			}
		}
	case a.WAFIPSet != nil:
		w := a.WAFIPSet
		sc.wafSet(head, w, a.Type == v1.ActionWAFIPSetAdd)
		for _, addr := range w.Addresses {
			sc.cidr(head, addr, true, "lists "+addr)
		}
	}
}

func paramsPresent(a *v1.Action) string {
	switch a.Type {
	case v1.ActionSecurityGroupRuleAuthorize, v1.ActionSecurityGroupRuleRevoke:
		if a.SecurityGroupRule != nil {
			return "securityGroupRule"
		}
	case v1.ActionNetworkACLEntryAdd, v1.ActionNetworkACLEntryRemove:
		if a.NetworkACLEntry != nil {
			return "networkACLEntry"
		}
	case v1.ActionRouteCreate, v1.ActionRouteReplace, v1.ActionRouteDelete:
		if a.Route != nil {
			return "route"
		}
	case v1.ActionPrefixListEntryAdd, v1.ActionPrefixListEntryRemove:
		if a.PrefixListEntry != nil {
			return "prefixListEntry"
		}
	case v1.ActionInstanceQuarantine, v1.ActionInstanceRelease:
		if a.Quarantine != nil {
			return "quarantine"
		}
	case v1.ActionTagsAdd, v1.ActionTagsRemove:
		if a.Tags != nil {
			return "tags"
		}
	case v1.ActionWAFIPSetAdd, v1.ActionWAFIPSetRemove:
		if a.WAFIPSet != nil {
			return "wafIPSet"
		}
	}
	return ""
}

func verbList(vs []Verb) string {
	if len(vs) == 0 {
		return "nothing recognisable"
	}
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// resource checks that an action's own resource is grounded.
func (sc *scope) resource(head, what, id, kind string, block bool) {
	if sc.grounded(id, kind, block) {
		return
	}
	sc.add("%s on %s: %s %s is not named by the request, its targets or its event, nor reached through the snapshot of a named resource",
		head, id, what, id)
}

func (sc *scope) grounded(id, kind string, block bool) bool {
	if sc.in.Named(id) || sc.reached[id] {
		return true
	}
	e, ok := sc.snap[id]
	if !ok {
		return false
	}
	// The resource's own snapshot links it to a named resource (a NACL associated
	// with a named subnet, a group in a named VPC).
	for r := range e.refs {
		if sc.in.Named(r) {
			return true
		}
	}
	envOK := e.s.Environment != "" && sc.env != "" && strings.EqualFold(e.s.Environment, sc.env)
	// Named by a distinctive word ("the payments security group").
	if e.s.Environment == "" || envOK {
		for _, n := range e.names {
			if sc.nameMatches(n) {
				return true
			}
		}
	}
	if !envOK {
		return false
	}
	// A block in the request's environment, or a kind the request names generically.
	if block {
		return true
	}
	if contains(sc.in.Kinds, kind) {
		return true
	}
	// "the production subnets" grounds the subnets' network ACLs.
	return kind == KindACL && contains(sc.in.Kinds, KindSubnet)
}

func (sc *scope) nameMatches(name string) bool {
	if name == "" {
		return false
	}
	tokens := strings.FieldsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	for _, kw := range sc.in.Keywords {
		if kw == name {
			return true
		}
		for _, t := range tokens {
			if len(t) >= 4 && t == kw {
				return true
			}
		}
	}
	return false
}

// linked checks that an ID an action refers to (a route target, a quarantined
// instance's VPC and groups) is named or appears in the snapshot of owner or of a
// named resource.
func (sc *scope) linked(head, what, id, owner string) {
	if sc.in.Named(id) || sc.reached[id] {
		return
	}
	if e, ok := sc.snap[owner]; ok && e.refs[id] {
		return
	}
	sc.add("%s: %s %s is not named by the request, nor in the snapshot of %s", head, what, id, owner)
}

func (sc *scope) wafSet(head string, w *v1.WAFIPSetParams, block bool) {
	if contains(sc.in.WAFIPSets, w.Name) {
		return
	}
	key := plan.WAFIPSetResource(w.Scope, w.Name, w.ID)
	if e, ok := sc.snap[key]; ok {
		envOK := e.s.Environment != "" && strings.EqualFold(e.s.Environment, sc.env)
		if envOK && (block || contains(sc.in.Kinds, KindWAF)) {
			return
		}
		if (envOK || e.s.Environment == "") && sc.nameMatches(strings.ToLower(w.Name)) {
			return
		}
	}
	sc.add("%s: WAF IP set %s is not named by the request, nor a block list of the request's environment", head, w.Name)
}

// cidr checks that a CIDR is named (exactly, or contained in a named CIDR when
// contained is true: blocking or removing part of what was named is within scope).
func (sc *scope) cidr(head, c string, contained bool, effect string) {
	p, err := netip.ParsePrefix(strings.TrimSpace(c))
	if err != nil {
		if a, aerr := netip.ParseAddr(strings.TrimSpace(c)); aerr == nil {
			p = netip.PrefixFrom(a, a.BitLen())
		} else {
			sc.add("%s: %s is not a CIDR block", head, c)
			return
		}
	}
	p = p.Masked()
	for _, n := range sc.cidrs {
		if n == p {
			return
		}
		if contained && n.Addr().Is4() == p.Addr().Is4() && n.Bits() <= p.Bits() && n.Contains(p.Addr()) {
			return
		}
	}
	sc.add("%s %s: CIDR %s is not named by the request", head, effect, p)
}

// ports checks that an allow opens only named ports and protocols.
func (sc *scope) ports(head string, proto v1.Protocol, pr *v1.PortRange) {
	if len(sc.in.Protocols) > 0 && !contains(sc.in.Protocols, string(proto)) {
		sc.add("%s: protocol %s is not a protocol the request names (%s)", head, proto, strings.Join(sc.in.Protocols, ", "))
	}
	if len(sc.in.Ports) == 0 {
		return
	}
	if proto == v1.ProtocolAll || pr == nil {
		if proto == v1.ProtocolICMP {
			return
		}
		sc.add("%s: opens every port, the request names only ports %s", head, sc.portList())
		return
	}
	for _, n := range sc.in.Ports {
		if pr.From >= n.From && pr.To <= n.To {
			return
		}
	}
	sc.add("%s: opens ports %s, the request names only ports %s", head, portString(*pr), sc.portList())
}

func (sc *scope) portList() string {
	s := make([]string, len(sc.in.Ports))
	for i, p := range sc.in.Ports {
		s[i] = portString(p)
	}
	return strings.Join(s, ", ")
}
