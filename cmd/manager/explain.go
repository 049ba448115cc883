package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/audit"
	"github.com/netchange-io/netchange/internal/explain"
)

func init() {
	subcommands["explain"] = func(args []string) int { return explainMain(args, os.Stdout, os.Stderr) }
}

const explainUsage = `usage: manager explain [--kubeconfig K] [--namespace N] NAME [--format text|markdown]
                       [--auditor-kubeconfig K2] [--audit-dir D | --audit-postgres-dsn DSN]

Explains one NetworkChangeRequest: what it changes and why, its impact, who asked,
the decision and who approved it under which policy, what was executed and
verified, how to roll it back, and what happens next. With --auditor-kubeconfig
it adds the auditor's ChangeVerdict (approval path, approvers, findings); with an
audit sink it lists and verifies the request's audit records.
`

// explainMain runs `manager explain ...` and returns the exit code.
func explainMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("manager explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the control cluster (default: $KUBECONFIG or ~/.kube/config)")
	namespace := fs.String("namespace", "default", "the request's namespace")
	format := fs.String("format", "text", "output format: text or markdown")
	auditorKubeconfig := fs.String("auditor-kubeconfig", "", "kubeconfig of the auditor cluster, to include the ChangeVerdict")
	auditDir := fs.String("audit-dir", "", "directory of the file audit sink")
	auditDSN := fs.String("audit-postgres-dsn", "", "PostgreSQL DSN of the audit sink")
	fs.Usage = func() { fmt.Fprint(stderr, explainUsage); fs.PrintDefaults() }
	// Accept flags before and after NAME.
	var names []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(names) != 1 {
		fmt.Fprintln(stderr, "manager explain: name exactly one NetworkChangeRequest")
		fs.Usage()
		return 2
	}
	if *format != "text" && *format != "markdown" {
		fmt.Fprintf(stderr, "manager explain: --format must be text or markdown, not %q\n", *format)
		return 2
	}
	if *auditDir != "" && *auditDSN != "" {
		fmt.Fprintln(stderr, "manager explain: pass at most one of --audit-dir and --audit-postgres-dsn")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	c, err := kubeClient(*kubeconfig)
	if err != nil {
		fmt.Fprintf(stderr, "manager explain: control cluster: %v\n", err)
		return 2
	}
	var req v1.NetworkChangeRequest
	if err := c.Get(ctx, types.NamespacedName{Namespace: *namespace, Name: names[0]}, &req); err != nil {
		if apierrors.IsNotFound(err) {
			fmt.Fprintf(stderr, "manager explain: NetworkChangeRequest %s/%s not found: check the name and --namespace (kubectl get ncr -A)\n", *namespace, names[0])
			return 1
		}
		fmt.Fprintf(stderr, "manager explain: get NetworkChangeRequest %s/%s: %v\n", *namespace, names[0], err)
		return 1
	}
	var cv *v1.ChangeVerdict
	if *auditorKubeconfig != "" {
		ac, err := kubeClient(*auditorKubeconfig)
		if err != nil {
			fmt.Fprintf(stderr, "manager explain: auditor cluster: %v\n", err)
			return 2
		}
		if cv, err = findVerdict(ctx, ac, &req); err != nil {
			fmt.Fprintf(stderr, "manager explain: %v\n", err)
			return 1
		}
	}
	var records []audit.Record
	if *auditDir != "" || *auditDSN != "" {
		if records, err = requestStreams(ctx, *auditDir, *auditDSN, req.Namespace); err != nil {
			fmt.Fprintf(stderr, "manager explain: audit trail: %v\n", err)
			return 1
		}
	}
	e := explain.Report(&req, cv, records)
	if *format == "markdown" {
		fmt.Fprint(stdout, e.Markdown())
	} else {
		fmt.Fprint(stdout, e.Text())
	}
	return 0
}

// kubeClient returns a client for the cluster of a kubeconfig path ("" = default rules).
func kubeClient(path string) (client.Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	return client.New(cfg, client.Options{Scheme: newScheme()})
}

// findVerdict returns the auditor's latest ChangeVerdict for the request's current
// plan (or, when none matches the plan, for the request), nil when there is none.
func findVerdict(ctx context.Context, c client.Client, req *v1.NetworkChangeRequest) (*v1.ChangeVerdict, error) {
	var list v1.ChangeVerdictList
	if err := c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list ChangeVerdicts in the auditor cluster: %w", err)
	}
	var mine []v1.ChangeVerdict
	for _, cv := range list.Items {
		if cv.Spec.RequestRef.UID == string(req.UID) {
			mine = append(mine, cv)
		}
	}
	digest := ""
	if req.Status.Plan != nil {
		digest = req.Status.Plan.Digest
	}
	sort.SliceStable(mine, func(i, j int) bool {
		mi, mj := mine[i].Spec.PlanDigest == digest, mine[j].Spec.PlanDigest == digest
		if mi != mj {
			return mi
		}
		return mine[j].CreationTimestamp.Before(&mine[i].CreationTimestamp)
	})
	if len(mine) == 0 {
		return nil, nil
	}
	return &mine[0], nil
}

// requestStreams reads the audit streams of a namespace (control/<ns> and
// auditor/<cluster>/<ns>) from the file sink in dir or the PostgreSQL sink at dsn.
func requestStreams(ctx context.Context, dir, dsn, namespace string) ([]audit.Record, error) {
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s is not an audit directory", dir)
		}
	}
	sink, err := audit.Open(ctx, dir, dsn)
	if err != nil {
		return nil, err
	}
	defer sink.Close()
	streams, err := sink.Streams(ctx)
	if err != nil {
		return nil, err
	}
	var out []audit.Record
	for _, s := range streams {
		if !strings.HasSuffix(s, "/"+namespace) {
			continue
		}
		recs, err := sink.Read(ctx, s)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}
