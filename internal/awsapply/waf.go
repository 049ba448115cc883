package awsapply

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// wafIPSet adds or removes addresses of a WAFv2 IP set: GetIPSet for the
// addresses and lock token, then UpdateIPSet with the whole new list. A stale
// lock token (WAFOptimisticLockException) is retryable: the next attempt observes
// and reads a fresh token.
type wafIPSet struct {
	a   *Applier
	p   v1.WAFIPSetParams
	add bool
}

func (h *wafIPSet) get(ctx context.Context) (*wafv2.GetIPSetOutput, error) {
	var out *wafv2.GetIPSetOutput
	err := h.a.read(ctx, "GetIPSet", func(ctx context.Context) error {
		var err error
		out, err = h.a.waf.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: aws.String(h.p.Name), Id: aws.String(h.p.ID), Scope: waftypes.Scope(h.p.Scope)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get WAF IP set %s: %w", h.p.Name, err)
	}
	if out.IPSet == nil {
		return nil, &TerminalError{Op: "get WAF IP set " + h.p.Name, Err: fmt.Errorf("no IP set in the answer")}
	}
	return out, nil
}

func (h *wafIPSet) observe(ctx context.Context) (bool, Result, error) {
	out, err := h.get(ctx)
	if err != nil {
		return false, Result{}, err
	}
	have := map[string]bool{}
	for _, a := range out.IPSet.Addresses {
		have[normCIDR(a)] = true
	}
	for _, a := range h.p.Addresses {
		if have[normCIDR(a)] != h.add {
			return false, Result{}, nil
		}
	}
	return true, Result{}, nil
}

func (h *wafIPSet) apply(ctx context.Context, _ string) (Result, error) {
	out, err := h.get(ctx)
	if err != nil {
		return Result{}, err
	}
	set := map[string]bool{}
	for _, a := range out.IPSet.Addresses {
		set[normCIDR(a)] = true
	}
	for _, a := range h.p.Addresses {
		if h.add {
			set[normCIDR(a)] = true
		} else {
			delete(set, normCIDR(a))
		}
	}
	addrs := make([]string, 0, len(set))
	for a := range set {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	err = call(ctx, "UpdateIPSet", false, func(ctx context.Context) error {
		_, err := h.a.waf.UpdateIPSet(ctx, &wafv2.UpdateIPSetInput{
			Name: aws.String(h.p.Name), Id: aws.String(h.p.ID), Scope: waftypes.Scope(h.p.Scope),
			Addresses: addrs, LockToken: out.LockToken, Description: out.IPSet.Description,
		})
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("update WAF IP set %s: %w", h.p.Name, err)
	}
	return Result{Message: fmt.Sprintf("WAF IP set %s now has %d addresses", h.p.Name, len(addrs))}, nil
}
