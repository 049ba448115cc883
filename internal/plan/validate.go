package plan

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// ValidationError lists every problem Validate found in a plan.
type ValidationError struct {
	// Problems each name the action index, type and field, then what is wrong and
	// what to use instead, e.g. "actions[1] (NetworkACLEntryAdd).networkACLEntry.cidr:
	// host bits set in 203.0.113.5/24; use 203.0.113.0/24".
	Problems []string
}

// Error implements error: all problems, separated by "; ", after a count.
func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid plan: " + e.Problems[0]
	}
	return fmt.Sprintf("invalid plan: %d problems: %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

// Limits Validate enforces besides the CRD's own.
const (
	// MaxResources is the most AWS resources one plan may touch (BlastRadius.Resources' limit).
	MaxResources = 64
	// maxRationale, maxReason and maxDescription are the CRD's string limits.
	maxRationale   = 4096
	maxReason      = 1024
	maxDescription = 255
)

var (
	reGroupID    = idPattern("sg")
	reACLID      = idPattern("acl")
	reRouteTable = idPattern("rtb")
	rePrefixList = idPattern("pl")
	reInstance   = idPattern("i")
	reVPC        = idPattern("vpc")
	reTaggable   = regexp.MustCompile(`^(i|sg|acl|rtb|pl|vpc|subnet|eni|igw|nat|tgw|pcx|vpce)-([0-9a-f]{8}|[0-9a-f]{17})$`)
	reWAFName    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	reWAFID      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	reRegion     = regexp.MustCompile(`^(af|ap|ca|cn|eu|il|me|mx|sa|us)(-gov|-iso|-isob)?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9]$`)
	reAccount    = regexp.MustCompile(`^[0-9]{12}$`)
	// reSGDescription is the character set AWS accepts in security group rule descriptions.
	reSGDescription = regexp.MustCompile(`^[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]*$`)
)

// routeTargetPrefixes maps a route target type to the ID prefixes it accepts.
var routeTargetPrefixes = map[v1.RouteTargetType][]string{
	v1.RouteTargetGateway:          {"igw", "vgw"},
	v1.RouteTargetNATGateway:       {"nat"},
	v1.RouteTargetNetworkInterface: {"eni"},
	v1.RouteTargetTransitGateway:   {"tgw"},
	v1.RouteTargetVPCPeering:       {"pcx"},
	v1.RouteTargetInstance:         {"i"},
}

func idPattern(prefix string) *regexp.Regexp {
	return regexp.MustCompile(`^` + prefix + `-([0-9a-f]{8}|[0-9a-f]{17})$`)
}

// Validate checks a plan for req and returns nil or a *ValidationError listing
// every problem: everything ValidateStructure checks, and the production
// guardrail: when the request's environment is production, or the snapshot shows
// a touched resource tagged Environment=production (or prod), every
// InternetExposure finding is a problem too. The auditor and the executor use it.
func Validate(req *v1.NetworkChangeRequest, p *v1.Plan) error {
	v := validateStructure(req, p)
	if p != nil {
		for _, f := range ProductionExposure(req, p) {
			v.addf("%s; production allows no ingress from the internet: use the narrowest source CIDR that works", f)
		}
	}
	return v.err()
}

// ValidateStructure checks that a plan is a well-formed plan of catalog actions
// for req and returns nil or a *ValidationError listing every problem. It checks
// the plan (action count, region and account format, region and account against
// req.spec.targets, rationale length, resources touched) and each action: exactly
// the parameter block its type needs, AWS ID formats, CIDRs (syntax, host bits,
// IPv4/IPv6 where the field needs one family), protocols and ports, NACL rule
// numbers, route targets against their type and the previous target rollback
// needs, quarantine groups, tag keys (no "aws:" and no removal of
// netchange.io/protected), WAF addresses and scope, and duplicate actions.
//
// It does not judge policy: a well-formed plan that opens production to the
// internet passes here and is vetoed by the auditor's built-in guardrail (and
// refused again by the executor). Planners use it, so that such a plan reaches
// the auditor, whose verdict names it, instead of being silently re-planned.
func ValidateStructure(req *v1.NetworkChangeRequest, p *v1.Plan) error {
	v := validateStructure(req, p)
	return v.err()
}

func validateStructure(req *v1.NetworkChangeRequest, p *v1.Plan) *validator {
	v := &validator{}
	if p == nil {
		v.addf("plan: a plan is required")
		return v
	}
	if req == nil {
		v.addf("request: the request is required to validate a plan")
	}
	v.checkPlan(req, p)
	seen := make(map[string]int, len(p.Actions))
	for i := range p.Actions {
		a := &p.Actions[i]
		v.checkAction(i, a, p.Region)
		if key, ok := actionKey(a); ok {
			if j, dup := seen[key]; dup {
				v.addf("actions[%d] (%s): duplicates actions[%d]; remove one of them", i, typeName(a.Type), j)
			} else {
				seen[key] = i
			}
		}
	}
	return v
}

// ProductionExposure returns the InternetExposure findings of p when the
// production guardrail applies to it (the request says production, or a touched
// resource's snapshot is tagged production), else nil.
func ProductionExposure(req *v1.NetworkChangeRequest, p *v1.Plan) []string {
	if !isProduction(req, p) {
		return nil
	}
	return InternetExposure(p)
}

// isProduction reports whether the production guardrails apply: the request
// says production, or a snapshotted resource carries a production Environment tag.
func isProduction(req *v1.NetworkChangeRequest, p *v1.Plan) bool {
	if req != nil && req.Spec.Environment == v1.EnvironmentProduction {
		return true
	}
	for _, s := range p.Snapshot {
		if isProductionTag(s.Environment) {
			return true
		}
	}
	return false
}

func isProductionTag(env string) bool {
	e := strings.ToLower(strings.TrimSpace(env))
	return e == "production" || e == "prod"
}

// actionKey is the identity of an action for duplicate detection: everything but
// its reason.
func actionKey(a *v1.Action) (string, bool) {
	c := *a
	c.Reason = ""
	b, err := json.Marshal(c)
	if err != nil {
		return "", false
	}
	return string(b), true
}

type validator struct {
	problems []string
}

func (v *validator) addf(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

func (v *validator) checkPlan(req *v1.NetworkChangeRequest, p *v1.Plan) {
	if len(p.Actions) > MaxActions {
		v.addf("actions: %d actions, at most %d are allowed; split the change into several requests", len(p.Actions), MaxActions)
	}
	switch {
	case p.Region == "":
		v.addf("region: required; set the AWS region, e.g. eu-west-1")
	case !reRegion.MatchString(p.Region):
		v.addf("region: %s is not an AWS region name; use a name like eu-west-1", quote(p.Region))
	}
	if p.AccountID != "" && !reAccount.MatchString(p.AccountID) {
		v.addf("accountID: %s is not a 12-digit AWS account ID", quote(p.AccountID))
	}
	if req != nil && req.Spec.Targets != nil {
		t := req.Spec.Targets
		if t.Region != "" && p.Region != "" && t.Region != p.Region {
			v.addf("region: the plan targets %s but the request names %s; plan in the requested region", quote(p.Region), quote(t.Region))
		}
		if t.AccountID != "" && p.AccountID != "" && t.AccountID != p.AccountID {
			v.addf("accountID: the plan targets %s but the request names %s; plan in the requested account", quote(p.AccountID), quote(t.AccountID))
		}
	}
	if len(p.Rationale) > maxRationale {
		v.addf("rationale: %d bytes, at most %d are allowed", len(p.Rationale), maxRationale)
	}
	if n := len(touched(p)); n > MaxResources {
		v.addf("actions: the plan touches %d AWS resources, at most %d are allowed; split the change into several requests", n, MaxResources)
	}
}

// field is the "actions[i] (Type).block" prefix of a problem.
type field struct {
	v      *validator
	prefix string
}

func (f field) addf(name, format string, args ...any) {
	f.v.addf("%s.%s: %s", f.prefix, name, fmt.Sprintf(format, args...))
}

func (v *validator) checkAction(i int, a *v1.Action, region string) {
	head := fmt.Sprintf("actions[%d] (%s)", i, a.Type)
	switch {
	case a.Type == "":
		head = fmt.Sprintf("actions[%d]", i)
	case !IsCatalogType(a.Type):
		head = fmt.Sprintf("actions[%d] (%s)", i, quote(string(a.Type))) // untrusted text, quoted
	}
	if msg := shapeError(a); msg != "" {
		v.addf("%s: %s", head, msg)
		return
	}
	if len(a.Reason) > maxReason {
		v.addf("%s.reason: %d bytes, at most %d are allowed", head, len(a.Reason), maxReason)
	}
	f := field{v: v, prefix: head + "." + ParamsField(a.Type)}
	switch a.Type {
	case v1.ActionSecurityGroupRuleAuthorize, v1.ActionSecurityGroupRuleRevoke:
		checkSGRule(f, a.SecurityGroupRule)
	case v1.ActionNetworkACLEntryAdd, v1.ActionNetworkACLEntryRemove:
		checkNACLEntry(f, a.NetworkACLEntry)
	case v1.ActionRouteCreate, v1.ActionRouteReplace, v1.ActionRouteDelete:
		checkRoute(f, a.Type, a.Route)
	case v1.ActionPrefixListEntryAdd, v1.ActionPrefixListEntryRemove:
		checkPrefixListEntry(f, a.PrefixListEntry)
	case v1.ActionInstanceQuarantine, v1.ActionInstanceRelease:
		checkQuarantine(f, a.Quarantine)
	case v1.ActionTagsAdd, v1.ActionTagsRemove:
		checkTags(f, a.Type, a.Tags)
	case v1.ActionWAFIPSetAdd, v1.ActionWAFIPSetRemove:
		checkWAF(f, a.WAFIPSet, region)
	}
}

func checkID(f field, name, value string, re *regexp.Regexp, example string) {
	switch {
	case value == "":
		f.addf(name, "required; use an ID like %s", example)
	case !re.MatchString(value):
		f.addf(name, "%s is not a valid ID; use an ID like %s (8 or 17 lowercase hex digits)", quote(value), example)
	}
}

func checkDirection(f field, d v1.Direction) {
	switch d {
	case v1.DirectionIngress, v1.DirectionEgress:
	case "":
		f.addf("direction", "required; use ingress or egress")
	default:
		f.addf("direction", "%s is not a direction; use ingress or egress", quote(string(d)))
	}
}

func checkProtocolPorts(f field, proto v1.Protocol, ports *v1.PortRange) {
	switch proto {
	case v1.ProtocolTCP, v1.ProtocolUDP:
		if ports == nil {
			f.addf("ports", "required for %s; set from and to (0-65535)", proto)
			return
		}
		if ports.From < 0 || ports.From > 65535 {
			f.addf("ports.from", "%d is outside 0-65535", ports.From)
		}
		if ports.To < 0 || ports.To > 65535 {
			f.addf("ports.to", "%d is outside 0-65535", ports.To)
		}
		if ports.From > ports.To {
			f.addf("ports", "from %d is greater than to %d; swap them", ports.From, ports.To)
		}
	case v1.ProtocolICMP, v1.ProtocolAll:
		if ports != nil {
			f.addf("ports", "must not be set for protocol %s; remove ports or use tcp or udp", proto)
		}
	case "":
		f.addf("protocol", "required; use tcp, udp, icmp or all")
	default:
		f.addf("protocol", "%s is not a protocol; use tcp, udp, icmp or all", quote(string(proto)))
	}
}

// checkCIDR checks that value is a canonical CIDR block and returns it.
func checkCIDR(f field, name, value string, allowZero bool) (netip.Prefix, bool) {
	if value == "" {
		f.addf(name, "required; use a CIDR block such as 203.0.113.0/24")
		return netip.Prefix{}, false
	}
	pfx, err := netip.ParsePrefix(value)
	if err != nil {
		if addr, aerr := netip.ParseAddr(value); aerr == nil {
			f.addf(name, "%s is an address, not a CIDR block; use %s", quote(value), netip.PrefixFrom(addr.WithZone(""), addr.BitLen()))
		} else {
			f.addf(name, "%s is not a CIDR block; use one such as 203.0.113.0/24 or 2001:db8::/32", quote(value))
		}
		return netip.Prefix{}, false
	}
	if pfx.Addr().Is4In6() {
		f.addf(name, "%s is an IPv4-mapped IPv6 block; write the IPv4 block instead", quote(value))
		return netip.Prefix{}, false
	}
	if m := pfx.Masked(); m != pfx {
		f.addf(name, "host bits set in %s; use %s", value, m)
		return netip.Prefix{}, false
	}
	if pfx.String() != value {
		f.addf(name, "%s is not in canonical form; use %s", quote(value), pfx)
		return netip.Prefix{}, false
	}
	if !allowZero && pfx.Bits() == 0 {
		f.addf(name, "%s matches every address, which is not allowed here; use a narrower block", value)
		return netip.Prefix{}, false
	}
	return pfx, true
}

func checkSGRule(f field, r *v1.SecurityGroupRuleParams) {
	checkID(f, "groupID", r.GroupID, reGroupID, "sg-0123456789abcdef0")
	checkDirection(f, r.Direction)
	checkProtocolPorts(f, r.Protocol, r.Ports)
	checkCIDR(f, "cidr", r.CIDR, true)
	checkDescription(f, r.Description)
	if r.Description != "" && !reSGDescription.MatchString(r.Description) {
		f.addf("description", "contains characters AWS refuses in rule descriptions; use letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*")
	}
}

func checkDescription(f field, d string) {
	if len(d) > maxDescription {
		f.addf("description", "%d bytes, at most %d are allowed", len(d), maxDescription)
	}
}

func checkNACLEntry(f field, e *v1.NetworkACLEntryParams) {
	checkID(f, "networkACLID", e.NetworkACLID, reACLID, "acl-0123456789abcdef0")
	if e.RuleNumber < 1 || e.RuleNumber > 32766 {
		f.addf("ruleNumber", "%d is outside 1-32766; pick a free rule number in that range", e.RuleNumber)
	}
	checkDirection(f, e.Direction)
	switch e.RuleAction {
	case v1.RuleActionAllow, v1.RuleActionDeny:
	case "":
		f.addf("ruleAction", "required; use allow or deny")
	default:
		f.addf("ruleAction", "%s is not a rule action; use allow or deny", quote(string(e.RuleAction)))
	}
	checkProtocolPorts(f, e.Protocol, e.Ports)
	checkCIDR(f, "cidr", e.CIDR, true)
}

// checkTarget checks a route target type and ID pair; what says "target" or "previousTarget".
func checkTarget(f field, what string, typ v1.RouteTargetType, id string) {
	prefixes, known := routeTargetPrefixes[typ]
	if typ == "" {
		f.addf(what+"Type", "required with %sID; use gateway, natGateway, networkInterface, transitGateway, vpcPeeringConnection or instance", what)
		return
	}
	if !known {
		f.addf(what+"Type", "%s is not a target type; use gateway, natGateway, networkInterface, transitGateway, vpcPeeringConnection or instance", quote(string(typ)))
		return
	}
	for _, p := range prefixes {
		if idPatternCache(p).MatchString(id) {
			return
		}
	}
	want := strings.Join(prefixes, "- or ") + "-"
	if id == "" {
		f.addf(what+"ID", "required for %s %s; use a %s ID", what+"Type", typ, want)
		return
	}
	f.addf(what+"ID", "%s is not a valid %s ID for %s %s; use a %s ID with 8 or 17 lowercase hex digits", quote(id), want, what+"Type", typ, want)
}

var idPatterns = func() map[string]*regexp.Regexp {
	m := map[string]*regexp.Regexp{}
	for _, ps := range routeTargetPrefixes {
		for _, p := range ps {
			m[p] = idPattern(p)
		}
	}
	return m
}()

func idPatternCache(prefix string) *regexp.Regexp { return idPatterns[prefix] }

func checkRoute(f field, t v1.ActionType, r *v1.RouteParams) {
	checkID(f, "routeTableID", r.RouteTableID, reRouteTable, "rtb-0123456789abcdef0")
	checkCIDR(f, "destinationCIDR", r.DestinationCIDR, true)
	hasTarget := r.TargetType != "" || r.TargetID != ""
	hasPrevious := r.PreviousTargetType != "" || r.PreviousTargetID != ""
	switch t {
	case v1.ActionRouteCreate, v1.ActionRouteReplace:
		if !hasTarget {
			f.addf("targetType", "required for %s; set targetType and targetID", t)
		} else {
			checkTarget(f, "target", r.TargetType, r.TargetID)
		}
	case v1.ActionRouteDelete:
		if hasTarget {
			f.addf("targetType", "must not be set for RouteDelete; record the current next hop in previousTargetType and previousTargetID")
		}
	}
	switch t {
	case v1.ActionRouteReplace, v1.ActionRouteDelete:
		if !hasPrevious {
			f.addf("previousTargetType", "required for %s so it can be rolled back; set previousTargetType and previousTargetID to the route's current next hop", t)
		} else {
			checkTarget(f, "previousTarget", r.PreviousTargetType, r.PreviousTargetID)
		}
	case v1.ActionRouteCreate:
		if hasPrevious {
			f.addf("previousTargetType", "must not be set for RouteCreate: a new route has no previous target; use RouteReplace to change an existing route")
		}
	}
	if t == v1.ActionRouteReplace && hasTarget && r.TargetType == r.PreviousTargetType && r.TargetID == r.PreviousTargetID {
		f.addf("targetID", "equals previousTargetID, so the replace changes nothing; remove the action")
	}
}

func checkPrefixListEntry(f field, e *v1.PrefixListEntryParams) {
	checkID(f, "prefixListID", e.PrefixListID, rePrefixList, "pl-0123456789abcdef0")
	checkCIDR(f, "cidr", e.CIDR, true)
	checkDescription(f, e.Description)
}

func checkQuarantine(f field, q *v1.QuarantineParams) {
	checkID(f, "instanceID", q.InstanceID, reInstance, "i-0123456789abcdef0")
	checkID(f, "vpcID", q.VPCID, reVPC, "vpc-0123456789abcdef0")
	switch n := len(q.OriginalGroupIDs); {
	case n == 0:
		f.addf("originalGroupIDs", "at least one group is required so release and rollback can restore the instance; list its current security groups")
	case n > 16:
		f.addf("originalGroupIDs", "%d groups, at most 16 are allowed", n)
	}
	seen := map[string]bool{}
	for i, g := range q.OriginalGroupIDs {
		name := fmt.Sprintf("originalGroupIDs[%d]", i)
		checkID(f, name, g, reGroupID, "sg-0123456789abcdef0")
		if seen[g] {
			f.addf(name, "%s is listed twice; list each group once", quote(g))
		}
		seen[g] = true
	}
	if q.ForensicsCIDR != "" {
		checkCIDR(f, "forensicsCIDR", q.ForensicsCIDR, false)
	}
}

func checkTags(f field, t v1.ActionType, tp *v1.TagsParams) {
	checkID(f, "resourceID", tp.ResourceID, reTaggable, "i-0123456789abcdef0")
	switch n := len(tp.Tags); {
	case n == 0:
		f.addf("tags", "at least one tag is required")
	case n > 16:
		f.addf("tags", "%d tags, at most 16 are allowed", n)
	}
	seen := map[string]bool{}
	for i, tag := range tp.Tags {
		name := fmt.Sprintf("tags[%d].key", i)
		switch {
		case tag.Key == "":
			f.addf(name, "required")
		case len(tag.Key) > 128:
			f.addf(name, "%d bytes, at most 128 are allowed", len(tag.Key))
		case strings.HasPrefix(strings.ToLower(tag.Key), "aws:"):
			f.addf(name, "%s: keys starting with \"aws:\" are reserved by AWS; use another key", quote(tag.Key))
		case t == v1.ActionTagsRemove && tag.Key == v1.TagProtected:
			f.addf(name, "%s cannot be removed by netchange; a person must remove it in AWS", v1.TagProtected)
		}
		if len(tag.Value) > 256 {
			f.addf(fmt.Sprintf("tags[%d].value", i), "%d bytes, at most 256 are allowed", len(tag.Value))
		}
		if seen[tag.Key] {
			f.addf(name, "%s is listed twice; list each key once", quote(tag.Key))
		}
		seen[tag.Key] = true
	}
}

func checkWAF(f field, w *v1.WAFIPSetParams, region string) {
	if !reWAFName.MatchString(w.Name) {
		f.addf("name", "%s is not a WAF IP set name; use 1-128 letters, digits, _ or -", quote(w.Name))
	}
	if !reWAFID.MatchString(w.ID) {
		f.addf("id", "%s is not a WAF IP set ID; use the set's UUID-form ID, e.g. a1b2c3d4-5678-90ab-cdef-EXAMPLE11111 in lowercase", quote(w.ID))
	}
	switch w.Scope {
	case v1.WAFScopeRegional:
	case v1.WAFScopeCloudFront:
		if region != "" && region != "us-east-1" {
			f.addf("scope", "CLOUDFRONT IP sets are managed in us-east-1, but the plan's region is %s; plan CLOUDFRONT changes in us-east-1", quote(region))
		}
	case "":
		f.addf("scope", "required; use REGIONAL or CLOUDFRONT")
	default:
		f.addf("scope", "%s is not a WAF scope; use REGIONAL or CLOUDFRONT", quote(string(w.Scope)))
	}
	switch n := len(w.Addresses); {
	case n == 0:
		f.addf("addresses", "at least one address is required")
	case n > 32:
		f.addf("addresses", "%d addresses, at most 32 are allowed", n)
	}
	seen := map[string]bool{}
	var v4, v6 bool
	for i, a := range w.Addresses {
		name := fmt.Sprintf("addresses[%d]", i)
		if pfx, ok := checkCIDR(f, name, a, false); ok {
			if pfx.Addr().Is4() {
				v4 = true
			} else {
				v6 = true
			}
		}
		if seen[a] {
			f.addf(name, "%s is listed twice; list each address once", quote(a))
		}
		seen[a] = true
	}
	if v4 && v6 {
		f.addf("addresses", "mixes IPv4 and IPv6 blocks, but an IP set holds one address version; use one action per IP set")
	}
}
