package awsapply

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// prefixListEntry adds or removes a managed prefix list entry at the list's
// current version. No dry run: moto ignores DryRun for prefix lists.
type prefixListEntry struct {
	a   *Applier
	p   v1.PrefixListEntryParams
	add bool
}

func (h *prefixListEntry) present(ctx context.Context) (bool, error) {
	want := normCIDR(h.p.CIDR)
	var next *string
	for {
		var out *ec2.GetManagedPrefixListEntriesOutput
		err := h.a.read(ctx, "GetManagedPrefixListEntries", func(ctx context.Context) error {
			var err error
			out, err = h.a.ec2.GetManagedPrefixListEntries(ctx, &ec2.GetManagedPrefixListEntriesInput{PrefixListId: aws.String(h.p.PrefixListID), NextToken: next})
			return err
		})
		if err != nil {
			return false, fmt.Errorf("read entries of prefix list %s: %w", h.p.PrefixListID, err)
		}
		for _, e := range out.Entries {
			if normCIDR(aws.ToString(e.Cidr)) == want {
				return true, nil
			}
		}
		if aws.ToString(out.NextToken) == "" {
			return false, nil
		}
		next = out.NextToken
	}
}

func (h *prefixListEntry) observe(ctx context.Context) (bool, Result, error) {
	ok, err := h.present(ctx)
	if err != nil {
		return false, Result{}, err
	}
	return ok == h.add, Result{}, nil
}

func (h *prefixListEntry) apply(ctx context.Context, _ string) (Result, error) {
	var out *ec2.DescribeManagedPrefixListsOutput
	err := h.a.read(ctx, "DescribeManagedPrefixLists", func(ctx context.Context) error {
		var err error
		out, err = h.a.ec2.DescribeManagedPrefixLists(ctx, &ec2.DescribeManagedPrefixListsInput{PrefixListIds: []string{h.p.PrefixListID}})
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("describe prefix list %s: %w", h.p.PrefixListID, err)
	}
	if len(out.PrefixLists) != 1 {
		return Result{}, &TerminalError{Op: "describe prefix list " + h.p.PrefixListID, Err: fmt.Errorf("found %d prefix lists", len(out.PrefixLists))}
	}
	in := &ec2.ModifyManagedPrefixListInput{PrefixListId: aws.String(h.p.PrefixListID), CurrentVersion: out.PrefixLists[0].Version}
	if h.add {
		e := ec2types.AddPrefixListEntry{Cidr: aws.String(normCIDR(h.p.CIDR))}
		if h.p.Description != "" {
			e.Description = aws.String(h.p.Description)
		}
		in.AddEntries = []ec2types.AddPrefixListEntry{e}
	} else {
		in.RemoveEntries = []ec2types.RemovePrefixListEntry{{Cidr: aws.String(normCIDR(h.p.CIDR))}}
	}
	err = call(ctx, "ModifyManagedPrefixList", false, func(ctx context.Context) error {
		_, err := h.a.ec2.ModifyManagedPrefixList(ctx, in)
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("modify prefix list %s at version %d: %w", h.p.PrefixListID, aws.ToInt64(in.CurrentVersion), err)
	}
	verb := "removed"
	if h.add {
		verb = "added"
	}
	return Result{Message: fmt.Sprintf("%s %s in prefix list %s (version %d)", verb, h.p.CIDR, h.p.PrefixListID, aws.ToInt64(in.CurrentVersion))}, nil
}
