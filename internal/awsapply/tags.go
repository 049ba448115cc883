package awsapply

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// tags adds (or overwrites) or removes tags on an EC2 resource.
type tags struct {
	a   *Applier
	p   v1.TagsParams
	add bool
}

// resourceTags returns the tags of one EC2 resource.
func resourceTags(ctx context.Context, a *Applier, id string) (map[string]string, error) {
	got := map[string]string{}
	var next *string
	for {
		var out *ec2.DescribeTagsOutput
		err := a.read(ctx, "DescribeTags", func(ctx context.Context) error {
			var err error
			out, err = a.ec2.DescribeTags(ctx, &ec2.DescribeTagsInput{
				Filters:   []ec2types.Filter{{Name: aws.String("resource-id"), Values: []string{id}}},
				NextToken: next,
			})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("describe tags of %s: %w", id, err)
		}
		for _, t := range out.Tags {
			got[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		if aws.ToString(out.NextToken) == "" {
			return got, nil
		}
		next = out.NextToken
	}
}

// observe: an add is in effect when every tag has its value; a remove when no key is left.
func (h *tags) observe(ctx context.Context) (bool, Result, error) {
	got, err := resourceTags(ctx, h.a, h.p.ResourceID)
	if err != nil {
		return false, Result{}, err
	}
	for _, t := range h.p.Tags {
		v, ok := got[t.Key]
		if h.add && (!ok || v != t.Value) {
			return false, Result{}, nil
		}
		if !h.add && ok {
			return false, Result{}, nil
		}
	}
	return true, Result{}, nil
}

func (h *tags) apply(ctx context.Context, _ string) (Result, error) {
	ts := make([]ec2types.Tag, 0, len(h.p.Tags))
	for _, t := range h.p.Tags {
		tag := ec2types.Tag{Key: aws.String(t.Key)}
		if h.add {
			tag.Value = aws.String(t.Value)
		}
		ts = append(ts, tag)
	}
	if err := changeTags(ctx, h.a, h.p.ResourceID, ts, h.add); err != nil {
		return Result{}, err
	}
	return Result{Message: Describe(v1.Action{Type: map[bool]v1.ActionType{true: v1.ActionTagsAdd, false: v1.ActionTagsRemove}[h.add], Tags: &h.p})}, nil
}

// changeTags dry-runs and then creates or deletes tags on one resource. Deleted
// tags carry no value, so they go whatever their current value.
func changeTags(ctx context.Context, a *Applier, id string, ts []ec2types.Tag, add bool) error {
	op := "DeleteTags"
	fn := func(ctx context.Context, dry bool) error {
		_, err := a.ec2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: ts, DryRun: aws.Bool(dry)})
		return err
	}
	if add {
		op = "CreateTags"
		fn = func(ctx context.Context, dry bool) error {
			_, err := a.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: ts, DryRun: aws.Bool(dry)})
			return err
		}
	}
	if err := dryRun(ctx, op, func(ctx context.Context) error { return fn(ctx, true) }); err != nil {
		return fmt.Errorf("on %s: %w", id, err)
	}
	if err := call(ctx, op, false, func(ctx context.Context) error { return fn(ctx, false) }); err != nil {
		return fmt.Errorf("on %s: %w", id, err)
	}
	return nil
}

// TaggedWith returns the IDs among ids that carry the tag key (any value). It is
// how the executor finds resources of netchange's own audit infrastructure.
func (a *Applier) TaggedWith(ctx context.Context, ids []string, key string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var hits []string
	seen := map[string]bool{}
	var next *string
	for {
		var out *ec2.DescribeTagsOutput
		err := a.read(ctx, "DescribeTags", func(ctx context.Context) error {
			var err error
			out, err = a.ec2.DescribeTags(ctx, &ec2.DescribeTagsInput{
				Filters: []ec2types.Filter{
					{Name: aws.String("resource-id"), Values: ids},
					{Name: aws.String("key"), Values: []string{key}},
				},
				NextToken: next,
			})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("describe %s tags: %w", key, err)
		}
		for _, t := range out.Tags {
			id := aws.ToString(t.ResourceId)
			if aws.ToString(t.Key) == key && !seen[id] {
				seen[id] = true
				hits = append(hits, id)
			}
		}
		if aws.ToString(out.NextToken) == "" {
			return hits, nil
		}
		next = out.NextToken
	}
}
