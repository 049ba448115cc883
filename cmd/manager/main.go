// Command manager runs one netchange role (planner, auditor or executor) as a
// controller manager, or one of the offline subcommands (audit verify, explain).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	netchangev1alpha1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/audit"
)

// role is one way to run the manager: it adds its flags, then its controllers.
type role struct {
	// addFlags registers the role's own flags.
	addFlags func(fs *flag.FlagSet)
	// setup registers the role's controllers and runnables with the manager.
	setup func(ctx context.Context, mgr manager.Manager, shared *sharedOptions) error
}

// sharedOptions are what every role gets from the common flags.
type sharedOptions struct {
	// ClusterName is this cluster's name as other clusters know it.
	ClusterName string
	// Audit is the audit trail every role writes to.
	Audit audit.Appender
	// AWSRegion is the AWS region the planner observes and the executor changes.
	AWSRegion string
	// AWSEndpointURL overrides the AWS endpoint (e.g. a moto_server URL); "" uses AWS.
	AWSEndpointURL string
}

// roles is filled by the role files of this package (planner.go, auditor.go, executor.go).
var roles = map[string]*role{}

// subcommands are offline commands (e.g. "audit", "explain"); each gets the
// remaining arguments and returns the process exit code.
var subcommands = map[string]func(args []string) int{}

func main() {
	if len(os.Args) > 1 {
		if sub, ok := subcommands[os.Args[1]]; ok {
			os.Exit(sub(os.Args[2:]))
		}
	}
	os.Exit(run(os.Args[1:]))
}

func roleNames() string {
	names := make([]string, 0, len(roles))
	for n := range roles {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, "|")
}

func run(args []string) int {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	var (
		roleName       = fs.String("role", "", "role to run: "+roleNames())
		metricsAddr    = fs.String("metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint (0 disables it)")
		probeAddr      = fs.String("health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
		leaderElect    = fs.Bool("leader-elect", false, "use leader election so only one replica of the role acts")
		leaderElectNS  = fs.String("leader-election-namespace", "", "namespace of the leader election lease (default: in-cluster namespace)")
		watchNamespace = fs.String("namespace", "", "only watch this namespace (default: all namespaces)")
		clusterName    = fs.String("cluster-name", "control", "this cluster's name, as the auditor's --control-cluster flag names it")
		auditDir       = fs.String("audit-dir", "netchange-audit", "directory of the file audit sink (used when --audit-postgres-dsn is empty)")
		awsRegion      = fs.String("aws-region", "", "planner and executor: AWS region (default $AWS_REGION, else us-east-1)")
		awsEndpoint    = fs.String("aws-endpoint-url", "", "planner and executor: AWS endpoint override, e.g. a moto_server URL for local runs")
		auditDSN       = fs.String("audit-postgres-dsn", "", "PostgreSQL DSN of the audit sink (e.g. postgres://user@host:5432/db); overrides --audit-dir")
	)
	for _, r := range roles {
		if r.addFlags != nil {
			r.addFlags(fs)
		}
	}
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(fs)
	// --kubeconfig is registered by controller-runtime on the default flag set.
	fs.String("kubeconfig", "", "path to the kubeconfig of the cluster this role runs in (default: in-cluster or $KUBECONFIG)")
	subcommandList := make([]string, 0, len(subcommands))
	for s := range subcommands {
		subcommandList = append(subcommandList, s)
	}
	sort.Strings(subcommandList)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: manager --role=%s [flags]\n       manager {%s} ...\n\nflags:\n", roleNames(), strings.Join(subcommandList, "|"))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if kc := fs.Lookup("kubeconfig").Value.String(); kc != "" {
		_ = os.Setenv("KUBECONFIG", kc)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	r, ok := roles[*roleName]
	if !ok {
		fmt.Fprintf(os.Stderr, "manager: --role must be one of %s (got %q)\n", roleNames(), *roleName)
		return 2
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "no Kubernetes config: pass --kubeconfig or run in a cluster")
		return 1
	}
	opts := ctrl.Options{
		Scheme:                  newScheme(),
		Metrics:                 metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress:  *probeAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        "netchange-" + *roleName + ".netchange.io",
		LeaderElectionNamespace: *leaderElectNS,
	}
	if *watchNamespace != "" {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{*watchNamespace: {}}
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		log.Error(err, "create manager")
		return 1
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "add health check")
		return 1
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "add ready check")
		return 1
	}
	ctx := ctrl.SetupSignalHandler()
	sink, err := openAudit(ctx, *auditDir, *auditDSN)
	if err != nil {
		log.Error(err, "open audit sink: nothing is executed without an audit trail")
		return 1
	}
	defer sink.Close()
	region := *awsRegion
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	if region == "" {
		region = "us-east-1"
	}
	shared := &sharedOptions{ClusterName: *clusterName, Audit: sink, AWSRegion: region, AWSEndpointURL: *awsEndpoint}
	if err := r.setup(ctx, mgr, shared); err != nil {
		log.Error(err, "set up role", "role", *roleName)
		return 1
	}
	log.Info("starting manager", "role", *roleName)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager stopped with an error")
		return 1
	}
	return 0
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := netchangev1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}
