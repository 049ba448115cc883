// Package rules is netchange's embedded, deterministic planner: it understands a
// fixed set of request shapes (block a CIDR, isolate an instance, open or close a
// port on a security group, add, replace or delete a route, edit a block list,
// and GuardDuty findings by type and severity), grounds them in a read-only
// inventory of AWS and returns typed actions with the pre-state snapshot.
//
// The request text and the triggering event are untrusted data: they are matched
// by bounded regular expressions and decoded as JSON, never executed or followed
// as instructions, and anything that does not fit a known shape is refused with a
// terminal error that says what was not understood and shows a request that works.
//
// Decisions worth knowing:
//   - "block" a CIDR denies it on network ACLs, ingress only; when the text also
//     says outbound/egress (or both directions) it is denied both ways. Deny
//     entries take the lowest free rule numbers below the ACL's first allow rule.
//   - Without named ACLs or subnets, the ACLs of the request environment's
//     subnets are used. A text naming another environment than the request's is refused.
//   - A prefix list is chosen by pl- ID, by a name in the text, or as the one
//     list whose name contains "block" or "deny"; WAF IP sets likewise.
//   - A port opened "to the X security group" is matched on group name or Name
//     tag within the request's environment and must match exactly one group.
//   - GuardDuty instance-compromise findings at severity ≥ 4.0 quarantine the
//     instance; below that the plan has no actions (NoAction).
package rules

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/awscontext"
	"github.com/netchange-io/netchange/internal/planner"
)

// Name is the planner's name in Provenance.Planner.
const Name = "rules"

// Planner is the deterministic rules planner. It implements planner.Planner.
type Planner struct {
	obs    *awscontext.Observer
	region string
}

var _ planner.Planner = (*Planner)(nil)

// New returns a rules planner that observes AWS through obs, whose clients must
// point at region (the default region of plans; a request naming another region
// is refused, since obs cannot observe it).
func New(obs *awscontext.Observer, region string) *Planner {
	return &Planner{obs: obs, region: region}
}

// examples are shown in every terminal error.
const examples = `Requests the rules planner understands look like: "Block 203.0.113.0/24 from the production subnets", ` +
	`"Isolate i-0123456789abcdef0 (forensics 10.9.0.0/24)", "Allow TCP 443 from 10.20.0.0/16 to the payments security group", ` +
	`"Close port 22 from 0.0.0.0/0 on sg-0123456789abcdef0", "Route 10.50.0.0/16 via igw-0123456789abcdef0 in rtb-0123456789abcdef0", ` +
	`"Delete route 10.50.0.0/16 from rtb-0123456789abcdef0", "Add 198.51.100.7 to the block list", or a GuardDuty finding as source.event.`

// cannot returns a terminal error: what was not understood, then examples.
func cannot(format string, args ...any) error {
	return planner.Terminal("The rules planner cannot plan this request: " + fmt.Sprintf(format, args...) + " " + examples)
}

// Plan implements planner.Planner: it reads the estate, decides the actions from
// the request (text, targets, event), and snapshots every object they touch. A
// plan without actions means nothing needs to change. Errors reading AWS are
// returned as they are (they may pass); everything the request must fix is a
// *planner.TerminalError.
func (p *Planner) Plan(ctx context.Context, req *v1.NetworkChangeRequest) (*v1.Plan, error) {
	if req == nil {
		return nil, errors.New("rules planner: request is nil")
	}
	region, account := p.region, ""
	if t := req.Spec.Targets; t != nil {
		if t.Region != "" && t.Region != p.region {
			return nil, cannot("it targets region %s, but this planner observes %s. Plan it with a planner configured for %s, or drop targets.region.", t.Region, p.region, t.Region)
		}
		account = t.AccountID
	}
	est, err := p.obs.Estate(ctx)
	if err != nil {
		return nil, fmt.Errorf("rules planner: read AWS estate in %s: %w", region, err)
	}
	d, err := decide(req, est)
	if err != nil {
		return nil, err
	}
	if len(d.actions) > maxActions {
		return nil, cannot("it needs %d actions, more than the %d one plan may hold. Split it into several requests (fewer CIDRs, ports or ACLs each).", len(d.actions), maxActions)
	}
	snap, err := p.obs.Snapshot(ctx, d.actions)
	if errors.Is(err, awscontext.ErrNotFound) || errors.Is(err, awscontext.ErrUnsupported) {
		return nil, cannot("%v. Name resources that exist in %s.", err, region)
	}
	if err != nil {
		return nil, fmt.Errorf("rules planner: snapshot: %w", err)
	}
	return &v1.Plan{
		Actions:    d.actions,
		Rationale:  bound(d.rationale, 4096),
		Region:     region,
		AccountID:  account,
		Snapshot:   snap,
		Provenance: v1.Provenance{Planner: Name},
		Generation: req.Generation,
	}, nil
}

// maxActions is the CRD's limit on actions per plan.
const maxActions = 20

// decision is what the rules decided: the actions and why.
type decision struct {
	actions   []v1.Action
	rationale string
}

// request is the request's inputs, merged from text, targets and environment.
type request struct {
	req   *v1.NetworkChangeRequest
	in    intentText
	env   string
	cidrs []netip.Prefix
	ids   map[string][]string
	ports []v1.PortRange
	proto v1.Protocol
	wafs  []string
	user  bool // the request comes from a person (environment checks apply)
	label string
}

// decide is the pure part of planning: request + estate → actions.
func decide(req *v1.NetworkChangeRequest, est *awscontext.Estate) (decision, error) {
	r := request{req: req, env: string(req.Spec.Environment), ids: map[string][]string{}, user: true,
		label: "netchange " + req.Namespace + "/" + req.Name}
	if s := req.Spec.Source; s != nil && s.Type == v1.SourceGuardDuty {
		r.user = false
		return decideFinding(r, s.Event, est)
	}
	r.in = parseIntent(req.Spec.Intent)
	if len(r.in.Problems) > 0 {
		return decision{}, cannot("%s.", strings.Join(r.in.Problems, "; "))
	}
	for _, e := range r.in.Envs {
		if string(e) != r.env {
			return decision{}, cannot("the text names %s resources but the request's environment is %s. File the request with environment %s, or fix the text.", e, r.env, e)
		}
	}
	r.cidrs = r.in.prefixes()
	for k, v := range r.in.IDs {
		r.ids[k] = append([]string{}, v...)
	}
	r.ports = append(r.ports, r.in.Ports...)
	r.proto = r.in.Protocol
	if t := req.Spec.Targets; t != nil {
		for _, c := range t.CIDRs {
			addr, bits, _ := strings.Cut(c, "/")
			p, err := parsePrefix(strings.ToLower(addr), bits)
			if err != nil {
				return decision{}, cannot("targets.cidrs: %v.", err)
			}
			if !slices.Contains(r.cidrs, p) {
				r.cidrs = append(r.cidrs, p)
			}
		}
		for _, id := range t.ResourceIDs {
			kind, _, _ := strings.Cut(id, "-")
			if !slices.Contains(r.ids[kind], id) {
				r.ids[kind] = append(r.ids[kind], id)
			}
		}
		for _, pr := range t.Ports {
			if !slices.Contains(r.ports, pr) {
				r.ports = append(r.ports, pr)
			}
		}
		if t.Protocol != "" {
			if r.proto != "" && r.proto != t.Protocol {
				return decision{}, cannot("the text says %s but targets.protocol is %s. Make them agree.", r.proto, t.Protocol)
			}
			r.proto = t.Protocol
		}
		r.wafs = t.WAFIPSets
	}

	in := r.in
	listNamed := in.BlockList || in.WAF || len(r.ids["pl"]) > 0 || len(r.wafs) > 0
	switch {
	case in.Verb == "isolate":
		return quarantine(r, est)
	case in.Route && (in.Verb == "route" || in.Verb == "add" || in.Verb == "revoke"):
		return route(r, est)
	case listNamed && (in.Verb == "block" || in.Verb == "add" || in.Verb == "revoke" || in.Verb == "allow" && in.Add):
		return blockList(r, est, in.Verb == "revoke")
	case in.Verb == "allow":
		return sgRule(r, est, false)
	case in.Verb == "revoke" && (len(r.ids["sg"]) > 0 || len(in.SGNames) > 0 || len(r.ports) > 0):
		return sgRule(r, est, true)
	case in.Verb == "block" || in.Verb == "add" && len(r.cidrs) > 0 && len(r.ids["acl"]) > 0:
		return naclDeny(r, est)
	case in.Verb == "":
		return decision{}, cannot("it found no verb it knows (block, isolate, allow, close, route, add, remove).")
	}
	return decision{}, cannot("it understood the verb %q but not what to apply it to.", in.Verb)
}

// checkEnv refuses, for requests from people, resources tagged with another
// environment than the request's.
func (r request) checkEnv(id, env string) error {
	if r.user && env != "" && env != r.env {
		return cannot("%s is tagged Environment=%s but the request's environment is %s. File it with environment %s, or name a %s resource.", id, env, r.env, env, r.env)
	}
	return nil
}

// ---- isolate ----

func quarantine(r request, est *awscontext.Estate) (decision, error) {
	ids := r.ids["i"]
	if len(ids) == 0 {
		for _, inst := range est.Instances {
			if inst.Name != "" && len(inst.Name) >= 3 && r.in.Words[strings.ToLower(inst.Name)] && (inst.Environment == r.env || inst.Environment == "") {
				ids = append(ids, inst.ID)
			}
		}
	}
	if len(ids) == 0 {
		return decision{}, cannot("it asks to isolate an instance but names none it can find. Name it by ID (i-…) or by its Name tag.")
	}
	var d decision
	for _, id := range ids {
		a, err := quarantineAction(r, est, id, r.in.Forensics, "isolate "+id+" as the request asks")
		if err != nil {
			return decision{}, err
		}
		d.actions = append(d.actions, a)
	}
	d.rationale = fmt.Sprintf("Quarantine %s: move it into a quarantine security group that allows no traffic", strings.Join(ids, ", "))
	if r.in.Forensics != "" {
		d.rationale += " except to the forensics network " + r.in.Forensics
	}
	d.rationale += "; its original security groups are kept for rollback."
	return d, nil
}

func quarantineAction(r request, est *awscontext.Estate, id, forensics, reason string) (v1.Action, error) {
	inst, ok := est.Instance(id)
	if !ok {
		return v1.Action{}, cannot("instance %s does not exist (or is terminated) in this region. Check the instance ID.", id)
	}
	if err := r.checkEnv(id, inst.Environment); err != nil {
		return v1.Action{}, err
	}
	if len(inst.GroupIDs) == 0 || inst.VPCID == "" {
		return v1.Action{}, cannot("instance %s has no VPC security groups to swap. Only VPC instances can be quarantined.", id)
	}
	return v1.Action{
		Type:   v1.ActionInstanceQuarantine,
		Reason: bound(reason, 1024),
		Quarantine: &v1.QuarantineParams{
			InstanceID: id, VPCID: inst.VPCID, OriginalGroupIDs: slices.Clone(inst.GroupIDs), ForensicsCIDR: forensics,
		},
	}, nil
}

// ---- routes ----

// targetPrefixes are the route target ID prefixes, in the order they are looked for.
var targetPrefixes = []struct {
	prefix string
	typ    v1.RouteTargetType
}{
	{"igw", v1.RouteTargetGateway}, {"vgw", v1.RouteTargetGateway}, {"nat", v1.RouteTargetNATGateway},
	{"eni", v1.RouteTargetNetworkInterface}, {"tgw", v1.RouteTargetTransitGateway},
	{"pcx", v1.RouteTargetVPCPeering}, {"i", v1.RouteTargetInstance},
}

func route(r request, est *awscontext.Estate) (decision, error) {
	if len(r.cidrs) != 1 {
		return decision{}, cannot("a route change needs exactly one destination CIDR, and it found %d.", len(r.cidrs))
	}
	dest := r.cidrs[0].String()
	del := r.in.Verb == "revoke"

	var targetType v1.RouteTargetType
	var targetID string
	for _, tp := range targetPrefixes {
		for _, id := range r.ids[tp.prefix] {
			if targetID != "" && id != targetID {
				return decision{}, cannot("it names two route targets (%s and %s). Name one next hop.", targetID, id)
			}
			targetType, targetID = tp.typ, id
		}
	}

	tables := r.ids["rtb"]
	if len(tables) == 0 {
		subnets := est.SubnetsInEnvironment(r.env)
		for _, s := range subnets {
			if s.RouteTableID != "" && !slices.Contains(tables, s.RouteTableID) {
				tables = append(tables, s.RouteTableID)
			}
		}
		if len(tables) != 1 {
			return decision{}, cannot("it names no route table, and the %s subnets use %d route tables. Name the route table (rtb-…).", r.env, len(tables))
		}
	}
	var d decision
	var notes []string
	for _, id := range tables {
		rt, ok := est.RouteTable(id)
		if !ok {
			return decision{}, cannot("route table %s does not exist in this region. Check the ID.", id)
		}
		if err := r.checkEnv(id, rt.Environment); err != nil {
			return decision{}, err
		}
		existing, exists := rt.Route(dest)
		if exists && existing.TargetID == "local" {
			return decision{}, cannot("%s is the local route of %s, which AWS does not let anyone change.", dest, id)
		}
		switch {
		case del && !exists:
			return decision{}, cannot("%s has no route to %s, so there is nothing to delete. Check the destination and the route table.", id, dest)
		case del:
			if existing.TargetType == "" {
				return decision{}, cannot("the route to %s in %s points at %s, a target the action catalog cannot restore on rollback.", dest, id, existing.TargetID)
			}
			d.actions = append(d.actions, v1.Action{Type: v1.ActionRouteDelete, Reason: bound(fmt.Sprintf("delete the route to %s (via %s) from %s as the request asks", dest, existing.TargetID, id), 1024),
				Route: &v1.RouteParams{RouteTableID: id, DestinationCIDR: dest, PreviousTargetType: existing.TargetType, PreviousTargetID: existing.TargetID}})
		case targetID == "":
			return decision{}, cannot("it asks for a route to %s but names no next hop. Say \"via igw-…\" (or nat-, eni-, tgw-, pcx-, i-).", dest)
		case exists && existing.TargetID == targetID:
			notes = append(notes, fmt.Sprintf("%s already routes %s via %s", id, dest, targetID))
		case exists:
			if existing.TargetType == "" {
				return decision{}, cannot("the route to %s in %s points at %s, a target the action catalog cannot restore on rollback.", dest, id, existing.TargetID)
			}
			d.actions = append(d.actions, v1.Action{Type: v1.ActionRouteReplace, Reason: bound(fmt.Sprintf("point the existing route to %s in %s at %s instead of %s", dest, id, targetID, existing.TargetID), 1024),
				Route: &v1.RouteParams{RouteTableID: id, DestinationCIDR: dest, TargetType: targetType, TargetID: targetID, PreviousTargetType: existing.TargetType, PreviousTargetID: existing.TargetID}})
		default:
			d.actions = append(d.actions, v1.Action{Type: v1.ActionRouteCreate, Reason: bound(fmt.Sprintf("route %s via %s in %s as the request asks", dest, targetID, id), 1024),
				Route: &v1.RouteParams{RouteTableID: id, DestinationCIDR: dest, TargetType: targetType, TargetID: targetID}})
		}
	}
	d.rationale = describe(d.actions, notes)
	return d, nil
}

// ---- block lists ----

var reBlockName = regexp.MustCompile(`block|deny`)

func blockList(r request, est *awscontext.Estate, remove bool) (decision, error) {
	if len(r.cidrs) == 0 {
		return decision{}, cannot("it names a block list but no CIDR or IP address to add or remove.")
	}
	useWAF := r.in.WAF || len(r.wafs) > 0
	usePL := len(r.ids["pl"]) > 0 || r.in.PrefixListWord || (r.in.BlockList && !useWAF)
	var d decision
	var notes []string
	verb := "add"
	if remove {
		verb = "remove"
	}
	if usePL {
		pls, err := pickPrefixLists(r, est)
		if err != nil {
			return decision{}, err
		}
		for _, pl := range pls {
			if err := r.checkEnv(pl.ID, pl.Environment); err != nil {
				return decision{}, err
			}
			added := 0
			for _, c := range r.cidrs {
				cs := c.String()
				present := slices.Contains(pl.Entries, cs)
				switch {
				case remove && !present:
					notes = append(notes, fmt.Sprintf("%s is not in %s (%s)", cs, pl.Name, pl.ID))
				case remove:
					d.actions = append(d.actions, v1.Action{Type: v1.ActionPrefixListEntryRemove, Reason: bound(fmt.Sprintf("remove %s from block list %s as the request asks", cs, pl.Name), 1024),
						PrefixListEntry: &v1.PrefixListEntryParams{PrefixListID: pl.ID, CIDR: cs}})
				case present:
					notes = append(notes, fmt.Sprintf("%s is already in %s (%s)", cs, pl.Name, pl.ID))
				default:
					added++
					d.actions = append(d.actions, v1.Action{Type: v1.ActionPrefixListEntryAdd, Reason: bound(fmt.Sprintf("add %s to block list %s as the request asks", cs, pl.Name), 1024),
						PrefixListEntry: &v1.PrefixListEntryParams{PrefixListID: pl.ID, CIDR: cs, Description: bound(r.label, 255)}})
				}
			}
			if len(pl.Entries)+added > int(pl.MaxEntries) {
				return decision{}, cannot("prefix list %s holds %d of %d entries; adding %d would overflow it. Remove entries first or raise its max entries.", pl.ID, len(pl.Entries), pl.MaxEntries, added)
			}
		}
	}
	if useWAF {
		sets, err := pickWAFIPSets(r, est)
		if err != nil {
			return decision{}, err
		}
		for _, s := range sets {
			var addrs []string
			for _, c := range r.cidrs {
				cs := c.String()
				present := slices.Contains(s.Addresses, cs)
				switch {
				case remove && present, !remove && !present:
					addrs = append(addrs, cs)
				case remove:
					notes = append(notes, fmt.Sprintf("%s is not in WAF IP set %s", cs, s.Name))
				default:
					notes = append(notes, fmt.Sprintf("%s is already in WAF IP set %s", cs, s.Name))
				}
			}
			typ := v1.ActionWAFIPSetAdd
			if remove {
				typ = v1.ActionWAFIPSetRemove
			}
			for chunk := range slices.Chunk(addrs, 32) {
				d.actions = append(d.actions, v1.Action{Type: typ, Reason: bound(fmt.Sprintf("%s %s in WAF IP set %s as the request asks", verb, strings.Join(chunk, ", "), s.Name), 1024),
					WAFIPSet: &v1.WAFIPSetParams{Name: s.Name, ID: s.ID, Scope: s.Scope, Addresses: slices.Clone(chunk)}})
			}
		}
	}
	d.rationale = describe(d.actions, notes)
	return d, nil
}

func pickPrefixLists(r request, est *awscontext.Estate) ([]awscontext.PrefixList, error) {
	var out []awscontext.PrefixList
	for _, id := range r.ids["pl"] {
		pl, ok := est.PrefixList(id)
		if !ok {
			return nil, cannot("prefix list %s does not exist (or is AWS-managed) in this region. Check the ID.", id)
		}
		out = append(out, pl)
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, pl := range est.PrefixLists {
		if r.in.Words[strings.ToLower(pl.Name)] {
			out = append(out, pl)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	var names []string
	for _, pl := range est.PrefixLists {
		if reBlockName.MatchString(strings.ToLower(pl.Name)) {
			out = append(out, pl)
			names = append(names, pl.Name+" ("+pl.ID+")")
		}
	}
	if len(out) != 1 {
		return nil, cannot("it names a block list but not which one, and %d prefix lists look like block lists [%s]. Name it by ID (pl-…) or name.", len(out), strings.Join(names, ", "))
	}
	return out, nil
}

func pickWAFIPSets(r request, est *awscontext.Estate) ([]awscontext.WAFIPSet, error) {
	var out []awscontext.WAFIPSet
	for _, n := range r.wafs {
		s, ok := est.WAFIPSet(n)
		if !ok {
			return nil, cannot("WAF IP set %s does not exist (REGIONAL scope) in this region. Check targets.wafIPSets.", n)
		}
		out = append(out, s)
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, s := range est.WAFIPSets {
		if r.in.Words[strings.ToLower(s.Name)] {
			out = append(out, s)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	var names []string
	for _, s := range est.WAFIPSets {
		if reBlockName.MatchString(strings.ToLower(s.Name)) {
			out = append(out, s)
			names = append(names, s.Name)
		}
	}
	if len(out) != 1 {
		return nil, cannot("it names a WAF IP set but not which one, and %d IP sets look like block lists [%s]. Name it in targets.wafIPSets.", len(out), strings.Join(names, ", "))
	}
	return out, nil
}

// ---- security group rules ----

func sgRule(r request, est *awscontext.Estate, revoke bool) (decision, error) {
	dir := v1.DirectionIngress
	if r.in.Egress {
		dir = v1.DirectionEgress
	}
	proto, ports := r.proto, r.ports
	if proto == "" && len(ports) > 0 {
		proto = v1.ProtocolTCP
	}
	switch proto {
	case "":
		return decision{}, cannot("it does not say which port or protocol. Say e.g. \"TCP 443\", \"port 22\", \"8000-8080\" or \"all traffic\".")
	case v1.ProtocolTCP, v1.ProtocolUDP:
		if len(ports) == 0 {
			return decision{}, cannot("it says %s but no port. Say e.g. \"%s 443\".", proto, strings.ToUpper(string(proto)))
		}
	default:
		ports = nil
	}

	// The peer is the CIDR traffic comes from (ingress) or goes to (egress); the
	// other side, if a CIDR, locates the instances whose groups change.
	peerPrep, sidePrep := "from", "to"
	if dir == v1.DirectionEgress {
		peerPrep, sidePrep = "to", "from"
	}
	var peers, side []netip.Prefix
	for _, c := range r.in.CIDRs {
		switch c.prep {
		case peerPrep:
			peers = append(peers, c.prefix)
		case sidePrep:
			side = append(side, c.prefix)
		}
	}
	if len(peers) == 0 {
		for _, c := range r.cidrs {
			if !slices.Contains(side, c) {
				peers = append(peers, c)
			}
		}
	}
	if len(peers) == 0 {
		return decision{}, cannot("it does not say where the traffic comes from. Say e.g. \"from 10.20.0.0/16\".")
	}

	groups, how, err := pickGroups(r, est, side)
	if err != nil {
		return decision{}, err
	}
	typ, verb := v1.ActionSecurityGroupRuleAuthorize, "allow"
	if revoke {
		typ, verb = v1.ActionSecurityGroupRuleRevoke, "revoke"
	}
	var d decision
	portList := ports
	if len(portList) == 0 {
		portList = []v1.PortRange{{}}
	}
	for _, g := range groups {
		for _, peer := range peers {
			for _, pr := range portList {
				params := &v1.SecurityGroupRuleParams{GroupID: g.ID, Direction: dir, Protocol: proto, CIDR: peer.String()}
				what := string(proto)
				if len(ports) > 0 {
					prc := pr
					params.Ports = &prc
					what = fmt.Sprintf("%s %s", proto, portText(pr))
				}
				if !revoke {
					params.Description = bound(r.label, 255)
				}
				d.actions = append(d.actions, v1.Action{Type: typ, SecurityGroupRule: params,
					Reason: bound(fmt.Sprintf("%s %s %s %s %s on %s (%s), %s", verb, dir, what, prepFor(dir), peer, g.ID, groupLabel(g), how), 1024)})
			}
		}
	}
	d.rationale = describe(d.actions, nil)
	return d, nil
}

// pickGroups finds the security groups to change: named by ID, by name, or the
// groups of the instances in the destination CIDR.
func pickGroups(r request, est *awscontext.Estate, side []netip.Prefix) ([]awscontext.SecurityGroup, string, error) {
	var out []awscontext.SecurityGroup
	for _, id := range r.ids["sg"] {
		g, ok := est.SecurityGroup(id)
		if !ok {
			return nil, "", cannot("security group %s does not exist in this region. Check the ID.", id)
		}
		if err := r.checkEnv(id, g.Environment); err != nil {
			return nil, "", err
		}
		out = append(out, g)
	}
	if len(out) > 0 {
		return out, "named by ID", nil
	}
	for _, name := range r.in.SGNames {
		m := est.SecurityGroupsMatching(name, r.env)
		if len(m) > 1 {
			var ids []string
			for _, g := range m {
				ids = append(ids, g.ID+" ("+groupLabel(g)+")")
			}
			return nil, "", cannot("%q matches %d %s security groups: %s. Name one by ID (sg-…).", name, len(m), r.env, strings.Join(ids, ", "))
		}
		for _, g := range m {
			if !slices.ContainsFunc(out, func(x awscontext.SecurityGroup) bool { return x.ID == g.ID }) {
				out = append(out, g)
			}
		}
	}
	if len(out) > 0 {
		return out, "matched by name in " + r.env, nil
	}
	if len(r.in.SGNames) > 0 {
		return nil, "", cannot("no %s security group is named like %q. Check the name, or name the group by ID (sg-…).", r.env, strings.Join(r.in.SGNames, `", "`))
	}
	for _, c := range side {
		for _, inst := range est.InstancesInCIDR(c.String()) {
			if inst.Environment != r.env {
				continue
			}
			for _, id := range inst.GroupIDs {
				g, ok := est.SecurityGroup(id)
				if ok && !slices.ContainsFunc(out, func(x awscontext.SecurityGroup) bool { return x.ID == g.ID }) {
					out = append(out, g)
				}
			}
		}
	}
	if len(out) > 0 {
		slices.SortFunc(out, func(a, b awscontext.SecurityGroup) int { return strings.Compare(a.ID, b.ID) })
		return out, "the groups of the " + r.env + " instances in the destination CIDR", nil
	}
	if len(side) > 0 {
		return nil, "", cannot("no %s instance is in %s, so it cannot tell which security group to change. Name the security group (by ID or \"the <name> security group\").", r.env, side[0])
	}
	return nil, "", cannot("it does not say which security group to change. Name it by ID (sg-…) or as \"the <name> security group\".")
}

// ---- network ACL deny ----

func naclDeny(r request, est *awscontext.Estate) (decision, error) {
	if len(r.cidrs) == 0 {
		return decision{}, cannot("it asks to block but names no CIDR or IP address.")
	}
	acls, where, err := pickACLs(r, est)
	if err != nil {
		return decision{}, err
	}
	dirs := []v1.Direction{v1.DirectionIngress}
	if r.in.Egress || r.in.Both {
		dirs = append(dirs, v1.DirectionEgress)
	}
	proto, ports := v1.ProtocolAll, []v1.PortRange{{}}
	if len(r.ports) > 0 {
		proto, ports = v1.ProtocolTCP, r.ports
		if r.proto == v1.ProtocolUDP {
			proto = v1.ProtocolUDP
		}
	} else if r.proto == v1.ProtocolICMP {
		proto = v1.ProtocolICMP
	}
	var d decision
	var notes []string
	for _, acl := range acls {
		if err := r.checkEnv(acl.ID, acl.Environment); err != nil {
			return decision{}, err
		}
		for _, dir := range dirs {
			type want struct {
				cidr  string
				ports v1.PortRange
			}
			var todo []want
			for _, c := range r.cidrs {
				for _, pr := range ports {
					if hasDeny(acl, dir, c.String(), proto) {
						notes = append(notes, fmt.Sprintf("%s already denies %s %s", acl.ID, dir, c))
						continue
					}
					todo = append(todo, want{c.String(), pr})
				}
			}
			if len(todo) == 0 {
				continue
			}
			if len(todo) > maxActions {
				return decision{}, cannot("it needs %d deny entries, more than the %d one plan may hold. Split it into several requests.", len(todo), maxActions)
			}
			below := acl.LowestAllowRule(dir)
			nums, err := est.FreeNACLRuleNumbers(acl.ID, dir, below, len(todo))
			if err != nil {
				return decision{}, cannot("%v.", err)
			}
			for i, w := range todo {
				e := &v1.NetworkACLEntryParams{NetworkACLID: acl.ID, RuleNumber: nums[i], Direction: dir, RuleAction: v1.RuleActionDeny, Protocol: proto, CIDR: w.cidr}
				what := "all traffic"
				if proto == v1.ProtocolTCP || proto == v1.ProtocolUDP {
					pr := w.ports
					e.Ports = &pr
					what = fmt.Sprintf("%s %s", proto, portText(pr))
				} else if proto == v1.ProtocolICMP {
					what = "icmp"
				}
				d.actions = append(d.actions, v1.Action{Type: v1.ActionNetworkACLEntryAdd, NetworkACLEntry: e,
					Reason: bound(fmt.Sprintf("deny %s %s %s %s as rule %d on %s (%s), before its first allow rule %d", dir, what, prepFor(dir), w.cidr, nums[i], acl.ID, where, below), 1024)})
			}
		}
	}
	d.rationale = describe(d.actions, notes)
	return d, nil
}

// hasDeny reports whether the ACL already denies cidr in that direction, for all
// protocols or (without ports) for proto, before its first allow rule.
func hasDeny(acl awscontext.NetworkACL, dir v1.Direction, cidr string, proto v1.Protocol) bool {
	for _, e := range acl.Entries {
		if e.Direction == dir && e.RuleAction == v1.RuleActionDeny && e.CIDR == cidr && e.RuleNumber < acl.LowestAllowRule(dir) &&
			(e.Protocol == string(v1.ProtocolAll) || e.Protocol == string(proto) && e.Ports == nil) {
			return true
		}
	}
	return false
}

func pickACLs(r request, est *awscontext.Estate) ([]awscontext.NetworkACL, string, error) {
	var out []awscontext.NetworkACL
	for _, id := range r.ids["acl"] {
		acl, ok := est.NetworkACL(id)
		if !ok {
			return nil, "", cannot("network ACL %s does not exist in this region. Check the ID.", id)
		}
		out = append(out, acl)
	}
	if len(out) > 0 {
		return out, "named by ID", nil
	}
	subnets := r.ids["subnet"]
	where := "the ACL of the named subnets"
	for _, s := range subnets {
		if _, ok := est.Subnet(s); !ok {
			return nil, "", cannot("subnet %s does not exist in this region. Check the ID.", s)
		}
	}
	if len(subnets) == 0 {
		for _, v := range r.ids["vpc"] {
			where = "the ACLs of the subnets of " + v
			for _, s := range est.Subnets {
				if s.VPCID == v {
					subnets = append(subnets, s.ID)
				}
			}
		}
	}
	if len(subnets) == 0 {
		where = "the ACL of the " + r.env + " subnets"
		for _, s := range est.SubnetsInEnvironment(r.env) {
			subnets = append(subnets, s.ID)
		}
	}
	if len(subnets) == 0 {
		return nil, "", cannot("no subnet is tagged Environment=%s, so it cannot tell which network ACL to change. Name the ACL (acl-…) or the subnets (subnet-…).", r.env)
	}
	out = est.NetworkACLsForSubnets(subnets...)
	if len(out) == 0 {
		return nil, "", cannot("the subnets %s have no network ACL association. Name the ACL (acl-…).", strings.Join(subnets, ", "))
	}
	return out, where, nil
}

// ---- GuardDuty ----

var reInstanceID = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)

func decideFinding(r request, event string, est *awscontext.Estate) (decision, error) {
	f, err := parseFinding(event)
	if err != nil {
		return decision{}, cannot("%v.", err)
	}
	if !f.Severity.set {
		return decision{}, cannot("the GuardDuty finding %q has no severity.", f.Type)
	}
	sev := f.Severity.v
	if sev < 0 || sev > 10 {
		return decision{}, cannot("the GuardDuty finding's severity %.1f is outside 0–10.", sev)
	}
	instID := f.Resource.InstanceDetails.InstanceID
	switch {
	case instanceCompromise(f.Type):
		if !reInstanceID.MatchString(instID) {
			return decision{}, cannot("the %q finding names no valid instance (resource.instanceDetails.instanceId).", f.Type)
		}
		if sev < quarantineThreshold {
			return decision{actions: []v1.Action{}, rationale: fmt.Sprintf(
				"GuardDuty finding %s on %s has low severity %.1f (below %.1f): no action is needed; the finding is recorded. File a request to isolate %s if you disagree.",
				f.Type, instID, sev, quarantineThreshold, instID)}, nil
		}
		a, err := quarantineAction(r, est, instID, "", fmt.Sprintf("GuardDuty %s (severity %.1f) on %s: quarantine the instance", f.Type, sev, instID))
		if err != nil {
			return decision{}, err
		}
		return decision{actions: []v1.Action{a}, rationale: bound(fmt.Sprintf(
			"GuardDuty finding %s with severity %.1f (≥ %.1f) means %s is likely compromised: quarantine it in a security group that allows no traffic; its original groups %s are kept for rollback.",
			f.Type, sev, quarantineThreshold, instID, strings.Join(a.Quarantine.OriginalGroupIDs, ", ")), 4096)}, nil
	case f.Type == "Recon:EC2/PortProbeUnprotectedPort":
		if !reInstanceID.MatchString(instID) {
			return decision{}, cannot("the %q finding names no valid instance (resource.instanceDetails.instanceId).", f.Type)
		}
		inst, ok := est.Instance(instID)
		if !ok {
			return decision{}, cannot("instance %s from the finding does not exist in this region.", instID)
		}
		var cidrs []netip.Prefix
		for _, ip := range f.remoteIPs() {
			a, err := netip.ParseAddr(ip)
			if err != nil || !a.Is4() {
				continue
			}
			p := netip.PrefixFrom(a, 32)
			if !slices.Contains(cidrs, p) {
				cidrs = append(cidrs, p)
			}
		}
		if len(cidrs) == 0 {
			return decision{}, cannot("the port probe finding on %s has no remote IPv4 address to deny.", instID)
		}
		r.cidrs = cidrs
		r.ids = map[string][]string{"subnet": {inst.SubnetID}}
		r.env = inst.Environment
		d, err := naclDeny(r, est)
		if err != nil {
			return decision{}, err
		}
		d.rationale = bound(fmt.Sprintf("GuardDuty finding %s (severity %.1f): %s probed %s; deny it on the network ACL of subnet %s. %s",
			f.Type, sev, prefixesText(cidrs), instID, inst.SubnetID, d.rationale), 4096)
		return d, nil
	}
	return decision{}, cannot("GuardDuty finding type %q is not one it handles. It handles CryptoCurrency:EC2/*, Backdoor:EC2/*, Trojan:EC2/* and UnauthorizedAccess:EC2/* (quarantine at severity ≥ 4.0) and Recon:EC2/PortProbeUnprotectedPort (deny the prober); use the LLM planner or write the request as text.", bound(f.Type, 128))
}

// ---- helpers ----

func describe(actions []v1.Action, notes []string) string {
	var b strings.Builder
	if len(actions) == 0 {
		b.WriteString("No change is needed")
		if len(notes) > 0 {
			b.WriteString(": " + strings.Join(notes, "; "))
		}
		b.WriteString(".")
		return bound(b.String(), 4096)
	}
	for i, a := range actions {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(a.Reason)
	}
	b.WriteString(".")
	if len(notes) > 0 {
		b.WriteString(" Already in place: " + strings.Join(notes, "; ") + ".")
	}
	return bound(b.String(), 4096)
}

func portText(pr v1.PortRange) string {
	if pr.From == pr.To {
		return fmt.Sprint(pr.From)
	}
	return fmt.Sprintf("%d-%d", pr.From, pr.To)
}

func prepFor(dir v1.Direction) string {
	if dir == v1.DirectionEgress {
		return "to"
	}
	return "from"
}

func groupLabel(g awscontext.SecurityGroup) string {
	if g.Name != "" && g.Name != g.GroupName {
		return g.GroupName + ", Name " + g.Name
	}
	return g.GroupName
}

func prefixesText(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// bound cuts s to at most n bytes, on a rune boundary.
func bound(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
