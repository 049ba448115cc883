package plan

import (
	"net/netip"
	"sort"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// Limits of v1.BlastRadius lists (the CRD's MaxItems).
const (
	maxBlastResources    = 64
	maxBlastEnvironments = 8
	maxBlastProtected    = 64
	// maxAddresses is the cap on BlastRadius.Addresses: 2^32.
	maxAddresses = int64(1) << 32
)

// touched returns the sorted, unique AWS resources the plan's actions touch.
func touched(p *v1.Plan) []string {
	set := map[string]bool{}
	for _, a := range p.Actions {
		for _, id := range Resources(a) {
			set[id] = true
		}
	}
	return sortedKeys(set)
}

// BlastRadius summarises what p can affect:
//   - Resources: every AWS resource its actions touch (see Resources), sorted and
//     unique, cut to the CRD's 64 entries (Validate refuses plans touching more).
//   - Environments: the distinct non-empty Environment tags of p.Snapshot, sorted
//     (at most 8).
//   - Protected: the IDs of snapshot entries tagged netchange.io/protected,
//     sorted (at most 64). All snapshot entries count, not only those whose ID
//     matches a touched resource, so a differently-spelled ID cannot hide one.
//   - WidestCIDR and Addresses: the CIDR among every block the actions open or
//     match (rule, entry, destination, forensics and WAF blocks) with the most
//     addresses, and that count capped at 2^32. An IPv6 block counts 2^32 when
//     its prefix is /96 or shorter (it holds at least as many addresses as all
//     of IPv4) and 2^(128-bits) otherwise. Ties go to the shorter prefix relative
//     to its family's width (IPv4 /0 beats an IPv6 /64), then to the lexically
//     smaller CIDR, so the result is deterministic. Unparseable blocks are ignored
//     (Validate reports them).
func BlastRadius(p *v1.Plan) v1.BlastRadius {
	var br v1.BlastRadius
	if p == nil {
		return br
	}
	br.Resources = capList(touched(p), maxBlastResources)
	envs, prot := map[string]bool{}, map[string]bool{}
	for _, s := range p.Snapshot {
		if s.Environment != "" {
			envs[s.Environment] = true
		}
		if s.Protected {
			prot[s.ID] = true
		}
	}
	br.Environments = capList(sortedKeys(envs), maxBlastEnvironments)
	br.Protected = capList(sortedKeys(prot), maxBlastProtected)

	var best netip.Prefix
	var bestCount int64
	found := false
	for _, a := range p.Actions {
		for _, c := range actionCIDRs(a) {
			pfx, err := parseLoose(c)
			if err != nil {
				continue
			}
			n := addressCount(pfx)
			if !found || wider(pfx, n, best, bestCount) {
				best, bestCount, found = pfx, n, true
			}
		}
	}
	if found {
		br.WidestCIDR = best.String()
		br.Addresses = bestCount
	}
	return br
}

// wider reports whether a (with count an) is wider than b (with count bn).
func wider(a netip.Prefix, an int64, b netip.Prefix, bn int64) bool {
	if an != bn {
		return an > bn
	}
	// Compare bits/familyWidth: a.Bits()/a.BitLen < b.Bits()/b.BitLen.
	l, r := a.Bits()*b.Addr().BitLen(), b.Bits()*a.Addr().BitLen()
	if l != r {
		return l < r
	}
	return a.String() < b.String()
}

// addressCount is the number of addresses in p, capped at 2^32.
func addressCount(p netip.Prefix) int64 {
	host := p.Addr().BitLen() - p.Bits()
	if host >= 32 {
		return maxAddresses
	}
	return int64(1) << host
}

// actionCIDRs returns every CIDR block a names.
func actionCIDRs(a v1.Action) []string {
	var out []string
	switch {
	case a.SecurityGroupRule != nil:
		out = append(out, a.SecurityGroupRule.CIDR)
	case a.NetworkACLEntry != nil:
		out = append(out, a.NetworkACLEntry.CIDR)
	case a.Route != nil:
		out = append(out, a.Route.DestinationCIDR)
	case a.PrefixListEntry != nil:
		out = append(out, a.PrefixListEntry.CIDR)
	case a.Quarantine != nil:
		if a.Quarantine.ForensicsCIDR != "" {
			out = append(out, a.Quarantine.ForensicsCIDR)
		}
	case a.WAFIPSet != nil:
		out = append(out, a.WAFIPSet.Addresses...)
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func capList(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
