package llm

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/netchange-io/netchange/internal/llm/llmtest"
	"github.com/netchange-io/netchange/internal/plan"
	"github.com/netchange-io/netchange/internal/planner"
)

// TestPlanner_bedrock drives the real langchaingo Bedrock client (aws-sdk-go-v2
// bedrock-runtime, SigV4) against the scripted server's InvokeModel endpoint with
// a Claude model: the plan is forced through the submit_plan tool, invalid answers
// are fed back, throttling is retried, and access denied is terminal.
func TestPlanner_bedrock(t *testing.T) {
	w := startWorld(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	const model = "anthropic.claude-3-5-sonnet-20240620-v1:0"
	valid := blockPlan(w.aclID)
	shell := `{"actions":[{"type":"RunShellCommand","reason":"x"}],"rationale":"run it"}`
	cases := []struct {
		name     string
		script   func(s *llmtest.Server)
		planned  bool
		terminal string
		feedback string
	}{
		{"valid plan", func(s *llmtest.Server) { s.Reply(valid) }, true, "", ""},
		{"unknown action type then valid", func(s *llmtest.Server) { s.Reply(shell).Reply(valid) }, true, "", `unknown action type "RunShellCommand"`},
		{"throttled then valid", func(s *llmtest.Server) { s.Status(http.StatusTooManyRequests, "").Reply(valid) }, true, "", ""},
		{"access denied is terminal", func(s *llmtest.Server) { s.Status(http.StatusForbidden, "").Reply(valid) }, false, "refused the call", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := llmtest.Start(t)
			tc.script(s)
			p, err := New(Config{Provider: ProviderBedrock, Model: model, BaseURL: s.URL,
				Timeout: 10 * time.Second, Backoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}, w.obs, w.region)
			if err != nil {
				t.Fatal(err)
			}
			req := request("block 203.0.113.0/24 in development")
			got, err := p.Plan(t.Context(), req)
			reqs := s.Requests()
			if len(reqs) == 0 {
				t.Fatal("no request reached the scripted Bedrock endpoint")
			}
			first := reqs[0]
			if first.Provider != llmtest.ProviderBedrock || !strings.Contains(first.Path, "/model/"+model+"/invoke") ||
				!strings.HasPrefix(first.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
				t.Fatalf("request = %s %s (authorization %q), want a SigV4-signed InvokeModel", first.Provider, first.Path, first.Header.Get("Authorization"))
			}
			var body struct {
				ToolChoice struct{ Type, Name string } `json:"tool_choice"`
			}
			if err := json.Unmarshal(first.Body, &body); err != nil || body.ToolChoice.Type != "tool" || body.ToolChoice.Name != ToolName {
				t.Fatalf("tool_choice = %+v (err %v), want the forced %s tool", body.ToolChoice, err, ToolName)
			}
			switch {
			case tc.planned:
				if err != nil {
					t.Fatalf("Plan: %v", err)
				}
				if err := plan.Validate(req, got); err != nil || len(got.Actions) != 1 || got.Provenance.Provider != string(ProviderBedrock) || got.Provenance.Model != model {
					t.Fatalf("plan %+v (validate: %v)", got, err)
				}
			default:
				if !planner.IsTerminal(err) || !strings.Contains(err.Error(), tc.terminal) {
					t.Fatalf("err = %v, want terminal containing %q", err, tc.terminal)
				}
			}
			if tc.feedback != "" && !strings.Contains(reqs[len(reqs)-1].Text(), tc.feedback) {
				t.Errorf("last prompt lacks %q", tc.feedback)
			}
		})
	}
}

// TestPlanner_ollama drives the real langchaingo Ollama client against the
// scripted server's /api/chat: JSON mode is asked for, malformed answers are fed
// back, a 500 is retried, and an unknown model (404) is terminal.
func TestPlanner_ollama(t *testing.T) {
	w := startWorld(t)
	valid := blockPlan(w.aclID)
	cases := []struct {
		name     string
		script   func(s *llmtest.Server)
		planned  bool
		terminal string
		feedback string
	}{
		{"valid plan", func(s *llmtest.Server) { s.Reply(valid) }, true, "", ""},
		{"malformed then valid", func(s *llmtest.Server) { s.Malformed("here you go: {actions").Reply(valid) }, true, "", "here you go"},
		{"HTTP 500 then valid", func(s *llmtest.Server) { s.Status(http.StatusInternalServerError, "").Reply(valid) }, true, "", ""},
		{"unknown model is terminal", func(s *llmtest.Server) { s.Status(http.StatusNotFound, `{"error":"model 'test-model' not found"}`) }, false, "refused the call", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := llmtest.Start(t)
			tc.script(s)
			p, err := New(Config{Provider: ProviderOllama, Model: "test-model", BaseURL: s.URL,
				Timeout: 10 * time.Second, Backoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}, w.obs, w.region)
			if err != nil {
				t.Fatal(err)
			}
			req := request("block 203.0.113.0/24 in development")
			got, err := p.Plan(t.Context(), req)
			reqs := s.Requests()
			if len(reqs) == 0 || reqs[0].Provider != llmtest.ProviderOllama {
				t.Fatalf("requests = %d, want Ollama chat calls", len(reqs))
			}
			var body struct {
				Format json.RawMessage `json:"format"`
			}
			if err := json.Unmarshal(reqs[0].Body, &body); err != nil || !strings.Contains(string(body.Format), "json") {
				t.Fatalf("format = %s (err %v), want JSON mode", body.Format, err)
			}
			switch {
			case tc.planned:
				if err != nil {
					t.Fatalf("Plan: %v", err)
				}
				if err := plan.Validate(req, got); err != nil || len(got.Actions) != 1 || got.Provenance.Provider != string(ProviderOllama) {
					t.Fatalf("plan %+v (validate: %v)", got, err)
				}
			default:
				if !planner.IsTerminal(err) || !strings.Contains(err.Error(), tc.terminal) {
					t.Fatalf("err = %v, want terminal containing %q", err, tc.terminal)
				}
			}
			if tc.feedback != "" && !strings.Contains(reqs[len(reqs)-1].Text(), tc.feedback) {
				t.Errorf("last prompt lacks %q", tc.feedback)
			}
		})
	}
}
