package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/netchange-io/netchange/controllers/auditor"
	"github.com/netchange-io/netchange/internal/audit"
	"github.com/netchange-io/netchange/internal/review"
	"github.com/netchange-io/netchange/internal/verdict"
)

// repeated is a flag that may be given several times.
type repeated []string

// String implements flag.Value.
func (r *repeated) String() string { return strings.Join(*r, ",") }

// Set implements flag.Value: each use of the flag adds one value.
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// auditorOptions are the auditor role's flags.
type auditorOptions struct {
	controlClusters       repeated
	controlClusterSecrets repeated
	signingKey            string
	signingKeySecret      string
	policy                string
	verdictNamespace      string
	allowedRegions        string
	verdictTTL            time.Duration
	reviewProvider        string
	reviewModel           string
	reviewBaseURL         string
	reviewTimeout         time.Duration
	checkpointInterval    time.Duration
}

func init() {
	o := &auditorOptions{}
	roles["auditor"] = &role{
		addFlags: func(fs *flag.FlagSet) {
			fs.Var(&o.controlClusters, "control-cluster", "auditor role: NAME=KUBECONFIG_PATH of a control cluster to watch (repeatable)")
			fs.Var(&o.controlClusterSecrets, "control-cluster-secret", "auditor role: NAME=NAMESPACE/SECRET of a control cluster whose kubeconfig is in the Secret's data key 'kubeconfig' (repeatable)")
			fs.StringVar(&o.signingKey, "signing-key", "", "auditor role: path of the ed25519 verdict signing key (PEM PKCS#8, from: manager keygen)")
			fs.StringVar(&o.signingKeySecret, "signing-key-secret", "", "auditor role: NAMESPACE/NAME of a Secret holding the signing key in data key ed25519.key (see hack/auditor-key.sh)")
			fs.StringVar(&o.policy, "policy", "", "auditor role: NAMESPACE/NAME of the ChangePolicy in the auditor cluster")
			fs.StringVar(&o.verdictNamespace, "verdict-namespace", "", "auditor role: namespace of ChangeVerdicts and ChangeApprovals (default: the policy's namespace)")
			fs.StringVar(&o.allowedRegions, "allowed-regions", "", "auditor role: comma-separated AWS regions plans may target (data residency); empty allows any region")
			fs.DurationVar(&o.verdictTTL, "verdict-ttl", 0, "auditor role: how long an approval stays valid; overrides the policy's verdictTTL when set")
			fs.StringVar(&o.reviewProvider, "review-llm-provider", "", "auditor role: optional LLM second opinion (can only make decisions stricter): openai (key in OPENAI_API_KEY), anthropic (ANTHROPIC_API_KEY) or ollama")
			fs.StringVar(&o.reviewModel, "review-llm-model", "", "auditor role: model of the second opinion")
			fs.StringVar(&o.reviewBaseURL, "review-llm-base-url", "", "auditor role: endpoint of the second opinion (openai/anthropic: ending in /v1)")
			fs.DurationVar(&o.checkpointInterval, "checkpoint-interval", 5*time.Minute, "auditor role: how often to append a checkpoint signed with the auditor key to each audit stream it writes (0 disables)")
			fs.DurationVar(&o.reviewTimeout, "review-llm-timeout", 30*time.Second, "auditor role: timeout of one second-opinion call; a failure escalates an approval")
		},
		setup: func(ctx context.Context, mgr manager.Manager, shared *sharedOptions) error {
			return setupAuditor(ctx, mgr, shared, o)
		},
	}
}

func splitNamespaced(flagName, v string) (types.NamespacedName, error) {
	ns, name, ok := strings.Cut(v, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return types.NamespacedName{}, fmt.Errorf("--%s=%q: want NAMESPACE/NAME", flagName, v)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

func setupAuditor(ctx context.Context, mgr manager.Manager, shared *sharedOptions, o *auditorOptions) error {
	pol, err := splitNamespaced("policy", o.policy)
	if err != nil {
		return err
	}
	verdictNS := o.verdictNamespace
	if verdictNS == "" {
		verdictNS = pol.Namespace
	}
	reader := mgr.GetAPIReader() // the manager's cache is not running yet
	key, err := loadSigningKey(ctx, reader, o)
	if err != nil {
		return err
	}
	clusters, err := controlClusterConfigs(ctx, reader, o)
	if err != nil {
		return err
	}
	var regions []string
	for _, r := range strings.Split(o.allowedRegions, ",") {
		if r = strings.TrimSpace(r); r != "" {
			regions = append(regions, r)
		}
	}
	var reviewer auditor.Reviewer
	if o.reviewProvider != "" {
		rv, err := review.New(review.Config{Provider: o.reviewProvider, Model: o.reviewModel, BaseURL: o.reviewBaseURL, Timeout: o.reviewTimeout})
		if err != nil {
			return err
		}
		reviewer = rv
	}
	if err := auditor.SetupPolicyStatus(mgr); err != nil {
		return fmt.Errorf("policy status controller: %w", err)
	}
	names := make([]string, 0, len(clusters))
	for n := range clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		cl, err := cluster.New(clusters[name], func(co *cluster.Options) { co.Scheme = mgr.GetScheme() })
		if err != nil {
			return fmt.Errorf("control cluster %s: %w", name, err)
		}
		if err := mgr.Add(cl); err != nil {
			return fmt.Errorf("add control cluster %s: %w", name, err)
		}
		r := &auditor.Reconciler{
			ClusterName:      name,
			Control:          cl.GetClient(),
			Local:            mgr.GetClient(),
			Signer:           key,
			Policy:           pol,
			VerdictNamespace: verdictNS,
			AllowedRegions:   regions,
			VerdictTTL:       o.verdictTTL,
			Audit:            shared.Audit,
			Reviewer:         reviewer,
		}
		if err := r.SetupWithManager(mgr, cl); err != nil {
			return fmt.Errorf("auditor for control cluster %s: %w", name, err)
		}
	}
	if o.checkpointInterval > 0 {
		sink, ok := shared.Audit.(audit.Sink)
		if !ok {
			return fmt.Errorf("--checkpoint-interval: the audit sink cannot be read back to checkpoint it")
		}
		if err := mgr.Add(audit.NewCheckpointer(sink, key, "", o.checkpointInterval, nil)); err != nil {
			return fmt.Errorf("add audit checkpointer: %w", err)
		}
	}
	return nil
}

func loadSigningKey(ctx context.Context, reader client.Reader, o *auditorOptions) (ed25519.PrivateKey, error) {
	switch {
	case o.signingKey != "" && o.signingKeySecret != "":
		return nil, fmt.Errorf("give either --signing-key or --signing-key-secret, not both")
	case o.signingKey != "":
		return verdict.LoadPrivateKey(o.signingKey)
	case o.signingKeySecret != "":
		ref, err := splitNamespaced("signing-key-secret", o.signingKeySecret)
		if err != nil {
			return nil, err
		}
		s := &corev1.Secret{}
		if err := reader.Get(ctx, ref, s); err != nil {
			return nil, fmt.Errorf("read signing key Secret %s: %w", ref, err)
		}
		data, ok := s.Data["ed25519.key"]
		if !ok {
			return nil, fmt.Errorf("signing key Secret %s has no data key ed25519.key (create it with hack/auditor-key.sh)", ref)
		}
		k, err := verdict.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("signing key Secret %s: %w", ref, err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("the auditor needs a signing key: pass --signing-key or --signing-key-secret (generate one with `manager keygen`)")
}

func controlClusterConfigs(ctx context.Context, reader client.Reader, o *auditorOptions) (map[string]*rest.Config, error) {
	out := map[string]*rest.Config{}
	add := func(name string, cfg *rest.Config) error {
		if _, dup := out[name]; dup {
			return fmt.Errorf("control cluster %q is given twice", name)
		}
		out[name] = cfg
		return nil
	}
	for _, v := range o.controlClusters {
		name, path, ok := strings.Cut(v, "=")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("--control-cluster=%q: want NAME=KUBECONFIG_PATH", v)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("control cluster %s: %w", name, err)
		}
		cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
		if err != nil {
			return nil, fmt.Errorf("control cluster %s: kubeconfig %s: %w", name, path, err)
		}
		if err := add(name, cfg); err != nil {
			return nil, err
		}
	}
	for _, v := range o.controlClusterSecrets {
		name, ref, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--control-cluster-secret=%q: want NAME=NAMESPACE/SECRET", v)
		}
		key, err := splitNamespaced("control-cluster-secret", ref)
		if err != nil {
			return nil, err
		}
		s := &corev1.Secret{}
		if err := reader.Get(ctx, key, s); err != nil {
			return nil, fmt.Errorf("control cluster %s: read Secret %s: %w", name, key, err)
		}
		data, ok := s.Data["kubeconfig"]
		if !ok {
			return nil, fmt.Errorf("control cluster %s: Secret %s has no data key kubeconfig", name, key)
		}
		cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
		if err != nil {
			return nil, fmt.Errorf("control cluster %s: kubeconfig in Secret %s: %w", name, key, err)
		}
		if err := add(name, cfg); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the auditor watches no control cluster: pass --control-cluster NAME=KUBECONFIG or --control-cluster-secret NAME=NS/SECRET")
	}
	return out, nil
}
