// Package llmtest is a scripted LLM server for tests and demos. It speaks the
// real wire formats of the OpenAI chat completions API (POST {base}/chat/completions)
// and the Anthropic messages API (POST /v1/messages), answers with scripted steps
// consumed in order (honest or adversarial replies, malformed output, HTTP errors,
// hangs) and records every request body it receives.
//
// The OpenAI base URL for clients is Server.URL+"/v1" (clients append
// /chat/completions); the Anthropic base URL is also Server.URL+"/v1" (clients
// append /messages).
package llmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kind is what a scripted step does.
type Kind string

// Step kinds.
const (
	// KindReply answers with Content, which is meant to be JSON (honest or adversarial).
	KindReply Kind = "reply"
	// KindMalformed answers with Content as the model's text, which is not JSON.
	KindMalformed Kind = "malformed"
	// KindStatus answers with HTTP status Code and Body (a provider error body when Body is empty).
	KindStatus Kind = "status"
	// KindDelay hangs for Delay (or until the client gives up), then answers HTTP 504.
	KindDelay Kind = "delay"
)

// Shape says whether a reply is a plain content answer or a tool call.
type Shape string

// Reply shapes.
const (
	// ShapeAuto answers with a tool call when the request forced one (OpenAI
	// tool_choice) or offered exactly one tool (Anthropic), else with plain content.
	ShapeAuto Shape = ""
	// ShapeContent always answers with plain content, even when a tool call was forced.
	ShapeContent Shape = "content"
	// ShapeTool always answers with a tool call named as the request's (first) tool.
	ShapeTool Shape = "tool"
)

// Step is one scripted answer.
type Step struct {
	// Kind is what the step does.
	Kind Kind `json:"kind"`
	// Content is the model's answer text for reply and malformed steps. In a script
	// file it may be a JSON string or any JSON value (used verbatim).
	Content string `json:"content,omitempty"`
	// Shape selects a content answer or a tool call for reply and malformed steps.
	Shape Shape `json:"shape,omitempty"`
	// Code is the HTTP status of a status step.
	Code int `json:"code,omitempty"`
	// Body is the raw HTTP body of a status step; empty means the provider's error body.
	Body string `json:"body,omitempty"`
	// RetryAfter is the retry-after header value of a status step (429 defaults to "1").
	RetryAfter string `json:"retryAfter,omitempty"`
	// Delay is how long a delay step hangs; for other kinds, a wait before answering.
	Delay time.Duration `json:"-"`
	// PromptTokens and CompletionTokens override the reported usage (0: estimated).
	PromptTokens int `json:"promptTokens,omitempty"`
	// CompletionTokens overrides the reported completion/output tokens (0: estimated).
	CompletionTokens int `json:"completionTokens,omitempty"`
}

// UnmarshalJSON reads a step from a script file: content may be a string or any
// JSON value, delay is a Go duration string ("30s").
func (s *Step) UnmarshalJSON(b []byte) error {
	type plain Step
	var aux struct {
		plain
		Content json.RawMessage `json:"content,omitempty"`
		Delay   string          `json:"delay,omitempty"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*s = Step(aux.plain)
	if len(aux.Content) > 0 {
		var str string
		if err := json.Unmarshal(aux.Content, &str); err == nil {
			s.Content = str
		} else {
			s.Content = string(aux.Content)
		}
	}
	if aux.Delay != "" {
		d, err := time.ParseDuration(aux.Delay)
		if err != nil {
			return fmt.Errorf("step delay %q: %w", aux.Delay, err)
		}
		s.Delay = d
	}
	switch s.Kind {
	case KindReply, KindMalformed, KindStatus, KindDelay:
	default:
		return fmt.Errorf("step kind %q: use reply, malformed, status or delay", s.Kind)
	}
	return nil
}

// Provider names the wire format of a recorded request.
type Provider string

// Providers.
const (
	// ProviderOpenAI is the OpenAI chat completions format.
	ProviderOpenAI Provider = "openai"
	// ProviderAnthropic is the Anthropic messages format.
	ProviderAnthropic Provider = "anthropic"
	// ProviderOllama is Ollama's chat API (POST /api/chat), answered as one final
	// (done) message.
	ProviderOllama Provider = "ollama"
	// ProviderBedrock is Amazon Bedrock's InvokeModel (POST /model/{modelId}/invoke,
	// SigV4-signed) with an Anthropic messages body, as Claude models on Bedrock use.
	ProviderBedrock Provider = "bedrock"
)

// Request is one request the server received.
type Request struct {
	// Provider is the wire format the request used.
	Provider Provider
	// Path is the URL path.
	Path string
	// Header is a copy of the request headers.
	Header http.Header
	// Body is the raw request body.
	Body []byte
}

// Text returns every text the request carried (system prompt, message contents,
// tool results), joined by newlines: what the model would have read.
func (r Request) Text() string {
	var out []string
	var req struct {
		System   json.RawMessage `json:"system"`
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return ""
	}
	out = appendTexts(out, req.System)
	for _, m := range req.Messages {
		out = appendTexts(out, m.Content)
	}
	return strings.Join(out, "\n")
}

// appendTexts collects text from a content value that is a string or a list of
// blocks with "text" or "content" fields.
func appendTexts(out []string, raw json.RawMessage) []string {
	if len(raw) == 0 {
		return out
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return append(out, s)
	}
	var blocks []struct {
		Text    string          `json:"text"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(raw, &blocks); err == nil {
		for _, b := range blocks {
			if b.Text != "" {
				out = append(out, b.Text)
			}
			out = appendTexts(out, b.Content)
		}
	}
	return out
}

// Server is a scripted LLM server. Create it with Start (tests) or New (to serve
// it yourself, as test/llmstub does).
type Server struct {
	// URL is the server's root URL, e.g. http://127.0.0.1:41234 (set by Start).
	URL string

	mu       sync.Mutex
	steps    []Step
	next     int
	loop     bool
	requests []Request
	served   int
	closing  chan struct{}
	once     sync.Once
	httpSrv  *httptest.Server
}

// New returns a server with an empty script that is not listening; serve it as an http.Handler.
func New() *Server {
	return &Server{closing: make(chan struct{})}
}

// Start starts a server on a loopback port and closes it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := New()
	s.httpSrv = httptest.NewServer(s)
	s.URL = s.httpSrv.URL
	t.Cleanup(s.Close)
	return s
}

// Close releases hanging requests and stops the server if Start started it.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	if s.httpSrv != nil {
		s.httpSrv.Close()
	}
}

// OpenAIBaseURL is the base URL to give an OpenAI-compatible client.
func (s *Server) OpenAIBaseURL() string { return s.URL + "/v1" }

// AnthropicBaseURL is the base URL to give the langchaingo Anthropic client.
func (s *Server) AnthropicBaseURL() string { return s.URL + "/v1" }

// Add appends steps to the script.
func (s *Server) Add(steps ...Step) *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, steps...)
	return s
}

// Reply scripts an answer whose content is text (JSON, honest or adversarial),
// as a tool call when the request forced one, else as plain content.
func (s *Server) Reply(text string) *Server { return s.Add(Step{Kind: KindReply, Content: text}) }

// ReplyAs scripts an answer with an explicit shape (plain content or tool call).
func (s *Server) ReplyAs(shape Shape, text string) *Server {
	return s.Add(Step{Kind: KindReply, Content: text, Shape: shape})
}

// Malformed scripts an answer whose text is not JSON. For an Anthropic tool_use
// request it is sent as a text block (the model did not call the tool).
func (s *Server) Malformed(text string) *Server {
	return s.Add(Step{Kind: KindMalformed, Content: text})
}

// Status scripts an HTTP error: code with body, or the provider's error body when body is empty.
func (s *Server) Status(code int, body string) *Server {
	return s.Add(Step{Kind: KindStatus, Code: code, Body: body})
}

// Delay scripts a hang of d (longer than the client's timeout), then HTTP 504.
func (s *Server) Delay(d time.Duration) *Server { return s.Add(Step{Kind: KindDelay, Delay: d}) }

// Loop makes the script start over when it is used up (for long-running demos).
func (s *Server) Loop(loop bool) *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loop = loop
	return s
}

// Requests returns a copy of every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Remaining is the number of scripted steps not yet used.
func (s *Server) Remaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.steps) - s.next
}

// Reset drops the script and the recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps, s.next, s.requests, s.served = nil, 0, nil, 0
}

// take records the request and returns the next step (ok false when the script is used up).
func (s *Server) take(r Request) (Step, int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
	s.served++
	if s.next >= len(s.steps) && s.loop && len(s.steps) > 0 {
		s.next = 0
	}
	if s.next >= len(s.steps) {
		return Step{}, s.served, false
	}
	st := s.steps[s.next]
	s.next++
	return st, s.served, true
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p Provider
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/chat/completions"):
		p = ProviderOpenAI
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/messages"):
		p = ProviderAnthropic
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/model/") && strings.HasSuffix(r.URL.Path, "/invoke"):
		p = ProviderBedrock
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/api/chat"):
		p = ProviderOllama
	default:
		http.Error(w, "llmtest: only POST .../chat/completions (OpenAI), POST .../v1/messages (Anthropic), POST /model/{id}/invoke (Bedrock) and POST /api/chat (Ollama) are served", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		writeError(w, p, http.StatusBadRequest, "invalid_request_error", "read body: "+err.Error())
		return
	}
	if code, typ, msg := checkRequest(p, r.Header, body); code != 0 {
		writeError(w, p, code, typ, msg)
		return
	}
	st, n, ok := s.take(Request{Provider: p, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	if !ok {
		writeError(w, p, http.StatusInternalServerError, "api_error", "llmtest: the script is used up; add steps with Reply, Malformed, Status or Delay")
		return
	}
	if st.Delay > 0 {
		select {
		case <-time.After(st.Delay):
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		}
	}
	switch st.Kind {
	case KindDelay:
		writeError(w, p, http.StatusGatewayTimeout, "timeout_error", "llmtest: scripted hang ended")
	case KindStatus:
		s.writeStatus(w, p, st)
	default:
		var req chatRequest
		_ = json.Unmarshal(body, &req)
		switch p {
		case ProviderOpenAI:
			writeJSON(w, http.StatusOK, openAIReply(req, st, n, len(body)))
		case ProviderOllama:
			writeJSON(w, http.StatusOK, ollamaReply(req, st, len(body)))
		default:
			if p == ProviderBedrock {
				req.Model = bedrockModel(r.URL.Path)
			}
			writeJSON(w, http.StatusOK, anthropicReply(p, req, st, n, len(body)))
		}
	}
}

// checkRequest rejects requests a real provider would reject (missing
// credentials, version header, model or messages, streaming we do not script).
func checkRequest(p Provider, h http.Header, body []byte) (int, string, string) {
	switch p {
	case ProviderOpenAI:
		if !strings.HasPrefix(h.Get("Authorization"), "Bearer ") || len(h.Get("Authorization")) <= len("Bearer ") {
			return http.StatusUnauthorized, "invalid_request_error", "You didn't provide an API key (Authorization: Bearer <key>)."
		}
	case ProviderAnthropic:
		if h.Get("x-api-key") == "" {
			return http.StatusUnauthorized, "authentication_error", "x-api-key header is required"
		}
		if h.Get("anthropic-version") == "" {
			return http.StatusBadRequest, "invalid_request_error", "anthropic-version header is required"
		}
	case ProviderBedrock:
		if !strings.HasPrefix(h.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			return http.StatusForbidden, "AccessDeniedException", "Missing Authentication Token: sign the request with AWS SigV4"
		}
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return http.StatusBadRequest, "invalid_request_error", "request body is not JSON: " + err.Error()
	}
	if p == ProviderBedrock {
		// The model is in the path; the body carries anthropic_version instead.
		if req.AnthropicVersion == "" {
			return http.StatusBadRequest, "ValidationException", "anthropic_version: field required"
		}
		req.Model = "bedrock"
	}
	if req.Model == "" {
		return http.StatusBadRequest, "invalid_request_error", "model: field required"
	}
	if len(req.Messages) == 0 {
		return http.StatusBadRequest, "invalid_request_error", "messages: at least one message is required"
	}
	if req.Stream {
		return http.StatusBadRequest, "invalid_request_error", "llmtest: streaming is not scripted"
	}
	return 0, "", ""
}

// chatRequest is the part of either request format the server looks at.
type chatRequest struct {
	Model    string            `json:"model"`
	Messages []json.RawMessage `json:"messages"`
	Stream   bool              `json:"stream"`
	Tools    []struct {
		Name     string `json:"name"` // Anthropic
		Function struct {
			Name string `json:"name"`
		} `json:"function"` // OpenAI
	} `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
	// AnthropicVersion is Bedrock's version field for Anthropic models.
	AnthropicVersion string `json:"anthropic_version"`
}

// bedrockModel returns the model ID of a Bedrock InvokeModel path.
func bedrockModel(path string) string {
	id := strings.TrimSuffix(strings.TrimPrefix(path, "/model/"), "/invoke")
	if u, err := url.PathUnescape(id); err == nil {
		return u
	}
	return id
}

// forcedTool returns the tool name the request forces (OpenAI tool_choice object
// or "required"; Anthropic: the only offered tool), or "".
func (r chatRequest) forcedTool(p Provider) string {
	if p == ProviderBedrock {
		var choice struct {
			Type string `json:"type"`
			Name string `json:"name"`
		}
		if json.Unmarshal(r.ToolChoice, &choice) == nil && choice.Type == "tool" && choice.Name != "" {
			return choice.Name
		}
		return ""
	}
	if p == ProviderAnthropic {
		if len(r.Tools) == 1 {
			return r.Tools[0].Name
		}
		return ""
	}
	var choice struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(r.ToolChoice, &choice) == nil && choice.Function.Name != "" {
		return choice.Function.Name
	}
	var s string
	if json.Unmarshal(r.ToolChoice, &s) == nil && s == "required" && len(r.Tools) > 0 {
		return r.Tools[0].Function.Name
	}
	return ""
}

// firstTool returns the name of the request's first tool, or "".
func (r chatRequest) firstTool() string {
	if len(r.Tools) == 0 {
		return ""
	}
	if r.Tools[0].Name != "" {
		return r.Tools[0].Name
	}
	return r.Tools[0].Function.Name
}

// toolName decides whether a step answers as a tool call, and with which name.
func toolName(req chatRequest, p Provider, st Step) string {
	switch st.Shape {
	case ShapeContent:
		return ""
	case ShapeTool:
		if n := req.forcedTool(p); n != "" {
			return n
		}
		if n := req.firstTool(); n != "" {
			return n
		}
		return "plan"
	default:
		return req.forcedTool(p)
	}
}

func usage(st Step, bodyLen int) (int, int) {
	pt, ct := st.PromptTokens, st.CompletionTokens
	if pt == 0 {
		pt = bodyLen/4 + 1
	}
	if ct == 0 {
		ct = len(st.Content)/4 + 1
	}
	return pt, ct
}

func openAIReply(req chatRequest, st Step, n, bodyLen int) map[string]any {
	pt, ct := usage(st, bodyLen)
	msg := map[string]any{"role": "assistant", "content": st.Content}
	finish := "stop"
	if name := toolName(req, ProviderOpenAI, st); name != "" {
		msg["content"] = nil
		msg["tool_calls"] = []map[string]any{{
			"id":   fmt.Sprintf("call_llmtest_%d", n),
			"type": "function",
			"function": map[string]any{
				"name":      name,
				"arguments": st.Content,
			},
		}}
		finish = "tool_calls"
	}
	return map[string]any{
		"id":      fmt.Sprintf("chatcmpl-llmtest-%d", n),
		"object":  "chat.completion",
		"created": 1700000000 + n,
		"model":   req.Model,
		"choices": []map[string]any{{
			"index":         0,
			"message":       msg,
			"logprobs":      nil,
			"finish_reason": finish,
		}},
		"usage": map[string]any{
			"prompt_tokens":     pt,
			"completion_tokens": ct,
			"total_tokens":      pt + ct,
		},
		"system_fingerprint": "fp_llmtest",
	}
}

func anthropicReply(p Provider, req chatRequest, st Step, n, bodyLen int) map[string]any {
	pt, ct := usage(st, bodyLen)
	block := map[string]any{"type": "text", "text": st.Content}
	stop := "end_turn"
	if name := toolName(req, p, st); name != "" && st.Kind == KindReply {
		var input map[string]any
		dec := json.NewDecoder(bytes.NewReader([]byte(st.Content)))
		dec.UseNumber()
		// tool_use input is a JSON object on the wire; anything else is sent as text.
		if dec.Decode(&input) == nil && input != nil {
			block = map[string]any{
				"type":  "tool_use",
				"id":    fmt.Sprintf("toolu_llmtest_%d", n),
				"name":  name,
				"input": input,
			}
			stop = "tool_use"
		}
	}
	return map[string]any{
		"id":            fmt.Sprintf("msg_llmtest_%d", n),
		"type":          "message",
		"role":          "assistant",
		"model":         req.Model,
		"content":       []map[string]any{block},
		"stop_reason":   stop,
		"stop_sequence": nil,
		"usage": map[string]any{
			"input_tokens":  pt,
			"output_tokens": ct,
		},
	}
}

// ollamaReply is Ollama's final chat message (stream false: one JSON object).
func ollamaReply(req chatRequest, st Step, bodyLen int) map[string]any {
	pt, ct := usage(st, bodyLen)
	return map[string]any{
		"model":             req.Model,
		"created_at":        time.Now().UTC().Format(time.RFC3339Nano),
		"message":           map[string]any{"role": "assistant", "content": st.Content},
		"done":              true,
		"done_reason":       "stop",
		"prompt_eval_count": pt,
		"eval_count":        ct,
	}
}

func (s *Server) writeStatus(w http.ResponseWriter, p Provider, st Step) {
	code := st.Code
	if code == 0 {
		code = http.StatusInternalServerError
	}
	retryAfter := st.RetryAfter
	if retryAfter == "" && code == http.StatusTooManyRequests {
		retryAfter = "1"
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	if st.Body != "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, st.Body)
		return
	}
	typ, msg := "api_error", "The server had an error while processing your request."
	switch {
	case code == http.StatusTooManyRequests:
		typ, msg = "rate_limit_error", "Rate limit reached: too many requests. Please try again later."
		if p == ProviderOpenAI {
			typ = "requests"
		}
	case code == 529:
		typ, msg = "overloaded_error", "Overloaded"
	case code >= 400 && code < 500:
		typ, msg = "invalid_request_error", "Invalid request."
	}
	writeError(w, p, code, typ, msg)
}

// writeError writes the provider's error body.
func writeError(w http.ResponseWriter, p Provider, code int, typ, msg string) {
	if p == ProviderOllama {
		writeJSON(w, code, map[string]any{"error": msg})
		return
	}
	if p == ProviderBedrock {
		// AWS JSON protocol errors: the code in X-Amzn-ErrorType, the message in the body.
		w.Header().Set("X-Amzn-ErrorType", bedrockErrorType(code, typ))
		writeJSON(w, code, map[string]any{"message": msg})
		return
	}
	if p == ProviderAnthropic {
		writeJSON(w, code, map[string]any{
			"type":  "error",
			"error": map[string]any{"type": typ, "message": msg},
		})
		return
	}
	writeJSON(w, code, map[string]any{
		"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": openAICode(code)},
	})
}

// bedrockErrorType maps a status to the Bedrock runtime error code AWS sends with it.
func bedrockErrorType(code int, typ string) string {
	switch {
	case strings.HasSuffix(typ, "Exception"):
		return typ
	case code == http.StatusTooManyRequests:
		return "ThrottlingException"
	case code == http.StatusForbidden, code == http.StatusUnauthorized:
		return "AccessDeniedException"
	case code == http.StatusServiceUnavailable:
		return "ServiceUnavailableException"
	case code == http.StatusGatewayTimeout, code == http.StatusRequestTimeout:
		return "ModelTimeoutException"
	case code >= 500:
		return "InternalServerException"
	default:
		return "ValidationException"
	}
}

func openAICode(code int) any {
	switch code {
	case http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case http.StatusUnauthorized:
		return "invalid_api_key"
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
