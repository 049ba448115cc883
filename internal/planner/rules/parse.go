package rules

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// maxIntentBytes bounds how much request text the parser reads (the CRD allows
// 4096); anything beyond is ignored.
const maxIntentBytes = 8192

// maxItems bounds how many CIDRs, IDs, ports and names the parser keeps.
const maxItems = 64

// The request text is untrusted: it is only matched by these RE2 expressions
// (linear time, no backtracking) and never interpreted otherwise.
var (
	reIPv4   = regexp.MustCompile(`\b(\d{1,3}(?:\.\d{1,3}){3})(?:/(\d{1,3}))?\b`)
	reIPv6   = regexp.MustCompile(`(?:^|[^0-9a-z:])([0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7})(?:/(\d{1,3}))?`)
	reID     = regexp.MustCompile(`\b(i|sg|acl|rtb|pl|vpc|subnet|eni|igw|vgw|nat|tgw|pcx|vpce)-([0-9a-f]{17}|[0-9a-f]{8})\b`)
	rePortKw = regexp.MustCompile(`\bports?\s+(\d{1,6})(?:\s*(?:-|to|through|–)\s*(\d{1,6}))?`)
	reProtoP = regexp.MustCompile(`\b(tcp|udp)\s*/?\s*(?:port\s+)?(\d{1,6})(?:\s*-\s*(\d{1,6}))?\b`)
	rePProto = regexp.MustCompile(`\b(\d{1,6})(?:\s*-\s*(\d{1,6}))?\s*/\s*(tcp|udp)\b`)
	reVerbP  = regexp.MustCompile(`\b(?:allow|open|permit|close|revoke|block|deny|drop)\s+(?:inbound\s+|ingress\s+|outbound\s+|egress\s+)?(\d{1,6})(?:\s*-\s*(\d{1,6}))?\b`)
	reRange  = regexp.MustCompile(`\b(\d{1,6})\s*-\s*(\d{1,6})\b`)
	reProto  = regexp.MustCompile(`\b(tcp|udp|icmp)\b|\b(all traffic|all protocols|any protocol|all ports)\b`)
	reSvc    = regexp.MustCompile(`\b(ssh|https|http|rdp|postgres|postgresql|mysql)\b`)

	reBlock    = regexp.MustCompile(`\b(block|blocks|blocking|deny|drop|ban|blacklist)\b`)
	reIsolate  = regexp.MustCompile(`\b(isolate|isolated|quarantine|quarantined|contain)\b`)
	reAllow    = regexp.MustCompile(`\b(allow|allows|open|permit|whitelist|authori[sz]e)\b`)
	reRevoke   = regexp.MustCompile(`\b(close|revoke|remove|delete|unblock|disallow|withdraw)\b`)
	reDelete   = regexp.MustCompile(`\b(remove|delete|withdraw|drop)\b`)
	reAdd      = regexp.MustCompile(`\b(add|append|insert|put|include|create|replace|change|point|update|modify|set)\b`)
	rePLWord   = regexp.MustCompile(`\b(prefix\s+list)\b`)
	reRoute    = regexp.MustCompile(`\broutes?\b`)
	reList     = regexp.MustCompile(`\b(block\s*-?\s*list|blocklist|deny\s*-?\s*list|denylist|prefix\s+list|managed\s+prefix\s+list)\b`)
	reWAF      = regexp.MustCompile(`\b(waf|wafv2|ip\s+set)\b`)
	reEgress   = regexp.MustCompile(`\b(outbound|egress|outgoing)\b`)
	reBoth     = regexp.MustCompile(`\b(both directions|in and out|inbound and outbound|ingress and egress)\b`)
	reForensic = regexp.MustCompile(`\bforensics?\b`)
	reSGName1  = regexp.MustCompile(`\b([a-z0-9][a-z0-9_.-]{0,127})\s+(?:security\s+group|sg)\b`)
	reSGName2  = regexp.MustCompile(`\bsecurity\s+group\s+(?:named\s+|called\s+)?["']?([a-z0-9][a-z0-9_.-]{0,127})`)
	reEnvWord  = regexp.MustCompile(`\b(production|prod|staging|stage|development|dev|test)\s+(?:subnets?|vpcs?|network|environment|instances?|servers?|hosts?)\b`)
	reWord     = regexp.MustCompile(`[a-z0-9][a-z0-9_.-]{0,127}`)
)

// notNames are words that precede "security group" without naming one.
var notNames = map[string]bool{
	"the": true, "a": true, "an": true, "to": true, "on": true, "this": true, "that": true, "its": true,
	"of": true, "in": true, "for": true, "from": true, "my": true, "our": true, "new": true, "same": true,
	"instance": true, "instance's": true, "whose": true, "which": true, "any": true, "every": true, "each": true,
}

// servicePorts are well-known service names and their port and protocol.
var servicePorts = map[string]int32{"ssh": 22, "https": 443, "http": 80, "rdp": 3389, "postgres": 5432, "postgresql": 5432, "mysql": 3306}

// cidrMatch is a CIDR or address found in the text, with the preposition before it.
type cidrMatch struct {
	prefix netip.Prefix
	prep   string // "from", "to", "via", "" ...
	pos    int
}

// intentText is what the parser understood from a request's text.
type intentText struct {
	// CIDRs are the CIDRs and addresses (as /32 or /128), in text order, without duplicates.
	CIDRs []cidrMatch
	// IDs are EC2 IDs by prefix (i, sg, acl, ...), in text order, without duplicates.
	IDs map[string][]string
	// Ports are the port ranges named.
	Ports []v1.PortRange
	// Protocol is tcp, udp, icmp or all when the text says so.
	Protocol v1.Protocol
	// Verbs.
	Block, Isolate, Allow, Revoke, Delete, Add, Route bool
	// Verb is the category of the first verb in the text (block, isolate, allow,
	// revoke, route, add), which decides what kind of change is asked for.
	Verb string
	// BlockList is true when the text names a block list or prefix list; WAF when
	// it names WAF / an IP set; PrefixListWord when it says "prefix list".
	BlockList, WAF, PrefixListWord bool
	// Egress is true when the text says outbound/egress; Both when it says both directions.
	Egress, Both bool
	// Forensics is the CIDR after "forensics", if any.
	Forensics string
	// SGNames are security group name fragments ("the payments security group").
	SGNames []string
	// Envs are the environments the text names next to subnets/VPCs/instances.
	Envs []v1.Environment
	// Words are the lower-case words of the text, for matching instance names.
	Words map[string]bool
	// Problems are things the parser saw but refuses (host bits set, ports out of range).
	Problems []string
}

// parseIntent extracts entities and verbs from untrusted request text. It never
// panics, reads at most maxIntentBytes, and keeps at most maxItems of each list.
func parseIntent(text string) intentText {
	if len(text) > maxIntentBytes {
		text = text[:maxIntentBytes]
	}
	s := strings.ToLower(text)
	in := intentText{IDs: map[string][]string{}, Words: map[string]bool{}}

	// Addresses and IDs first; then blank them out so their digits are not read as ports.
	blank := []byte(s)
	seen := map[netip.Prefix]bool{}
	addCIDR := func(addr, bits string, start, end int) {
		for i := start; i < end && i < len(blank); i++ {
			blank[i] = ' '
		}
		p, err := parsePrefix(addr, bits)
		if err != nil {
			if len(in.Problems) < maxItems {
				in.Problems = append(in.Problems, err.Error())
			}
			return
		}
		if seen[p] || len(in.CIDRs) >= maxItems {
			return
		}
		seen[p] = true
		in.CIDRs = append(in.CIDRs, cidrMatch{prefix: p, prep: prepBefore(s, start), pos: start})
	}
	for _, m := range reIPv4.FindAllStringSubmatchIndex(s, maxItems*2) {
		bits := ""
		if m[4] >= 0 {
			bits = s[m[4]:m[5]]
		}
		addCIDR(s[m[2]:m[3]], bits, m[0], m[1])
	}
	for _, m := range reIPv6.FindAllStringSubmatchIndex(s, maxItems*2) {
		addr := s[m[2]:m[3]]
		if strings.Trim(addr, ":") == "" || !strings.Contains(addr, "::") && strings.Count(addr, ":") < 7 {
			continue // not an IPv6 address (a bare "::", times, ratios, ...)
		}
		if _, err := netip.ParseAddr(addr); err != nil {
			continue
		}
		bits := ""
		if m[4] >= 0 {
			bits = s[m[4]:m[5]]
		}
		addCIDR(addr, bits, m[2], m[1])
	}
	sortCIDRs(in.CIDRs)
	for _, m := range reID.FindAllStringSubmatchIndex(s, maxItems*2) {
		kind, id := s[m[2]:m[3]], s[m[0]:m[1]]
		for i := m[0]; i < m[1]; i++ {
			blank[i] = ' '
		}
		if len(in.IDs[kind]) < maxItems && !contains(in.IDs[kind], id) {
			in.IDs[kind] = append(in.IDs[kind], id)
		}
	}
	rest := string(blank)

	// Protocol.
	for _, m := range reProto.FindAllStringSubmatch(rest, maxItems) {
		switch {
		case m[1] != "" && in.Protocol == "":
			in.Protocol = v1.Protocol(m[1])
		case m[2] != "" && in.Protocol == "":
			in.Protocol = v1.ProtocolAll
		}
	}

	// Ports.
	addPort := func(from, to string) {
		f, err1 := strconv.Atoi(from)
		t := f
		var err2 error
		if to != "" {
			t, err2 = strconv.Atoi(to)
		}
		switch {
		case err1 != nil || err2 != nil || f > 65535 || t > 65535:
			in.Problems = appendBounded(in.Problems, fmt.Sprintf("port %s is not a port number (0-65535)", strings.Trim(from+"-"+to, "-")))
			return
		case t < f:
			in.Problems = appendBounded(in.Problems, fmt.Sprintf("port range %d-%d ends before it starts; write it as %d-%d", f, t, t, f))
			return
		}
		pr := v1.PortRange{From: int32(f), To: int32(t)}
		for _, p := range in.Ports {
			if p == pr {
				return
			}
		}
		if len(in.Ports) < maxItems {
			in.Ports = append(in.Ports, pr)
		}
	}
	used := make([]bool, len(rest))
	mark := func(a, b int) bool {
		for i := a; i < b; i++ {
			if used[i] {
				return false
			}
		}
		for i := a; i < b; i++ {
			used[i] = true
		}
		return true
	}
	for _, m := range reProtoP.FindAllStringSubmatchIndex(rest, maxItems) {
		if mark(m[0], m[1]) {
			addPort(rest[m[4]:m[5]], sub(rest, m, 6))
			if in.Protocol == "" {
				in.Protocol = v1.Protocol(rest[m[2]:m[3]])
			}
		}
	}
	for _, m := range rePProto.FindAllStringSubmatchIndex(rest, maxItems) {
		if mark(m[0], m[1]) {
			addPort(rest[m[2]:m[3]], sub(rest, m, 4))
			if in.Protocol == "" {
				in.Protocol = v1.Protocol(rest[m[6]:m[7]])
			}
		}
	}
	for _, re := range []*regexp.Regexp{rePortKw, reVerbP} {
		for _, m := range re.FindAllStringSubmatchIndex(rest, maxItems) {
			if mark(m[2], m[1]) {
				addPort(rest[m[2]:m[3]], sub(rest, m, 4))
			}
		}
	}
	// A bare range ("8000-8080") counts only when it is a plausible port range and
	// not part of a longer token (dates, CVE numbers, versions).
	for _, m := range reRange.FindAllStringSubmatchIndex(rest, maxItems) {
		if (m[0] > 0 && strings.ContainsRune("-./:", rune(rest[m[0]-1]))) || (m[1] < len(rest) && strings.ContainsRune("-./:", rune(rest[m[1]]))) {
			continue
		}
		f, err1 := strconv.Atoi(rest[m[2]:m[3]])
		t, err2 := strconv.Atoi(rest[m[4]:m[5]])
		if err1 != nil || err2 != nil || f < 1 || t > 65535 || t < f {
			continue
		}
		if mark(m[0], m[1]) {
			addPort(rest[m[2]:m[3]], rest[m[4]:m[5]])
		}
	}
	for _, m := range reSvc.FindAllStringSubmatch(rest, maxItems) {
		p := servicePorts[m[1]]
		addPort(strconv.Itoa(int(p)), "")
	}

	in.Block = reBlock.MatchString(rest)
	in.Isolate = reIsolate.MatchString(rest)
	in.Allow = reAllow.MatchString(rest)
	in.Revoke = reRevoke.MatchString(rest)
	in.Delete = reDelete.MatchString(rest)
	in.Add = reAdd.MatchString(rest)
	in.Route = reRoute.MatchString(rest)
	in.BlockList = reList.MatchString(rest)
	in.WAF = reWAF.MatchString(rest)
	in.PrefixListWord = rePLWord.MatchString(rest)
	in.Egress = reEgress.MatchString(rest)
	first := len(rest) + 1
	for _, v := range []struct {
		name string
		re   *regexp.Regexp
	}{{"block", reBlock}, {"isolate", reIsolate}, {"allow", reAllow}, {"revoke", reRevoke}, {"route", reRoute}, {"add", reAdd}} {
		if loc := v.re.FindStringIndex(rest); loc != nil && loc[0] < first {
			first, in.Verb = loc[0], v.name
		}
	}
	in.Both = reBoth.MatchString(rest)

	if loc := reForensic.FindStringIndex(s); loc != nil {
		for _, c := range in.CIDRs {
			if c.pos > loc[0] && c.pos-loc[1] <= 48 {
				in.Forensics = c.prefix.String()
				break
			}
		}
	}

	for _, re := range []*regexp.Regexp{reSGName2, reSGName1} {
		for _, m := range re.FindAllStringSubmatch(rest, maxItems) {
			name := strings.Trim(m[1], ".-")
			if name == "" || notNames[name] || reIsolate.MatchString(name) || contains(in.SGNames, name) {
				continue
			}
			in.SGNames = appendBounded(in.SGNames, name)
		}
	}
	for _, m := range reEnvWord.FindAllStringSubmatch(rest, maxItems) {
		env := envOf(m[1])
		found := false
		for _, e := range in.Envs {
			found = found || e == env
		}
		if !found {
			in.Envs = append(in.Envs, env)
		}
	}
	for _, w := range reWord.FindAllString(s, 1024) {
		in.Words[strings.TrimRight(w, ".-")] = true
	}
	return in
}

// parsePrefix parses an address with optional prefix length; an address alone
// becomes a /32 or /128. Host bits set is an error suggesting the network.
func parsePrefix(addr, bits string) (netip.Prefix, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s is not an IP address", addr)
	}
	if bits == "" {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	n, err := strconv.Atoi(bits)
	if err != nil || n > a.BitLen() {
		return netip.Prefix{}, fmt.Errorf("%s/%s has an invalid prefix length", addr, bits)
	}
	p := netip.PrefixFrom(a, n)
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%s has host bits set; did you mean %s?", p, m)
	}
	return p, nil
}

// prepBefore returns the word just before position pos (e.g. "from", "to", "via").
func prepBefore(s string, pos int) string {
	start := pos - 24
	if start < 0 {
		start = 0
	}
	fields := strings.Fields(s[start:pos])
	if len(fields) == 0 {
		return ""
	}
	return fields[len(fields)-1]
}

func sortCIDRs(cs []cidrMatch) {
	// Insertion sort by text position: lists are short (≤ maxItems).
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && cs[j].pos < cs[j-1].pos; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

func sub(s string, m []int, i int) string {
	if len(m) <= i+1 || m[i] < 0 {
		return ""
	}
	return s[m[i]:m[i+1]]
}

func envOf(w string) v1.Environment {
	switch w {
	case "production", "prod":
		return v1.EnvironmentProduction
	case "staging", "stage":
		return v1.EnvironmentStaging
	case "development", "dev":
		return v1.EnvironmentDevelopment
	}
	return v1.EnvironmentTest
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func appendBounded(list []string, s string) []string {
	if len(list) >= maxItems {
		return list
	}
	return append(list, s)
}

// prefixes returns the CIDRs' prefixes.
func (in intentText) prefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(in.CIDRs))
	for _, c := range in.CIDRs {
		out = append(out, c.prefix)
	}
	return out
}
