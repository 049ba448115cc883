package plan

import (
	"fmt"
	"net/netip"
	"sort"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// Exposure thresholds: an ingress-opening action is internet exposure when its
// block is /0, an IPv4 block shorter than /8 or an IPv6 block shorter than /32,
// or when the plan's ingress-opening actions together open more public IPv4
// space than one /8 (maxPublicIPv4) or more public IPv6 space than one /32.
const (
	minIPv4Bits = 8
	minIPv6Bits = 32
	// maxPublicIPv4 is the number of addresses in an IPv4 /8.
	maxPublicIPv4 = uint64(1) << 24
	// maxPublicIPv6Units is a /32 counted in /64 units.
	maxPublicIPv6Units = uint64(1) << 32
)

// nonPublicIPv4 are the IPv4 blocks that are not internet space: RFC 1918,
// loopback, link-local and carrier-grade NAT.
var nonPublicIPv4 = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
}

// nonPublicIPv6 are the IPv6 blocks that are not internet space: unique local,
// link-local and loopback.
var nonPublicIPv6 = []netip.Prefix{
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("::1/128"),
}

// opensIngress reports whether a lets traffic in: a security group ingress
// authorization or an allow ingress NACL entry. It returns the block it opens.
func opensIngress(a *v1.Action) (string, bool) {
	switch {
	case a.Type == v1.ActionSecurityGroupRuleAuthorize && a.SecurityGroupRule != nil &&
		a.SecurityGroupRule.Direction == v1.DirectionIngress:
		return a.SecurityGroupRule.CIDR, true
	case a.Type == v1.ActionNetworkACLEntryAdd && a.NetworkACLEntry != nil &&
		a.NetworkACLEntry.Direction == v1.DirectionIngress && a.NetworkACLEntry.RuleAction == v1.RuleActionAllow:
		return a.NetworkACLEntry.CIDR, true
	}
	return "", false
}

// InternetExposure returns one finding per action that opens ingress from the
// internet: a SecurityGroupRuleAuthorize ingress or NetworkACLEntryAdd allow
// ingress whose CIDR is /0, an IPv4 block shorter than /8 or an IPv6 block
// shorter than /32; and, when the public address space (IPv4 without RFC 1918,
// loopback, link-local and CGNAT; IPv6 without ULA, link-local and loopback)
// opened by all such actions together exceeds a /8 (IPv4) or a /32 (IPv6),
// every action that contributes to it, so 0.0.0.0/1 + 128.0.0.0/1 is caught.
// It fails closed: a CIDR it cannot parse is a finding. Egress, deny entries and
// all other action types are never findings. Findings are in action order.
func InternetExposure(p *v1.Plan) []string {
	if p == nil {
		return nil
	}
	findings := make(map[int]string)
	type opened struct {
		index int
		pfx   netip.Prefix
	}
	var v4, v6 []opened
	for i := range p.Actions {
		a := &p.Actions[i]
		cidr, ok := opensIngress(a)
		if !ok {
			continue
		}
		head := fmt.Sprintf("actions[%d] (%s).%s.cidr", i, a.Type, ParamsField(a.Type))
		pfx, err := parseLoose(cidr)
		if err != nil {
			findings[i] = fmt.Sprintf("%s: opens ingress from %s, which is not a CIDR block; treated as the internet", head, quote(cidr))
			continue
		}
		switch {
		case pfx.Bits() == 0:
			findings[i] = fmt.Sprintf("%s: opens ingress from %s, the whole internet", head, pfx)
		case pfx.Addr().Is4() && pfx.Bits() < minIPv4Bits:
			findings[i] = fmt.Sprintf("%s: opens ingress from %s, wider than a /%d", head, pfx, minIPv4Bits)
		case pfx.Addr().Is6() && pfx.Bits() < minIPv6Bits:
			findings[i] = fmt.Sprintf("%s: opens ingress from %s, wider than a /%d", head, pfx, minIPv6Bits)
		}
		if pfx.Addr().Is4() {
			v4 = append(v4, opened{i, pfx})
		} else {
			v6 = append(v6, opened{i, pfx})
		}
	}
	aggregate := func(list []opened, private []netip.Prefix, limit uint64, unit string) {
		var spans []span
		for _, o := range list {
			spans = append(spans, spanOf(o.pfx))
		}
		total := publicSize(spans, private)
		if total <= limit {
			return
		}
		for _, o := range list {
			if _, done := findings[o.index]; done {
				continue
			}
			if publicSize([]span{spanOf(o.pfx)}, private) == 0 {
				continue
			}
			a := &p.Actions[o.index]
			findings[o.index] = fmt.Sprintf("actions[%d] (%s).%s.cidr: opens ingress from %s; together the plan's ingress rules open %s, more than %s",
				o.index, a.Type, ParamsField(a.Type), o.pfx, describeSize(total, unit), describeSize(limit, unit))
		}
	}
	aggregate(v4, nonPublicIPv4, maxPublicIPv4, "IPv4 addresses")
	aggregate(v6, nonPublicIPv6, maxPublicIPv6Units, "IPv6 /64 networks")

	idx := make([]int, 0, len(findings))
	for i := range findings {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := make([]string, 0, len(idx))
	for _, i := range idx {
		out = append(out, findings[i])
	}
	return out
}

func describeSize(n uint64, unit string) string {
	return fmt.Sprintf("%d public %s", n, unit)
}

// parseLoose parses a CIDR as the executor would use it: host bits are masked
// off and IPv4-mapped IPv6 blocks are read as the IPv4 block they map.
func parseLoose(s string) (netip.Prefix, error) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if pfx.Addr().Is4In6() {
		bits := pfx.Bits() - 96
		if bits < 0 {
			bits = 0
		}
		pfx = netip.PrefixFrom(pfx.Addr().Unmap(), bits)
	}
	return pfx.Masked(), nil
}

// span is an inclusive range of 64-bit keys: IPv4 addresses, or IPv6 /64
// networks (the upper 64 bits of the address).
type span struct{ lo, hi uint64 }

func spanOf(p netip.Prefix) span {
	p = p.Masked()
	if p.Addr().Is4() {
		b := p.Addr().As4()
		lo := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		return span{lo, lo + (uint64(1) << (32 - p.Bits())) - 1}
	}
	b := p.Addr().As16()
	var lo uint64
	for _, x := range b[:8] {
		lo = lo<<8 | uint64(x)
	}
	bits := p.Bits()
	if bits >= 64 {
		return span{lo, lo}
	}
	return span{lo, lo + (^uint64(0) >> bits)}
}

// publicSize is the number of keys covered by spans that are outside private.
// ::/0 would overflow; it saturates at the maximum uint64.
func publicSize(spans []span, private []netip.Prefix) uint64 {
	merged := mergeSpans(spans)
	var total uint64
	for _, s := range merged {
		total = satAdd(total, s.hi-s.lo)
		total = satAdd(total, 1)
	}
	for _, p := range private {
		ps := spanOf(p)
		for _, s := range merged {
			lo, hi := max(s.lo, ps.lo), min(s.hi, ps.hi)
			if lo <= hi {
				total -= hi - lo + 1
			}
		}
	}
	return total
}

func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

// mergeSpans returns spans sorted and with overlaps merged.
func mergeSpans(spans []span) []span {
	s := append([]span(nil), spans...)
	sort.Slice(s, func(i, j int) bool { return s[i].lo < s[j].lo })
	var out []span
	for _, x := range s {
		if n := len(out); n > 0 && (x.lo <= out[n-1].hi || x.lo == out[n-1].hi+1) {
			if x.hi > out[n-1].hi {
				out[n-1].hi = x.hi
			}
			continue
		}
		out = append(out, x)
	}
	return out
}
