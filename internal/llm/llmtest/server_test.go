package llmtest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/openai"
)

var planTool = llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
	Name: "submit_plan", Parameters: map[string]any{"type": "object"},
}}

func messages(text string) []llms.MessageContent {
	return []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "system rules"),
		llms.TextParts(llms.ChatMessageTypeHuman, text),
	}
}

func TestServer_openAI(t *testing.T) {
	s := Start(t)
	m, err := openai.New(openai.WithToken("k"), openai.WithBaseURL(s.OpenAIBaseURL()), openai.WithModel("gpt-4o"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s.Reply(`{"actions":[]}`).Reply(`{"actions":[1]}`).Status(429, "").Malformed("sure! here is")

	// Forced tool call → tool_calls with the forced name.
	resp, err := m.GenerateContent(ctx, messages("hello"), llms.WithTools([]llms.Tool{planTool}),
		llms.WithToolChoice(map[string]any{"type": "function", "function": map[string]any{"name": "submit_plan"}}))
	if err != nil {
		t.Fatal(err)
	}
	tc := resp.Choices[0].ToolCalls
	if len(tc) != 1 || tc[0].FunctionCall.Name != "submit_plan" || tc[0].FunctionCall.Arguments != `{"actions":[]}` {
		t.Fatalf("tool call = %+v", tc)
	}
	if resp.Choices[0].GenerationInfo["PromptTokens"].(int) <= 0 {
		t.Errorf("no prompt tokens reported: %v", resp.Choices[0].GenerationInfo)
	}
	// No tool → plain content.
	resp, err = m.GenerateContent(ctx, messages("again"))
	if err != nil || resp.Choices[0].Content != `{"actions":[1]}` {
		t.Fatalf("content = %v, %v", resp, err)
	}
	// 429 carries the provider's error message.
	_, err = m.GenerateContent(ctx, messages("x"))
	if err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("429 err = %v", err)
	}
	resp, err = m.GenerateContent(ctx, messages("y"))
	if err != nil || resp.Choices[0].Content != "sure! here is" {
		t.Fatalf("malformed = %v, %v", resp, err)
	}
	// Used-up script is a visible 500.
	if _, err := m.GenerateContent(ctx, messages("z")); err == nil || !strings.Contains(err.Error(), "used up") {
		t.Fatalf("exhausted err = %v", err)
	}
	reqs := s.Requests()
	if len(reqs) != 5 || reqs[0].Provider != ProviderOpenAI || !strings.Contains(reqs[0].Text(), "hello") ||
		!strings.Contains(reqs[0].Text(), "system rules") {
		t.Fatalf("requests = %d, first text %q", len(reqs), reqs[0].Text())
	}
	s.Reset()
	if len(s.Requests()) != 0 || s.Remaining() != 0 {
		t.Fatal("Reset kept state")
	}
}

func TestServer_anthropic(t *testing.T) {
	s := Start(t)
	m, err := anthropic.New(anthropic.WithToken("k"), anthropic.WithBaseURL(s.AnthropicBaseURL()), anthropic.WithModel("claude-x"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s.Reply(`{"actions":[]}`).Malformed("not json").Status(500, "").ReplyAs(ShapeContent, `{"a":1}`)
	resp, err := m.GenerateContent(ctx, messages("hi"), llms.WithTools([]llms.Tool{planTool}))
	if err != nil {
		t.Fatal(err)
	}
	tc := resp.Choices[0].ToolCalls
	if len(tc) != 1 || tc[0].FunctionCall.Name != "submit_plan" {
		t.Fatalf("tool_use = %+v", resp.Choices[0])
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(tc[0].FunctionCall.Arguments), &args); err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].GenerationInfo["InputTokens"].(int) <= 0 {
		t.Errorf("no input tokens: %v", resp.Choices[0].GenerationInfo)
	}
	resp, err = m.GenerateContent(ctx, messages("hi"), llms.WithTools([]llms.Tool{planTool}))
	if err != nil || resp.Choices[0].Content != "not json" || len(resp.Choices[0].ToolCalls) != 0 {
		t.Fatalf("malformed = %+v, %v", resp, err)
	}
	if _, err := m.GenerateContent(ctx, messages("hi")); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("500 err = %v", err)
	}
	resp, err = m.GenerateContent(ctx, messages("hi"), llms.WithTools([]llms.Tool{planTool}))
	if err != nil || resp.Choices[0].Content != `{"a":1}` {
		t.Fatalf("content-shaped = %+v, %v", resp, err)
	}
	r := s.Requests()[0]
	if r.Header.Get("anthropic-version") == "" || r.Header.Get("x-api-key") != "k" {
		t.Fatalf("headers = %v", r.Header)
	}
	if !strings.Contains(r.Text(), "system rules") || !strings.Contains(r.Text(), "hi") {
		t.Fatalf("text = %q", r.Text())
	}
}

func TestServer_delay(t *testing.T) {
	s := Start(t)
	m, err := openai.New(openai.WithToken("k"), openai.WithBaseURL(s.OpenAIBaseURL()))
	if err != nil {
		t.Fatal(err)
	}
	s.Delay(time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := m.GenerateContent(ctx, messages("slow")); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("hang err = %v", err)
	}
}

func TestStep_UnmarshalJSON(t *testing.T) {
	var steps []Step
	in := `[{"kind":"reply","content":{"actions":[]}},{"kind":"reply","content":"{\"x\":1}"},
		{"kind":"status","code":429},{"kind":"delay","delay":"30s"}]`
	if err := json.Unmarshal([]byte(in), &steps); err != nil {
		t.Fatal(err)
	}
	if steps[0].Content != `{"actions":[]}` || steps[1].Content != `{"x":1}` || steps[2].Code != 429 || steps[3].Delay != 30*time.Second {
		t.Fatalf("steps = %+v", steps)
	}
	if err := json.Unmarshal([]byte(`[{"kind":"explode"}]`), &steps); err == nil {
		t.Fatal("unknown kind accepted")
	}
}
