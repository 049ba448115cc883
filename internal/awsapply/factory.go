package awsapply

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
)

// Target is where a plan is applied: which account, region and endpoint, and the
// role to assume there (ACK's cross-account role map), if any.
type Target struct {
	// Region is the AWS region (from the plan).
	Region string
	// AccountID is the 12-digit account, when known.
	AccountID string
	// EndpointURL overrides the AWS endpoint (moto in tests, VPC endpoints).
	EndpointURL string
	// RoleARN is assumed via STS when set; empty means the default credentials.
	RoleARN string
}

// Factory builds and caches one Applier (and one read-only aws.Config) per Target
// from a base configuration (credentials from the environment / IRSA).
type Factory struct {
	base aws.Config
	opts Options
	mu   sync.Mutex
	apps map[Target]*Applier
	cfgs map[Target]aws.Config
}

// NewFactory returns a Factory over base. Appliers it builds use opts.
func NewFactory(base aws.Config, opts Options) *Factory {
	return &Factory{base: base, opts: opts, apps: map[Target]*Applier{}, cfgs: map[Target]aws.Config{}}
}

// Config returns the aws.Config for t: region, endpoint and (when RoleARN is set)
// assumed-role credentials. The SDK's own retries stay on; use it for reads.
func (f *Factory) Config(t Target) (aws.Config, error) {
	if t.Region == "" {
		return aws.Config{}, fmt.Errorf("no AWS region for the plan: set plan.region or the namespace's services.k8s.aws/region annotation")
	}
	cfg := f.base.Copy()
	cfg.Region = t.Region
	if t.EndpointURL != "" {
		cfg.BaseEndpoint = aws.String(t.EndpointURL)
	}
	if t.RoleARN != "" {
		stsClient := sts.NewFromConfig(cfg)
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, t.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "netchange-executor"
		}))
	}
	return cfg, nil
}

// For returns the Applier and the read configuration for t, building them once.
// The Applier's clients have the SDK's retries switched off: Apply retries itself,
// observing AWS before each retry.
func (f *Factory) For(_ context.Context, t Target) (*Applier, aws.Config, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.apps[t]; ok {
		return a, f.cfgs[t], nil
	}
	cfg, err := f.Config(t)
	if err != nil {
		return nil, aws.Config{}, err
	}
	wcfg := cfg.Copy()
	wcfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	a := New(ec2.NewFromConfig(wcfg), wafv2.NewFromConfig(wcfg), f.opts)
	f.apps[t], f.cfgs[t] = a, cfg
	return a, cfg, nil
}
