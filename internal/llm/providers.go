package llm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/bedrock"
	"github.com/tmc/langchaingo/llms/ollama"
	"github.com/tmc/langchaingo/llms/openai"
)

// callRecord is filled, per model call, by recordingTransport with what the HTTP
// exchange looked like, so failures are classified by status code, not by text.
type callRecord struct {
	status     int
	retryAfter string
}

type callRecordKey struct{}

// withCallRecord returns a context that makes recordingTransport fill rec.
func withCallRecord(ctx context.Context, rec *callRecord) context.Context {
	return context.WithValue(ctx, callRecordKey{}, rec)
}

// recordingTransport records the status and Retry-After of each response in the
// request context's callRecord.
type recordingTransport struct {
	base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if rec, ok := req.Context().Value(callRecordKey{}).(*callRecord); ok && resp != nil {
		rec.status = resp.StatusCode
		rec.retryAfter = resp.Header.Get("Retry-After")
	}
	return resp, err
}

// newHTTPClient returns the HTTP client the HTTP-based providers use.
func newHTTPClient() *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{Transport: recordingTransport{base: base}}
}

// newModel builds the langchaingo model for cfg (defaults applied).
func newModel(ctx context.Context, cfg Config) (llms.Model, error) {
	hc := newHTTPClient()
	switch cfg.Provider {
	case ProviderOpenAI:
		opts := []openai.Option{openai.WithToken(cfg.APIKey), openai.WithModel(cfg.Model), openai.WithHTTPClient(hc)}
		if cfg.BaseURL != "" {
			opts = append(opts, openai.WithBaseURL(cfg.BaseURL))
		}
		return openai.New(opts...)
	case ProviderAnthropic:
		opts := []anthropic.Option{anthropic.WithToken(cfg.APIKey), anthropic.WithModel(cfg.Model), anthropic.WithHTTPClient(hc)}
		if cfg.BaseURL != "" {
			opts = append(opts, anthropic.WithBaseURL(cfg.BaseURL))
		}
		return anthropic.New(opts...)
	case ProviderOllama:
		opts := []ollama.Option{ollama.WithModel(cfg.Model), ollama.WithFormat("json"), ollama.WithHTTPClient(hc)}
		if cfg.BaseURL != "" {
			opts = append(opts, ollama.WithServerURL(cfg.BaseURL))
		}
		return ollama.New(opts...)
	case ProviderBedrock:
		// Credentials and region from the default AWS chain; --llm-base-url
		// overrides the bedrock-runtime endpoint (e.g. a VPC endpoint).
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("llm planner: bedrock: load AWS configuration: %w", err)
		}
		client := bedrockruntime.NewFromConfig(awsCfg, func(o *bedrockruntime.Options) {
			if cfg.BaseURL != "" {
				o.BaseEndpoint = aws.String(cfg.BaseURL)
			}
		})
		return bedrock.NewWithContext(ctx, bedrock.WithModel(cfg.Model), bedrock.WithClient(client))
	}
	return nil, fmt.Errorf("llm planner: unknown provider %q", cfg.Provider)
}

// callOptions returns the options that constrain the answer as strictly as the
// provider allows.
func callOptions(cfg Config, schema, strictSchema any) []llms.CallOption {
	opts := []llms.CallOption{llms.WithMaxTokens(cfg.MaxTokens), llms.WithTemperature(0)}
	switch cfg.Provider {
	case ProviderOpenAI:
		// A forced tool call whose parameters are the strict schema: the provider
		// constrains decoding to the schema.
		opts = append(opts,
			llms.WithTools([]llms.Tool{planTool(strictSchema, true)}),
			llms.WithToolChoice(map[string]any{"type": "function", "function": map[string]any{"name": ToolName}}))
	case ProviderAnthropic:
		// tool_use with the schema; langchaingo cannot force the call, so the system
		// prompt asks for it and the answer is decoded strictly either way.
		opts = append(opts, llms.WithTools([]llms.Tool{planTool(schema, false)}))
	case ProviderOllama:
		opts = append(opts, llms.WithJSONMode())
	case ProviderBedrock:
		// Claude models on Bedrock take a forced tool call (tool_choice "tool");
		// other model families get the schema in the prompt only.
		if bedrockAnthropic(cfg.Model) {
			opts = append(opts,
				llms.WithTools([]llms.Tool{planTool(schema, false)}),
				llms.WithToolChoice(map[string]any{"type": "function", "function": map[string]any{"name": ToolName}}))
		}
	}
	return opts
}

// bedrockAnthropic reports whether a Bedrock model ID (or inference profile) is an
// Anthropic model, which supports forced tool calls.
func bedrockAnthropic(model string) bool {
	return strings.Contains(model, "anthropic.")
}

func planTool(schema any, strict bool) llms.Tool {
	return llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
		Name:        ToolName,
		Description: "Submit the network change plan: the catalog actions to apply, in order, and the rationale.",
		Parameters:  schema,
		Strict:      strict,
	}}
}

// answer is the text the model produced for the plan, and how it said it.
type answer struct {
	text     string
	toolCall bool
	// problem is why the response held no usable plan text (fed back to the model).
	problem error
}

// extractAnswer returns the plan text of a response: the arguments of the
// submit_plan tool call, or else the first non-empty text content.
func extractAnswer(resp *llms.ContentResponse) (answer, error) {
	if resp == nil || len(resp.Choices) == 0 {
		return answer{}, errors.New("the model returned no choices")
	}
	var text string
	for _, c := range resp.Choices {
		if c == nil {
			continue
		}
		for _, tc := range c.ToolCalls {
			if tc.FunctionCall == nil {
				continue
			}
			if tc.FunctionCall.Name != ToolName {
				return answer{}, fmt.Errorf("the model called tool %q; the only tool is %s", truncate(tc.FunctionCall.Name, 64), ToolName)
			}
			return answer{text: tc.FunctionCall.Arguments, toolCall: true}, nil
		}
		if text == "" && strings.TrimSpace(c.Content) != "" {
			text = c.Content
		}
	}
	if text == "" {
		return answer{}, errors.New("the model's answer was empty")
	}
	return answer{text: unfence(text)}, nil
}

// unfence removes one markdown code fence around the whole text, if there is one;
// the content is still decoded strictly.
func unfence(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "```") || !strings.HasSuffix(t, "```") || len(t) < 6 {
		return s
	}
	t = strings.TrimSuffix(strings.TrimPrefix(t, "```"), "```")
	if nl := strings.IndexByte(t, '\n'); nl >= 0 && !strings.ContainsAny(t[:nl], "{[") {
		t = t[nl+1:]
	}
	return strings.TrimSpace(t)
}

// usageOf sums the token counts a response reports, whatever the provider's key names.
func usageOf(resp *llms.ContentResponse) (prompt, completion int64) {
	if resp == nil {
		return 0, 0
	}
	for _, c := range resp.Choices {
		if c == nil || c.GenerationInfo == nil {
			continue
		}
		p := firstNumber(c.GenerationInfo, "PromptTokens", "InputTokens", "input_tokens", "prompt_tokens")
		o := firstNumber(c.GenerationInfo, "CompletionTokens", "OutputTokens", "output_tokens", "completion_tokens")
		// Every choice of one response repeats the response's usage: take it once.
		if p > 0 || o > 0 {
			return p, o
		}
	}
	return 0, 0
}

func firstNumber(m map[string]any, keys ...string) int64 {
	for _, k := range keys {
		switch v := m[k].(type) {
		case int:
			return int64(v)
		case int32:
			return int64(v)
		case int64:
			return v
		case float64:
			return int64(v)
		}
	}
	return 0
}

// failureClass says what a failed model call means for the retry loop.
type failureClass int

const (
	// failTransient may pass: timeouts, network errors, HTTP 408/409/429/5xx.
	failTransient failureClass = iota
	// failTerminal will not pass by retrying: other HTTP 4xx, unusable provider replies.
	failTerminal
)

// classify decides whether a call error is worth retrying.
func classify(err error, rec *callRecord, timedOut bool) failureClass {
	if timedOut {
		return failTransient
	}
	status := rec.status
	var se interface{ HTTPStatusCode() int }
	if status == 0 && errors.As(err, &se) {
		status = se.HTTPStatusCode()
	}
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status == http.StatusConflict, status >= 500:
		return failTransient
	case status >= 400:
		return failTerminal
	case status == 0:
		var ne net.Error
		if errors.As(err, &ne) || strings.Contains(err.Error(), "network error") || strings.Contains(err.Error(), "timeout") ||
			strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "send request") {
			return failTransient
		}
		return failTerminal
	default:
		// HTTP 200 with a body the client could not use: the provider (or a proxy)
		// misbehaved; retry within the budget.
		return failTransient
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
