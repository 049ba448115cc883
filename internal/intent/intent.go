// Package intent derives, deterministically and independently of the planner,
// what a NetworkChangeRequest asks for (DESIGN §6.1), and checks a plan against it
// for scope creep (§6.2). Request text and event payloads are untrusted: they are
// only matched by bounded regular expressions and never interpreted as instructions.
package intent

import (
	"encoding/json"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// Verb is a kind of change a request asks for.
type Verb string

// Verbs the extractor recognises.
const (
	// VerbBlock asks to stop traffic (deny entries, block lists).
	VerbBlock Verb = "block"
	// VerbIsolate asks to quarantine an instance.
	VerbIsolate Verb = "isolate"
	// VerbAllow asks to open traffic.
	VerbAllow Verb = "allow"
	// VerbRemove asks to remove, revoke, unblock or release something.
	VerbRemove Verb = "remove"
	// VerbRoute asks to change routing.
	VerbRoute Verb = "route"
	// VerbAdd asks to add or create something.
	VerbAdd Verb = "add"
	// VerbTag asks to tag a resource.
	VerbTag Verb = "tag"
)

// Resource kinds, as the ID prefixes AWS uses.
const (
	KindInstance  = "i"
	KindSG        = "sg"
	KindACL       = "acl"
	KindRTB       = "rtb"
	KindPL        = "pl"
	KindVPC       = "vpc"
	KindSubnet    = "subnet"
	KindIGW       = "igw"
	KindNAT       = "nat"
	KindTGW       = "tgw"
	KindENI       = "eni"
	KindPCX       = "pcx"
	KindVPCE      = "vpce"
	KindWAF       = "waf"
	kindUnknown   = ""
	maxTextBytes  = 8192
	maxEventBytes = 65536
	maxItems      = 256
)

// Finding is what the extractor read from a triggering security finding.
type Finding struct {
	// Type is the finding type, e.g. CryptoCurrency:EC2/BitcoinTool.B!DNS.
	Type string
	// Severity is the finding's numeric severity (GuardDuty 1.0–10.0).
	Severity float64
	// InstanceIDs are the instances the finding is about.
	InstanceIDs []string
	// RemoteIPs are the remote addresses the finding names, as /32 or /128 CIDRs.
	RemoteIPs []string
	// Region is the finding's region.
	Region string
}

// Intent is what a request asks for, as the auditor reads it.
type Intent struct {
	// Verbs are the kinds of change asked for.
	Verbs []Verb
	// CIDRs are the named CIDR blocks (addresses as /32 or /128), canonical and sorted.
	CIDRs []string
	// IDs are the named EC2 resource IDs by kind (ID prefix: i, sg, acl, ...).
	IDs map[string][]string
	// Ports are the named port ranges.
	Ports []v1.PortRange
	// Protocols are the named protocols (tcp, udp, icmp, all).
	Protocols []string
	// Regions are the named AWS regions.
	Regions []string
	// WAFIPSets are the named WAFv2 IP set names.
	WAFIPSets []string
	// Kinds are resource kinds the text mentions generically ("the production
	// subnets", "security group", "route table"), as ID prefixes.
	Kinds []string
	// Keywords are distinctive lower-case words of the text (e.g. "payments"),
	// used to match resource names in the plan's snapshot.
	Keywords []string
	// Finding is the triggering finding, when the request came from one.
	Finding *Finding
}

// Has reports whether the request asks for v.
func (in Intent) Has(v Verb) bool {
	for _, x := range in.Verbs {
		if x == v {
			return true
		}
	}
	return false
}

// Named reports whether id is named by the request, its targets or its event.
func (in Intent) Named(id string) bool {
	for _, x := range in.IDs[idKind(id)] {
		if x == id {
			return true
		}
	}
	return false
}

// Entities lists what was extracted, as "kind:value" strings for verdict findings.
func (in Intent) Entities() []string {
	var out []string
	for _, v := range in.Verbs {
		out = append(out, "verb:"+string(v))
	}
	for _, c := range in.CIDRs {
		out = append(out, "cidr:"+c)
	}
	kinds := make([]string, 0, len(in.IDs))
	for k := range in.IDs {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		for _, id := range in.IDs[k] {
			out = append(out, "id:"+id)
		}
	}
	for _, p := range in.Ports {
		out = append(out, "port:"+portString(p))
	}
	for _, p := range in.Protocols {
		out = append(out, "protocol:"+p)
	}
	for _, r := range in.Regions {
		out = append(out, "region:"+r)
	}
	for _, w := range in.WAFIPSets {
		out = append(out, "wafIPSet:"+w)
	}
	if in.Finding != nil {
		out = append(out, "finding:"+in.Finding.Type+"@"+strconv.FormatFloat(in.Finding.Severity, 'f', -1, 64))
	}
	if len(out) > 128 {
		out = out[:128]
	}
	return out
}

func portString(p v1.PortRange) string {
	if p.From == p.To {
		return strconv.Itoa(int(p.From))
	}
	return strconv.Itoa(int(p.From)) + "-" + strconv.Itoa(int(p.To))
}

var (
	reIPv4    = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?\b`)
	reIPv6    = regexp.MustCompile(`(?i)(?:^|[^0-9a-z:])((?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?:/\d{1,3})?)`)
	reID      = regexp.MustCompile(`\b(i|sg|acl|rtb|pl|vpc|subnet|igw|nat|tgw|eni|pcx|vpce)-([0-9a-f]{17}|[0-9a-f]{8})\b`)
	reRegion  = regexp.MustCompile(`\b(?:af|ap|ca|cn|eu|il|me|mx|sa|us)(?:-gov|-iso|-isob)?-(?:central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9]\b`)
	rePorts   = regexp.MustCompile(`(?i)\bports?\s+((?:\d{1,5}(?:\s*(?:-|to)\s*\d{1,5})?(?:\s*(?:,|and|or)\s*)?){1,16})`)
	reProtoPt = regexp.MustCompile(`(?i)\b(tcp|udp)\s*[/: ]\s*(\d{1,5})(?:\s*-\s*(\d{1,5}))?\b`)
	rePortNum = regexp.MustCompile(`(\d{1,5})(?:\s*(?:-|to)\s*(\d{1,5}))?`)
	reProto   = regexp.MustCompile(`(?i)\b(tcp|udp|icmp)\b`)
	reIPSet1  = regexp.MustCompile(`(?i)\b(?:ip\s*set|ipset)\s+(?:named\s+|called\s+)?["'` + "`" + `]?([A-Za-z0-9_-]{1,128})`)
	reIPSet2  = regexp.MustCompile(`(?i)\b([A-Za-z0-9_-]{1,128})["'` + "`" + `]?\s+(?:waf\s+)?(?:ip\s*set|ipset)\b`)
	reWord    = regexp.MustCompile(`[a-z0-9][a-z0-9_-]{2,62}`)
	reWorld   = regexp.MustCompile(`(?i)\b(?:the\s+internet|anywhere|the\s+world|everyone|any\s+(?:ip|address|source))\b`)
)

var verbPatterns = []struct {
	verb Verb
	re   *regexp.Regexp
}{
	{VerbBlock, regexp.MustCompile(`(?i)\b(?:block(?:s|ed|ing)?|deny|denies|denied|ban(?:s|ned)?|blacklist|blocklist|blocklists|drop(?:s|ped)?)\b`)},
	{VerbIsolate, regexp.MustCompile(`(?i)\b(?:isolat(?:e|es|ed|ing|ion)|quarantin(?:e|es|ed|ing)|contain(?:ment)?|cordon)\b`)},
	{VerbAllow, regexp.MustCompile(`(?i)\b(?:allow(?:s|ed|ing)?|permit(?:s|ted)?|open(?:s|ed|ing)?|whitelist|allowlist|grant(?:s|ed)?|expose)\b`)},
	{VerbRemove, regexp.MustCompile(`(?i)\b(?:remov(?:e|es|ed|ing)|delet(?:e|es|ed|ing)|revok(?:e|es|ed|ing)|unblock(?:s|ed|ing)?|close|closes|closed|releas(?:e|es|ed|ing)|unquarantine|lift)\b`)},
	{VerbRoute, regexp.MustCompile(`(?i)\b(?:route|routes|routing|reroute|next\s+hop)\b`)},
	{VerbAdd, regexp.MustCompile(`(?i)\b(?:add(?:s|ed|ing)?|creat(?:e|es|ed|ing)|insert|append)\b`)},
	{VerbTag, regexp.MustCompile(`(?i)\b(?:tag|tags|tagged|tagging|label)\b`)},
}

var kindPatterns = []struct {
	kind string
	re   *regexp.Regexp
}{
	{KindSubnet, regexp.MustCompile(`(?i)\bsubnets?\b`)},
	{KindACL, regexp.MustCompile(`(?i)\b(?:n?acls?|network\s+acls?|network\s+access\s+control\s+lists?)\b`)},
	{KindSG, regexp.MustCompile(`(?i)\b(?:security\s+groups?|sgs?)\b`)},
	{KindRTB, regexp.MustCompile(`(?i)\broute\s+tables?\b`)},
	{KindPL, regexp.MustCompile(`(?i)\b(?:prefix\s+lists?|block\s*lists?)\b`)},
	{KindWAF, regexp.MustCompile(`(?i)\b(?:waf|ip\s*sets?)\b`)},
	{KindInstance, regexp.MustCompile(`(?i)\b(?:instances?|hosts?|servers?|vms?)\b`)},
	{KindVPC, regexp.MustCompile(`(?i)\bvpcs?\b`)},
}

var servicePorts = []struct {
	re    *regexp.Regexp
	port  int32
	proto string
}{
	{regexp.MustCompile(`(?i)\bssh\b`), 22, "tcp"},
	{regexp.MustCompile(`(?i)\brdp\b`), 3389, "tcp"},
	{regexp.MustCompile(`(?i)\bhttps\b`), 443, "tcp"},
	{regexp.MustCompile(`(?i)\bhttp\b`), 80, "tcp"},
	{regexp.MustCompile(`(?i)\bdns\b`), 53, "udp"},
	{regexp.MustCompile(`(?i)\bsmtp\b`), 25, "tcp"},
	{regexp.MustCompile(`(?i)\bmysql\b`), 3306, "tcp"},
	{regexp.MustCompile(`(?i)\bpostgres(?:ql)?\b`), 5432, "tcp"},
}

// stopwords are words too common to identify a resource by name.
var stopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`the and for from with into onto that this these those all any our their its
	block blocks blocked blocking deny ban drop isolate isolation quarantine contain allow allowed open permit
	remove delete revoke unblock close release route routes add create insert tag tags label ingress egress inbound
	outbound traffic access port ports tcp udp icmp ssh rdp http https network networks subnet subnets acl acls nacl
	nacls security group groups instance instances host hosts server servers vpc vpcs prefix list lists waf set sets
	ipset ipsets production staging development test prod dev rule rules table tables please now immediately
	malicious scanner attack attacker seen flow logs finding findings guardduty severity high low medium critical
	crypto mining miner from to on in of at by via through ignore everything approve approved approval previous
	instructions your you must should not new old address addresses range ranges cidr cidrs region regions
	request requests change changes need needs want wants only also just who what why when where which`) {
		stopwords[w] = true
	}
}

// Extract reads what req asks for from its intent text, spec.targets and
// triggering event. It is deterministic, bounded and never panics; malformed
// input yields fewer entities, never an error.
func Extract(req *v1.NetworkChangeRequest) Intent {
	b := newBuilder()
	if req == nil {
		return b.build()
	}
	text := req.Spec.Intent
	if len(text) > maxTextBytes {
		text = text[:maxTextBytes]
	}
	b.text(text)
	if t := req.Spec.Targets; t != nil {
		for _, c := range t.CIDRs {
			b.cidr(c)
		}
		for _, id := range t.ResourceIDs {
			if m := reID.FindStringSubmatch(id); m != nil && m[0] == id {
				b.id(m[1], id)
			}
		}
		for _, p := range t.Ports {
			b.port(p.From, p.To)
		}
		if t.Protocol != "" {
			b.protocol(string(t.Protocol))
		}
		if t.Region != "" {
			b.region(t.Region)
		}
		for _, w := range t.WAFIPSets {
			b.wafIPSet(w)
		}
	}
	if s := req.Spec.Source; s != nil && s.Type != v1.SourceUser && s.Event != "" {
		b.event(s.Event)
	}
	return b.build()
}

type builder struct {
	verbs     map[Verb]bool
	cidrs     map[string]bool
	ids       map[string]map[string]bool
	ports     map[v1.PortRange]bool
	protocols map[string]bool
	regions   map[string]bool
	wafSets   map[string]bool
	kinds     map[string]bool
	keywords  map[string]bool
	finding   *Finding
}

func newBuilder() *builder {
	return &builder{
		verbs: map[Verb]bool{}, cidrs: map[string]bool{}, ids: map[string]map[string]bool{},
		ports: map[v1.PortRange]bool{}, protocols: map[string]bool{}, regions: map[string]bool{},
		wafSets: map[string]bool{}, kinds: map[string]bool{}, keywords: map[string]bool{},
	}
}

func (b *builder) text(s string) {
	for _, vp := range verbPatterns {
		if vp.re.MatchString(s) {
			b.verbs[vp.verb] = true
		}
	}
	for _, kp := range kindPatterns {
		if kp.re.MatchString(s) {
			b.kinds[kp.kind] = true
		}
	}
	for _, m := range reIPv4.FindAllString(s, maxItems) {
		b.cidr(m)
	}
	for _, m := range reIPv6.FindAllStringSubmatch(s, maxItems) {
		b.cidr(m[1])
	}
	if reWorld.MatchString(s) {
		b.cidr("0.0.0.0/0")
		b.cidr("::/0")
	}
	for _, m := range reID.FindAllStringSubmatch(s, maxItems) {
		b.id(m[1], m[0])
	}
	for _, m := range reRegion.FindAllString(s, maxItems) {
		b.region(m)
	}
	for _, m := range rePorts.FindAllStringSubmatch(s, maxItems) {
		for _, pm := range rePortNum.FindAllStringSubmatch(m[1], 16) {
			b.portStrings(pm[1], pm[2])
		}
	}
	for _, m := range reProtoPt.FindAllStringSubmatch(s, maxItems) {
		b.protocol(strings.ToLower(m[1]))
		b.portStrings(m[2], m[3])
	}
	for _, m := range reProto.FindAllString(s, maxItems) {
		b.protocol(strings.ToLower(m))
	}
	for _, sp := range servicePorts {
		if sp.re.MatchString(s) {
			b.port(sp.port, sp.port)
			b.protocol(sp.proto)
		}
	}
	for _, re := range []*regexp.Regexp{reIPSet1, reIPSet2} {
		for _, m := range re.FindAllStringSubmatch(s, maxItems) {
			if !stopwords[strings.ToLower(m[1])] {
				b.wafIPSet(m[1])
			}
		}
	}
	for _, w := range reWord.FindAllString(strings.ToLower(s), 1024) {
		if !stopwords[w] && !reID.MatchString(w) && strings.IndexFunc(w, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
			if len(b.keywords) < maxItems {
				b.keywords[w] = true
			}
		}
	}
}

func (b *builder) cidr(s string) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		pp, err := netip.ParsePrefix(s)
		if err != nil {
			return
		}
		p = pp.Masked()
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if len(b.cidrs) < maxItems {
		b.cidrs[p.String()] = true
	}
}

func (b *builder) id(kind, id string) {
	if b.ids[kind] == nil {
		b.ids[kind] = map[string]bool{}
	}
	if len(b.ids[kind]) < maxItems {
		b.ids[kind][id] = true
	}
}

func (b *builder) portStrings(from, to string) {
	f, err := strconv.Atoi(from)
	if err != nil {
		return
	}
	t := f
	if to != "" {
		if t, err = strconv.Atoi(to); err != nil {
			return
		}
	}
	if f < 0 || t > 65535 || t < f {
		return
	}
	b.port(int32(f), int32(t))
}

func (b *builder) port(from, to int32) {
	if from < 0 || to > 65535 || to < from || len(b.ports) >= maxItems {
		return
	}
	b.ports[v1.PortRange{From: from, To: to}] = true
}

func (b *builder) protocol(p string) { b.protocols[p] = true }

func (b *builder) region(r string) {
	if reRegion.MatchString(r) && len(r) <= 32 {
		b.regions[r] = true
	}
}

func (b *builder) wafIPSet(name string) {
	if len(b.wafSets) < maxItems {
		b.wafSets[name] = true
	}
}

// event reads a finding (GuardDuty finding JSON, or an EventBridge envelope with
// the finding under "detail"). Only structured fields are read: the type,
// severity, region, instance IDs, remote IPs and the instance's network IDs.
// Free-text fields (titles, descriptions, domains) are ignored.
func (b *builder) event(raw string) {
	if len(raw) > maxEventBytes {
		return
	}
	var root any
	if err := json.Unmarshal([]byte(raw), &root); err != nil {
		return
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return
	}
	if d, ok := obj["detail"].(map[string]any); ok {
		obj = d
	}
	f := &Finding{}
	if t, ok := obj["type"].(string); ok && len(t) <= 256 {
		f.Type = t
	}
	switch s := obj["severity"].(type) {
	case float64:
		f.Severity = s
	case string:
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			f.Severity = v
		}
	}
	if r, ok := obj["region"].(string); ok && reRegion.MatchString(r) {
		f.Region = r
		b.region(r)
	}
	budget := 10000
	var walk func(key string, v any, depth int, inRemote bool)
	walk = func(key string, v any, depth int, inRemote bool) {
		budget--
		if depth > 32 || budget < 0 {
			return
		}
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(k, x[k], depth+1, inRemote || strings.EqualFold(k, "remoteIpDetails"))
			}
		case []any:
			for _, e := range x {
				walk(key, e, depth+1, inRemote)
			}
		case string:
			switch strings.ToLower(key) {
			case "instanceid", "vpcid", "subnetid", "networkinterfaceid", "groupid":
				if m := reID.FindStringSubmatch(x); m != nil && m[0] == x {
					b.id(m[1], x)
					if m[1] == KindInstance && len(f.InstanceIDs) < maxItems && !contains(f.InstanceIDs, x) {
						f.InstanceIDs = append(f.InstanceIDs, x)
					}
				}
			case "ipaddressv4", "ipaddressv6":
				if !inRemote {
					return
				}
				if a, err := netip.ParseAddr(x); err == nil {
					c := netip.PrefixFrom(a, a.BitLen()).String()
					b.cidr(c)
					if len(f.RemoteIPs) < maxItems && !contains(f.RemoteIPs, c) {
						f.RemoteIPs = append(f.RemoteIPs, c)
					}
				}
			}
		case float64:
			if strings.EqualFold(key, "port") && x >= 0 && x <= 65535 && x == float64(int32(x)) {
				b.port(int32(x), int32(x))
			}
		}
	}
	walk("", obj, 0, false)
	if f.Type == "" && len(f.InstanceIDs) == 0 && len(f.RemoteIPs) == 0 {
		return
	}
	sort.Strings(f.InstanceIDs)
	sort.Strings(f.RemoteIPs)
	b.finding = f
	// A finding about an instance asks for its isolation; one naming remote
	// addresses asks for them to be blocked.
	if len(f.InstanceIDs) > 0 {
		b.verbs[VerbIsolate] = true
	}
	if len(f.RemoteIPs) > 0 {
		b.verbs[VerbBlock] = true
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[K ~string](m map[K]bool) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (b *builder) build() Intent {
	in := Intent{
		Verbs:     sortedKeys(b.verbs),
		CIDRs:     sortedKeys(b.cidrs),
		Protocols: sortedKeys(b.protocols),
		Regions:   sortedKeys(b.regions),
		WAFIPSets: sortedKeys(b.wafSets),
		Kinds:     sortedKeys(b.kinds),
		Keywords:  sortedKeys(b.keywords),
		IDs:       map[string][]string{},
		Finding:   b.finding,
	}
	for k, ids := range b.ids {
		in.IDs[k] = sortedKeys(ids)
	}
	for p := range b.ports {
		in.Ports = append(in.Ports, p)
	}
	sort.Slice(in.Ports, func(i, j int) bool {
		if in.Ports[i].From != in.Ports[j].From {
			return in.Ports[i].From < in.Ports[j].From
		}
		return in.Ports[i].To < in.Ports[j].To
	})
	return in
}

// idKind returns the ID prefix of an EC2 resource ID ("sg" for "sg-0123…"), or "".
func idKind(id string) string {
	if m := reID.FindStringSubmatch(id); m != nil && m[0] == id {
		return m[1]
	}
	return kindUnknown
}
