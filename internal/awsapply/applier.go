package awsapply

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/metrics"
)

// TagAudit marks AWS resources that belong to netchange's own audit
// infrastructure; the executor never changes them.
const TagAudit = "netchange.io/audit"

// TagQuarantined is put on a quarantined instance, with the request uid.
const TagQuarantined = "netchange.io/quarantined"

// QuarantineGroupPrefix starts the name of the quarantine security group of a VPC
// (netchange-quarantine-<vpc-id>).
const QuarantineGroupPrefix = "netchange-quarantine-"

// Result is what applying an action produced.
type Result struct {
	// ResourceID is the ID of anything AWS created or chose (the quarantine
	// security group); the executor keeps it in the journal for rollback.
	ResourceID string
	// Message describes what was done, for the journal.
	Message string
}

// Options tune an Applier.
type Options struct {
	// MaxAttempts is the number of tries of one AWS call when it fails in a
	// retryable way (default 5).
	MaxAttempts int
	// BaseDelay is the first backoff delay; it doubles per attempt (default 200ms).
	BaseDelay time.Duration
	// MaxDelay caps one backoff delay (default 5s).
	MaxDelay time.Duration
	// Sleep waits d or until ctx ends (default: a timer). Tests inject a no-op.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Applier applies catalog actions to one AWS account and region.
type Applier struct {
	ec2  EC2API
	waf  WAFAPI
	opts Options
}

// New returns an Applier over the given clients. waf may be nil when no WAF action is used.
func New(ec2 EC2API, waf WAFAPI, opts Options) *Applier {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = 200 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 5 * time.Second
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepCtx
	}
	return &Applier{ec2: ec2, waf: waf, opts: opts}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Backoff returns the delay before retry number attempt (1-based): base·2^(attempt-1), capped.
func Backoff(base, maxDelay time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	if d > maxDelay {
		d = maxDelay
	}
	return d
}

// call runs one AWS call and counts it in metrics.AWSCalls / metrics.AWSErrors.
// A DryRunOperation answer is returned as nil when dryRun is set.
func call(ctx context.Context, op string, dryRun bool, fn func(ctx context.Context) error) error {
	err := fn(ctx)
	switch c := Classify(err); {
	case err == nil:
		metrics.AWSCalls.WithLabelValues(op, "ok").Inc()
		return nil
	case c == ClassDryRunOK && dryRun:
		metrics.AWSCalls.WithLabelValues(op, "ok").Inc()
		return nil
	default:
		metrics.AWSCalls.WithLabelValues(op, "error").Inc()
		metrics.AWSErrors.WithLabelValues(op, string(c)).Inc()
		return fmt.Errorf("%s: %w", op, err)
	}
}

// dryRun sends fn with DryRun=true and expects DryRunOperation. A nil answer means
// the endpoint ignored DryRun and applied the change: that is reported as an error
// so callers never assume a dry run is harmless when it was not.
func dryRun(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	err := fn(ctx)
	if err == nil {
		metrics.AWSCalls.WithLabelValues(op+"(DryRun)", "ok").Inc()
		return &TerminalError{Op: op + " dry run", Err: errors.New("the endpoint ignored DryRun and applied the call; refusing to continue blind")}
	}
	if Classify(err) == ClassDryRunOK {
		metrics.AWSCalls.WithLabelValues(op+"(DryRun)", "ok").Inc()
		return nil
	}
	metrics.AWSCalls.WithLabelValues(op+"(DryRun)", "error").Inc()
	metrics.AWSErrors.WithLabelValues(op+"(DryRun)", string(Classify(err))).Inc()
	return fmt.Errorf("%s dry run: %w", op, err)
}

// read retries a read-only call within the attempt budget.
func (a *Applier) read(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	var err error
	for attempt := 1; attempt <= a.opts.MaxAttempts; attempt++ {
		if attempt > 1 {
			if serr := a.opts.Sleep(ctx, Backoff(a.opts.BaseDelay, a.opts.MaxDelay, attempt-1)); serr != nil {
				return serr
			}
		}
		err = call(ctx, op, false, fn)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if Classify(err) != ClassRetryable {
			return &TerminalError{Op: op, Err: err}
		}
	}
	return &RetryableError{Op: op, Attempts: a.opts.MaxAttempts, Err: err}
}

// Observe reports whether act is already in effect in AWS. It answers the
// executor's question after a crash: "did my last call take effect?". The Result
// carries anything a later rollback needs (the quarantine group's ID).
func (a *Applier) Observe(ctx context.Context, act v1.Action) (bool, Result, error) {
	h, err := a.handler(act)
	if err != nil {
		return false, Result{}, err
	}
	return h.observe(ctx)
}

// Apply makes act take effect exactly once: a dry run where AWS supports it, then
// the call. Retryable failures are retried with backoff within the attempt budget,
// and every retry first observes AWS so a call whose response was lost is not
// repeated. "Already exists"/"not found" answers count as success only when
// Observe confirms them. It returns a *TerminalError or *RetryableError on failure.
// reqUID tags what Apply creates.
func (a *Applier) Apply(ctx context.Context, act v1.Action, reqUID string) (Result, error) {
	h, err := a.handler(act)
	if err != nil {
		return Result{}, err
	}
	op := string(act.Type)
	var lastErr error
	needObserve := false
	for attempt := 1; attempt <= a.opts.MaxAttempts; attempt++ {
		if attempt > 1 {
			if serr := a.opts.Sleep(ctx, Backoff(a.opts.BaseDelay, a.opts.MaxDelay, attempt-1)); serr != nil {
				return Result{}, serr
			}
		}
		if needObserve {
			ok, res, oerr := h.observe(ctx)
			if oerr != nil {
				if ctx.Err() != nil {
					return Result{}, ctx.Err()
				}
				lastErr = oerr
				if IsRetryable(oerr) || Classify(oerr) == ClassRetryable {
					continue
				}
				return Result{}, &TerminalError{Op: op, Err: oerr}
			}
			if ok {
				res.Message = "in effect after an earlier attempt whose answer was lost"
				return res, nil
			}
			needObserve = false
		}
		res, aerr := h.apply(ctx, reqUID)
		if aerr == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		lastErr = aerr
		var term *TerminalError
		if errors.As(aerr, &term) {
			return Result{}, &TerminalError{Op: op, Err: aerr}
		}
		switch Classify(aerr) {
		case ClassAlreadyDone:
			ok, res, oerr := h.observe(ctx)
			if oerr == nil && ok {
				res.Message = fmt.Sprintf("already in effect (%s)", ErrorCode(aerr))
				return res, nil
			}
			if oerr != nil && (IsRetryable(oerr) || Classify(oerr) == ClassRetryable) {
				needObserve = true
				continue
			}
			return Result{}, &TerminalError{Op: op, Err: aerr}
		case ClassRetryable:
			needObserve = true
			continue
		default:
			return Result{}, &TerminalError{Op: op, Err: aerr}
		}
	}
	return Result{}, &RetryableError{Op: op, Attempts: a.opts.MaxAttempts, Err: lastErr}
}

// Verify describes AWS and returns nil when act is in effect, or an error saying
// what is missing.
func (a *Applier) Verify(ctx context.Context, act v1.Action) error {
	h, err := a.handler(act)
	if err != nil {
		return err
	}
	ok, _, err := h.observe(ctx)
	if err != nil {
		return fmt.Errorf("verify %s: %w", act.Type, err)
	}
	if !ok {
		return &TerminalError{Op: "verify " + string(act.Type), Err: fmt.Errorf("AWS does not show the change after it was applied: %s", Describe(act))}
	}
	return nil
}

// Rollback undoes act, whose Apply returned res: it applies the inverse action
// (observing first, so a repeated rollback is a no-op).
func (a *Applier) Rollback(ctx context.Context, act v1.Action, res Result, reqUID string) error {
	inv, err := Inverse(act)
	if err != nil {
		return &TerminalError{Op: "rollback " + string(act.Type), Err: err}
	}
	h, err := a.handler(inv)
	if err != nil {
		return err
	}
	ok, _, err := h.observe(ctx)
	if err == nil && ok {
		return nil
	}
	if _, err := a.Apply(ctx, inv, reqUID); err != nil {
		return fmt.Errorf("rollback %s: %w", act.Type, err)
	}
	return nil
}

// handler is one action bound to an Applier.
type handler interface {
	// observe reports whether the action is in effect.
	observe(ctx context.Context) (bool, Result, error)
	// apply makes one attempt (dry run, then the call(s)).
	apply(ctx context.Context, reqUID string) (Result, error)
}

func (a *Applier) handler(act v1.Action) (handler, error) {
	bad := func(field string) error {
		return &TerminalError{Op: string(act.Type), Err: fmt.Errorf("action has no %s parameters", field)}
	}
	switch act.Type {
	case v1.ActionSecurityGroupRuleAuthorize, v1.ActionSecurityGroupRuleRevoke:
		if act.SecurityGroupRule == nil {
			return nil, bad("securityGroupRule")
		}
		return &sgRule{a: a, p: *act.SecurityGroupRule, add: act.Type == v1.ActionSecurityGroupRuleAuthorize}, nil
	case v1.ActionNetworkACLEntryAdd, v1.ActionNetworkACLEntryRemove:
		if act.NetworkACLEntry == nil {
			return nil, bad("networkACLEntry")
		}
		return &naclEntry{a: a, p: *act.NetworkACLEntry, add: act.Type == v1.ActionNetworkACLEntryAdd}, nil
	case v1.ActionRouteCreate, v1.ActionRouteReplace, v1.ActionRouteDelete:
		if act.Route == nil {
			return nil, bad("route")
		}
		return &route{a: a, p: *act.Route, kind: act.Type}, nil
	case v1.ActionPrefixListEntryAdd, v1.ActionPrefixListEntryRemove:
		if act.PrefixListEntry == nil {
			return nil, bad("prefixListEntry")
		}
		return &prefixListEntry{a: a, p: *act.PrefixListEntry, add: act.Type == v1.ActionPrefixListEntryAdd}, nil
	case v1.ActionInstanceQuarantine, v1.ActionInstanceRelease:
		if act.Quarantine == nil {
			return nil, bad("quarantine")
		}
		return &quarantine{a: a, p: *act.Quarantine, release: act.Type == v1.ActionInstanceRelease}, nil
	case v1.ActionTagsAdd, v1.ActionTagsRemove:
		if act.Tags == nil {
			return nil, bad("tags")
		}
		return &tags{a: a, p: *act.Tags, add: act.Type == v1.ActionTagsAdd}, nil
	case v1.ActionWAFIPSetAdd, v1.ActionWAFIPSetRemove:
		if act.WAFIPSet == nil {
			return nil, bad("wafIPSet")
		}
		if a.waf == nil {
			return nil, &TerminalError{Op: string(act.Type), Err: errors.New("no WAFv2 client configured")}
		}
		return &wafIPSet{a: a, p: *act.WAFIPSet, add: act.Type == v1.ActionWAFIPSetAdd}, nil
	default:
		return nil, &TerminalError{Op: string(act.Type), Err: fmt.Errorf("action type %q is not in the catalog", act.Type)}
	}
}
