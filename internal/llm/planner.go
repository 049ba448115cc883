package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tmc/langchaingo/llms"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/awscontext"
	"github.com/netchange-io/netchange/internal/metrics"
	"github.com/netchange-io/netchange/internal/plan"
	"github.com/netchange-io/netchange/internal/planner"
)

// PlannerName is the Provenance.Planner value of LLM-made plans.
const PlannerName = "llm"

// observer is what the planner reads AWS through; *awscontext.Observer satisfies it.
type observer interface {
	// Estate returns the inventory the prompt is grounded in; errors may pass.
	Estate(ctx context.Context) (*awscontext.Estate, error)
	// Snapshot describes what the actions touch; an error wrapping
	// awscontext.ErrNotFound names a resource that does not exist.
	Snapshot(ctx context.Context, actions []v1.Action) ([]v1.ResourceSnapshot, error)
}

// Planner asks an LLM for a plan and lets only a strictly decoded, validated
// plan of catalog actions out. It implements planner.Planner and is safe for
// concurrent use.
type Planner struct {
	cfg    Config
	model  llms.Model
	obs    observer
	region string
	system string
	opts   []llms.CallOption
}

var _ planner.Planner = (*Planner)(nil)

// New returns an LLM planner for cfg that grounds plans in what obs sees in region.
func New(cfg Config, obs *awscontext.Observer, region string) (*Planner, error) {
	if obs == nil {
		return nil, fmt.Errorf("llm planner: an AWS observer is required")
	}
	return newPlanner(context.Background(), cfg, obs, region)
}

func newPlanner(ctx context.Context, cfg Config, obs observer, region string) (*Planner, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if region == "" {
		return nil, fmt.Errorf("llm planner: no AWS region: set --aws-region")
	}
	model, err := newModel(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("llm planner: create %s client: %w", cfg.Provider, err)
	}
	schema, strict := json.RawMessage(plan.Schema()), json.RawMessage(plan.SchemaStrict())
	if !json.Valid(schema) || !json.Valid(strict) {
		return nil, fmt.Errorf("llm planner: the plan schema is not valid JSON")
	}
	toolCall := cfg.Provider == ProviderOpenAI || cfg.Provider == ProviderAnthropic ||
		(cfg.Provider == ProviderBedrock && bedrockAnthropic(cfg.Model))
	return &Planner{
		cfg:    cfg,
		model:  model,
		obs:    obs,
		region: region,
		system: systemPrompt(string(schema), toolCall),
		opts:   callOptions(cfg, schema, strict),
	}, nil
}

// run is the state of one Plan call.
type run struct {
	attempts         int32
	promptTokens     int64
	completionTokens int64
	latency          time.Duration
}

// Plan implements planner.Planner. It returns a *planner.TerminalError when the
// model gave no valid plan within MaxAttempts calls, or the provider refused the
// call (HTTP 4xx other than 408/409/429); other errors (AWS reads, timeouts, HTTP
// 429/5xx after the attempt budget) may pass and should be retried later.
func (p *Planner) Plan(ctx context.Context, req *v1.NetworkChangeRequest) (*v1.Plan, error) {
	if t := req.Spec.Targets; t != nil && t.Region != "" && t.Region != p.region {
		return nil, planner.Terminal(fmt.Sprintf("the request targets region %s but this planner observes %s: file it where a planner runs for %s", t.Region, p.region, t.Region))
	}
	estate, err := p.obs.Estate(ctx)
	if err != nil {
		return nil, fmt.Errorf("llm planner: read the AWS estate: %w", err)
	}
	user, err := userPrompt(req, p.region, estate)
	if err != nil {
		return nil, planner.Terminal(err.Error())
	}
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, p.system),
		llms.TextParts(llms.ChatMessageTypeHuman, user),
	}

	var r run
	var lastInvalid, lastTransient error
	for int(r.attempts) < p.cfg.MaxAttempts {
		r.attempts++
		ans, class, callErr := p.call(ctx, msgs, &r)
		if callErr != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("llm planner: %w", ctx.Err())
			}
			if class == failTerminal {
				return nil, planner.Terminal(fmt.Sprintf("the LLM provider %s refused the call: %v; check --llm-provider, --llm-model, --llm-base-url and the API key, then set the netchange.io/replan annotation to plan again", p.cfg.Provider, callErr))
			}
			lastTransient, lastInvalid = callErr, nil
			continue
		}
		out, problem, err := p.accept(ctx, req, ans)
		if err != nil {
			return nil, err
		}
		if problem != nil {
			lastInvalid, lastTransient = problem, nil
			msgs = append(msgs, feedback(ans.text, problem)...)
			continue
		}
		out.Provenance = v1.Provenance{
			Planner:          PlannerName,
			Provider:         string(p.cfg.Provider),
			Model:            p.cfg.Model,
			PromptSHA256:     promptSHA256(msgs),
			ResponseSHA256:   sha256Hex(ans.text),
			PromptTokens:     clampInt32(r.promptTokens),
			CompletionTokens: clampInt32(r.completionTokens),
			LatencyMillis:    r.latency.Milliseconds(),
			Attempts:         r.attempts,
		}
		return out, nil
	}
	if lastInvalid != nil {
		return nil, planner.Terminal(fmt.Sprintf("the model's plan was invalid after %d attempts: %v", r.attempts, stripPrefix(lastInvalid)))
	}
	return nil, fmt.Errorf("llm planner: %s did not answer usably in %d attempts (the last: %v); retrying later", p.cfg.Provider, r.attempts, lastTransient)
}

// call makes one model call with the per-call timeout, waiting first when the
// previous call hit a retryable failure. It returns the answer, or the error and
// its class.
func (p *Planner) call(ctx context.Context, msgs []llms.MessageContent, r *run) (answer, failureClass, error) {
	callCtx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	rec := &callRecord{}
	start := p.cfg.Now()
	resp, err := p.model.GenerateContent(withCallRecord(callCtx, rec), msgs, p.opts...)
	elapsed := p.cfg.Now().Sub(start)
	r.latency += elapsed
	pt, ct := usageOf(resp)
	r.promptTokens += pt
	r.completionTokens += ct
	p.countTokens(pt, ct)
	if err != nil {
		timedOut := errors.Is(callCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		class := classify(err, rec, timedOut)
		result := "error"
		if timedOut {
			result = "timeout"
			err = fmt.Errorf("no answer within %s (--llm-timeout)", p.cfg.Timeout)
		} else if rec.status != 0 {
			err = fmt.Errorf("HTTP %d: %w", rec.status, err)
		}
		p.observe(result, elapsed)
		if class == failTransient && int(r.attempts) < p.cfg.MaxAttempts {
			p.wait(ctx, int(r.attempts), rec.retryAfter)
		}
		return answer{}, class, err
	}
	p.observe("ok", elapsed)
	ans, err := extractAnswer(resp)
	if err != nil {
		// An empty or wrong-tool answer is the model's fault: it is fed back.
		ans.problem = err
	}
	return ans, 0, nil
}

// accept turns an answer into a plan. problem is the reason to reject the answer
// and ask again (fed back to the model); err is a failure that is not the model's.
func (p *Planner) accept(ctx context.Context, req *v1.NetworkChangeRequest, ans answer) (*v1.Plan, error, error) {
	if ans.problem != nil {
		return nil, ans.problem, nil
	}
	prop, err := plan.Decode([]byte(ans.text))
	if err != nil {
		return nil, err, nil
	}
	out := &v1.Plan{
		Actions:    prop.Actions,
		Rationale:  prop.Rationale,
		Region:     p.region,
		Generation: req.Generation,
	}
	if out.Actions == nil {
		out.Actions = []v1.Action{}
	}
	if req.Spec.Targets != nil {
		out.AccountID = req.Spec.Targets.AccountID
	}
	// Structure only: policy guardrails (e.g. internet exposure in production) are
	// the auditor's to judge, so a plan that breaks them reaches the auditor and is
	// vetoed with the offending action named, instead of being re-asked here.
	if err := plan.ValidateStructure(req, out); err != nil {
		return nil, err, nil
	}
	if len(out.Actions) > 0 {
		snap, err := p.obs.Snapshot(ctx, out.Actions)
		switch {
		case errors.Is(err, awscontext.ErrNotFound), errors.Is(err, awscontext.ErrUnsupported):
			return nil, fmt.Errorf("%w; use only resources listed in the estate", err), nil
		case err != nil:
			return nil, nil, fmt.Errorf("llm planner: describe the resources the plan touches: %w", err)
		}
		out.Snapshot = snap
	}
	for i, a := range out.Actions {
		if !plan.IsCatalogType(a.Type) { // plan.Decode already refused these; never let one through.
			return nil, fmt.Errorf("actions[%d].type: unknown action type %q", i, a.Type), nil
		}
	}
	return out, nil, nil
}

// wait sleeps before retry n (1-based): Backoff doubled per retry, or the
// provider's Retry-After when longer, capped at MaxBackoff; it returns early when
// ctx ends.
func (p *Planner) wait(ctx context.Context, n int, retryAfter string) {
	d := p.cfg.Backoff << (n - 1)
	if secs, err := strconv.Atoi(retryAfter); err == nil && time.Duration(secs)*time.Second > d {
		d = time.Duration(secs) * time.Second
	}
	if d > p.cfg.MaxBackoff || d <= 0 {
		d = p.cfg.MaxBackoff
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (p *Planner) observe(result string, elapsed time.Duration) {
	metrics.LLMLatency.WithLabelValues(string(p.cfg.Provider), p.cfg.Model, result).Observe(elapsed.Seconds())
}

func (p *Planner) countTokens(prompt, completion int64) {
	if prompt > 0 {
		metrics.LLMTokens.WithLabelValues(string(p.cfg.Provider), p.cfg.Model, "prompt").Add(float64(prompt))
	}
	if completion > 0 {
		metrics.LLMTokens.WithLabelValues(string(p.cfg.Provider), p.cfg.Model, "completion").Add(float64(completion))
	}
}

// stripPrefix drops plan.Decode's "decode proposal: " prefix so the message reads
// "…invalid after 3 attempts: actions[0].type: unknown action type …".
func stripPrefix(err error) string {
	s := err.Error()
	const pfx = "decode proposal: "
	if len(s) > len(pfx) && s[:len(pfx)] == pfx {
		return s[len(pfx):]
	}
	return s
}

func clampInt32(n int64) int32 {
	if n > int64(^uint32(0)>>1) {
		return int32(^uint32(0) >> 1)
	}
	return int32(n)
}
