package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	plannerctrl "github.com/netchange-io/netchange/controllers/planner"
	"github.com/netchange-io/netchange/internal/awscontext"
	"github.com/netchange-io/netchange/internal/llm"
	"github.com/netchange-io/netchange/internal/planner"
	"github.com/netchange-io/netchange/internal/planner/rules"
)

// plannerFlags are the planner role's flags.
type plannerFlags struct {
	planner        string
	llmProvider    string
	llmModel       string
	llmBaseURL     string
	llmTimeout     time.Duration
	llmMaxAttempts int
}

var plannerOpts plannerFlags

func init() {
	roles["planner"] = &role{addFlags: plannerOpts.addFlags, setup: plannerOpts.setup}
}

func (o *plannerFlags) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.planner, "planner", "rules", "planner role: default planner, rules (deterministic, no network) or llm; "+
		"with --llm-provider set, a request annotated "+plannerctrl.AnnotationPlanner+": llm uses the LLM planner even when the default is rules")
	fs.StringVar(&o.llmProvider, "llm-provider", "", "planner role: LLM provider: openai (any OpenAI-compatible server; key in OPENAI_API_KEY), anthropic (ANTHROPIC_API_KEY), bedrock (AWS credentials) or ollama")
	fs.StringVar(&o.llmModel, "llm-model", "", "planner role: LLM model name (bedrock: the model id)")
	fs.StringVar(&o.llmBaseURL, "llm-base-url", "", "planner role: LLM endpoint (openai/anthropic: ending in /v1; ollama: server URL, default OLLAMA_HOST)")
	fs.DurationVar(&o.llmTimeout, "llm-timeout", llm.DefaultTimeout, "planner role: timeout of one LLM call")
	fs.IntVar(&o.llmMaxAttempts, "llm-max-attempts", llm.DefaultMaxAttempts, "planner role: LLM calls per plan, retries included")
}

// setup builds the AWS observer and the planners, and registers the planner controller.
func (o *plannerFlags) setup(ctx context.Context, mgr manager.Manager, shared *sharedOptions) error {
	planners, err := o.planners(ctx, shared)
	if err != nil {
		return err
	}
	r := &plannerctrl.Reconciler{
		Client:      mgr.GetClient(),
		Planners:    planners,
		Default:     o.planner,
		Audit:       shared.Audit,
		Recorder:    mgr.GetEventRecorderFor("netchange-planner"), //nolint:staticcheck // core/v1 events, as the other roles use
		ClusterName: shared.ClusterName,
		Now:         time.Now,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up planner controller: %w", err)
	}
	return nil
}

// planners returns the configured planners by name: always rules, and llm when
// --planner=llm or --llm-provider is set.
func (o *plannerFlags) planners(ctx context.Context, shared *sharedOptions) (map[string]planner.Planner, error) {
	if o.planner != "rules" && o.planner != "llm" {
		return nil, fmt.Errorf("--planner must be rules or llm (got %q)", o.planner)
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(shared.AWSRegion)}
	if shared.AWSEndpointURL != "" {
		opts = append(opts, config.WithBaseEndpoint(shared.AWSEndpointURL))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config for region %s: %w (set AWS credentials, read-only suffice)", shared.AWSRegion, err)
	}
	obs := awscontext.NewFromConfig(cfg)
	out := map[string]planner.Planner{"rules": rules.New(obs, shared.AWSRegion)}
	if o.planner == "llm" || o.llmProvider != "" {
		if o.llmProvider == "" {
			return nil, fmt.Errorf("--planner=llm needs --llm-provider (openai, anthropic, bedrock or ollama) and --llm-model")
		}
		p, err := llm.New(llm.Config{
			Provider:    llm.Provider(o.llmProvider),
			Model:       o.llmModel,
			BaseURL:     o.llmBaseURL,
			Timeout:     o.llmTimeout,
			MaxAttempts: o.llmMaxAttempts,
		}, obs, shared.AWSRegion)
		if err != nil {
			return nil, err
		}
		out["llm"] = p
	}
	return out, nil
}
