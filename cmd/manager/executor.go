package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	executorctrl "github.com/netchange-io/netchange/controllers/executor"
	"github.com/netchange-io/netchange/internal/awsapply"
	"github.com/netchange-io/netchange/internal/metrics"
	"github.com/netchange-io/netchange/internal/ratelimit"
	"github.com/netchange-io/netchange/internal/verdict"
)

// executorFlags are the executor role's flags (--aws-region and --aws-endpoint-url
// are common flags, in sharedOptions).
type executorFlags struct {
	publicKeys       string
	ratePerHour      float64
	rateBurst        int
	maxAWSAttempts   int
	roleMapNamespace string
}

var executorOpts executorFlags

func init() {
	roles["executor"] = &role{addFlags: executorOpts.addFlags, setup: executorOpts.setup}
}

func (o *executorFlags) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.publicKeys, "verdict-public-keys", "", "executor role: comma-separated files or directories (*.pub, *.pem) of the auditor public keys trusted to sign verdicts")
	fs.Float64Var(&o.ratePerHour, "rate-per-hour", 30, "executor role: changes per hour per namespace and environment (0: unlimited)")
	fs.IntVar(&o.rateBurst, "rate-burst", 5, "executor role: changes allowed at once per namespace and environment")
	fs.IntVar(&o.maxAWSAttempts, "max-aws-attempts", 5, "executor role: tries of one AWS call on throttling, 5xx or timeouts, with exponential backoff")
	fs.StringVar(&o.roleMapNamespace, "role-map-namespace", os.Getenv("POD_NAMESPACE"), "executor role: namespace of ACK's ack-role-account-map ConfigMap (account ID → role ARN to assume); default $POD_NAMESPACE")
}

// setup loads the trusted keys and AWS credentials and registers the executor controller.
func (o *executorFlags) setup(ctx context.Context, mgr manager.Manager, shared *sharedOptions) error {
	if strings.TrimSpace(o.publicKeys) == "" {
		return fmt.Errorf("--verdict-public-keys is required: the executor runs nothing without the auditor's public key")
	}
	var paths []string
	for _, p := range strings.Split(o.publicKeys, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	keys, err := verdict.LoadPublicKeys(paths...)
	if err != nil {
		return fmt.Errorf("load --verdict-public-keys: %w", err)
	}
	region, endpoint := shared.AWSRegion, shared.AWSEndpointURL
	loadOpts := []func(*config.LoadOptions) error{}
	if region != "" {
		loadOpts = append(loadOpts, config.WithRegion(region))
	}
	base, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	r := &executorctrl.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorderFor("netchange-executor"), //nolint:staticcheck // core/v1 events, as the other roles use
		Audit:     shared.Audit,
		AWS:       executorctrl.NewFactoryAWS(base, awsapply.Options{MaxAttempts: o.maxAWSAttempts}),
		Limiter:   ratelimit.New(o.ratePerHour, o.rateBurst, time.Now),
		Clock:     time.Now,
		Options: executorctrl.Options{
			ClusterName:      shared.ClusterName,
			Keys:             keys,
			DefaultRegion:    region,
			DefaultEndpoint:  endpoint,
			RoleMapNamespace: o.roleMapNamespace,
		},
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("set up executor controller: %w", err)
	}
	// The executor's manager also reports the request and freeze gauges: it already
	// watches both kinds in the control cluster.
	if err := mgr.Add(metrics.NewCollector(mgr.GetClient(), nil, 5*time.Second)); err != nil {
		return fmt.Errorf("add metrics collector: %w", err)
	}
	return nil
}
