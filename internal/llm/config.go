// Package llm is netchange's LLM planner: it asks a language model, through
// langchaingo, for a plan proposal, and lets nothing but a strictly decoded and
// validated plan of catalog actions out (plan.Decode + plan.Validate are the gate).
//
// Providers: openai (any OpenAI-compatible base URL; forced tool call with a
// strict JSON schema), anthropic (tool_use with the schema; langchaingo cannot
// force the call, so instructions plus strict decode), bedrock (AWS credential
// chain; instructions plus strict decode) and ollama (JSON mode).
package llm

import (
	"fmt"
	"os"
	"time"
)

// Provider names an LLM provider.
type Provider string

// Providers.
const (
	// ProviderOpenAI is OpenAI or any OpenAI-compatible server (key from OPENAI_API_KEY).
	ProviderOpenAI Provider = "openai"
	// ProviderAnthropic is Anthropic's messages API (key from ANTHROPIC_API_KEY).
	ProviderAnthropic Provider = "anthropic"
	// ProviderBedrock is Amazon Bedrock (AWS credential chain; Model is the model id).
	ProviderBedrock Provider = "bedrock"
	// ProviderOllama is an Ollama server (OLLAMA_HOST or BaseURL).
	ProviderOllama Provider = "ollama"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultTimeout bounds one model call.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxAttempts is the number of model calls per plan, retries included.
	DefaultMaxAttempts = 3
	// DefaultMaxTokens bounds the length of one answer.
	DefaultMaxTokens = 4096
	// DefaultBackoff is the first wait after an HTTP 429/5xx or a timeout; it doubles per retry.
	DefaultBackoff = 500 * time.Millisecond
	// DefaultMaxBackoff caps every wait, Retry-After included.
	DefaultMaxBackoff = 10 * time.Second
	// ToolName is the tool the model is asked (or forced) to call with its plan.
	ToolName = "submit_plan"
)

// Config configures the LLM planner.
type Config struct {
	// Provider is openai, anthropic, bedrock or ollama.
	Provider Provider
	// Model is the model name (bedrock: the model id). Required.
	Model string
	// BaseURL overrides the provider endpoint (openai: ".../v1"; anthropic: ".../v1";
	// ollama: the server URL). Empty means the provider's default.
	BaseURL string
	// APIKey overrides the key read from OPENAI_API_KEY / ANTHROPIC_API_KEY.
	APIKey string
	// Timeout bounds one model call (default DefaultTimeout).
	Timeout time.Duration
	// MaxAttempts bounds the model calls per plan, retries included (default 3).
	MaxAttempts int
	// MaxTokens bounds the length of one answer (default DefaultMaxTokens).
	MaxTokens int
	// Backoff is the first wait after a retryable failure (default DefaultBackoff).
	Backoff time.Duration
	// MaxBackoff caps every wait, including a provider's Retry-After (default DefaultMaxBackoff).
	MaxBackoff time.Duration
	// Now is the clock used to measure latency and time backoff (default time.Now).
	Now func() time.Time
}

// withDefaults returns cfg with zero fields set to their defaults, or an error
// naming the first field that cannot work.
func (cfg Config) withDefaults() (Config, error) {
	switch cfg.Provider {
	case ProviderOpenAI, ProviderAnthropic, ProviderBedrock, ProviderOllama:
	case "":
		return cfg, fmt.Errorf("llm planner: no provider: set --llm-provider to openai, anthropic, bedrock or ollama")
	default:
		return cfg, fmt.Errorf("llm planner: unknown provider %q: use openai, anthropic, bedrock or ollama", cfg.Provider)
	}
	if cfg.Model == "" {
		return cfg, fmt.Errorf("llm planner: no model: set --llm-model (for bedrock, the model id)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.APIKey == "" {
		switch cfg.Provider {
		case ProviderOpenAI:
			cfg.APIKey = os.Getenv("OPENAI_API_KEY")
			if cfg.APIKey == "" {
				return cfg, fmt.Errorf("llm planner: OPENAI_API_KEY is empty: set it (any non-empty value for a local OpenAI-compatible server)")
			}
		case ProviderAnthropic:
			cfg.APIKey = os.Getenv("ANTHROPIC_API_KEY")
			if cfg.APIKey == "" {
				return cfg, fmt.Errorf("llm planner: ANTHROPIC_API_KEY is empty: set it to an Anthropic API key")
			}
		}
	}
	return cfg, nil
}
