// Command demo runs netchange end to end on one machine: two local API servers
// (control and auditor), moto_server as AWS with a seeded estate, and the manager
// in its three roles as separate processes. It files the demo's requests, waits for
// each, prints a summary, `kubectl get ncr -o wide`, one explain report and the
// audit trail's verification, then stops everything it started.
//
// With --dev-up it only starts the stack, writes the environment to STATE_DIR/env
// and waits for SIGTERM (hack/dev-up.sh runs it in the background).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/netchange-io/netchange/test/stack"
)

func main() {
	devUp := flag.Bool("dev-up", false, "start the stack, write STATE_DIR/env and wait for SIGTERM")
	stateDir := flag.String("state-dir", "", "working directory (default: a new temporary directory; .local/dev for --dev-up)")
	assets := flag.String("assets", os.Getenv("KUBEBUILDER_ASSETS"), "envtest assets directory (hack/envtest-assets.sh prints it)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if *devUp {
		err = runDevUp(ctx, *stateDir, *assets)
	} else {
		err = runDemo(ctx, *stateDir, *assets)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Printf("  · "+format+"\n", args...)
}

// up starts the stack; withLLM also serves the scripted model the misbehaving-model
// scenario needs (dev-up leaves it out: the rules planner handles everything).
func up(ctx context.Context, dir, assets string, withLLM bool) (*stack.Stack, error) {
	if assets == "" {
		return nil, fmt.Errorf("no envtest assets: pass --assets \"$(hack/envtest-assets.sh)\"")
	}
	return stack.Up(ctx, stack.Options{Dir: dir, Assets: assets, LLM: withLLM, Logf: logf})
}

func runDemo(ctx context.Context, dir, assets string) error {
	start := time.Now()
	if dir == "" {
		d, err := os.MkdirTemp("", "netchange-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	fmt.Println("netchange demo: local control planes, moto as AWS, the rules planner (no LLM key needed)")
	s, err := up(ctx, dir, assets, true)
	if err != nil {
		return err
	}
	defer func() {
		s.Down()
		fmt.Println("\nstopped every process the demo started")
	}()
	fmt.Printf("  · stack ready in %.0fs\n\n", time.Since(start).Seconds())
	fmt.Println("The misbehaving-model scenario runs the llm planner for that one request, against the")
	fmt.Println("project's own scripted OpenAI-wire-format server (no real model is called).")
	fmt.Println()

	scenarios := stack.Scenarios()
	results := make([]stack.Result, len(scenarios))
	// Every scenario but the freeze runs at once; the freeze holds all changes, so it runs last.
	var wg sync.WaitGroup
	for i, sc := range scenarios {
		if sc.Name == "freeze" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.Run(ctx, sc)
		}()
	}
	wg.Wait()
	for i, sc := range scenarios {
		if sc.Name == "freeze" {
			results[i] = s.Run(ctx, sc)
		}
	}

	failed := 0
	tw := tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tREQUEST\tDECISION\tPHASE\tACTIONS\tSECONDS\tRESULT")
	for _, r := range results {
		verdict := "ok"
		if r.Err != nil {
			verdict = "FAILED"
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.1f\t%s\n", r.Scenario, r.Request, r.Decision, r.Phase, r.Actions, r.Seconds, verdict)
	}
	tw.Flush()
	fmt.Println()
	for _, r := range results {
		fmt.Printf("%s: %s\n", r.Scenario, r.Expected)
		for _, n := range r.Notes {
			fmt.Printf("    %s\n", n)
		}
		if r.Err != nil {
			fmt.Printf("    FAILED: %v\n", r.Err)
		}
	}

	fmt.Println("\n$ kubectl get ncr -o wide")
	kubectl := filepath.Join(assets, "kubectl")
	show(exec.CommandContext(ctx, kubectl, "--kubeconfig", s.Control.Kubeconfig, "get", "ncr", "-n", stack.RequestNamespace, "-o", "wide"))

	fmt.Println("\n$ manager explain block-malicious-scanner")
	show(exec.CommandContext(ctx, s.Bin, "explain", "--kubeconfig", s.Control.Kubeconfig,
		"--auditor-kubeconfig", s.Auditor.Kubeconfig, "--namespace", stack.RequestNamespace,
		"--audit-dir", filepath.Join(dir, "audit/control"), "block-malicious-scanner"))

	for _, side := range []string{"control", "auditor"} {
		fmt.Printf("\n$ manager audit verify --dir audit/%s\n", side)
		if err := show(exec.CommandContext(ctx, s.Bin, "audit", "verify", "--dir", filepath.Join(dir, "audit", side),
			"--public-keys", s.PublicKey)); err != nil {
			failed++
		}
	}
	fmt.Printf("\ndemo finished in %.0fs: %d of %d scenarios as expected\n", time.Since(start).Seconds(), len(results)-failed, len(results))
	if failed > 0 {
		for _, role := range []string{"planner", "auditor", "executor"} {
			fmt.Printf("\n--- last lines of the %s log ---\n%s\n", role, s.Logs(role, 15))
		}
		return fmt.Errorf("%d checks failed", failed)
	}
	return nil
}

func show(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	fmt.Print(string(out))
	if err != nil {
		fmt.Printf("(%s: %v)\n", filepath.Base(cmd.Path), err)
	}
	return err
}

func runDevUp(ctx context.Context, dir, assets string) error {
	if dir == "" {
		dir = ".local/dev"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, "ready"))
	s, err := up(ctx, dir, assets, false)
	if err != nil {
		return err
	}
	defer s.Down()
	env := fmt.Sprintf(`# netchange dev stack (make dev-down stops it)
export KUBECONFIG_CONTROL=%s
export KUBECONFIG_AUDITOR=%s
export AWS_ENDPOINT_URL=%s
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=%s
export NETCHANGE_AUDIT_DIR=%s
# Seeded estate: production NACL %s, payments SG %s, crypto instance %s, prod route table %s
# File requests as alice (the requester admission policy checks the annotation):
#   kubectl --kubeconfig "$KUBECONFIG_CONTROL" --as alice apply -f config/samples/ncr-block-malicious-cidr.yaml
# Approve escalations in the auditor cluster as bob/carol (ChangeApproval in namespace %s).
`, s.Control.Kubeconfig, s.Auditor.Kubeconfig, s.Moto.Endpoint, s.Estate.Region, filepath.Join(dir, "audit"),
		s.Estate.ProdNACL, s.Estate.PaymentsSG, s.Estate.CryptoInstance, s.Estate.ProdRouteTable, stack.AuditorNamespace)
	if err := os.WriteFile(filepath.Join(dir, "env"), []byte(env), 0o644); err != nil {
		return err
	}
	pids := []string{strconv.Itoa(os.Getpid())}
	for _, p := range s.PIDs() {
		pids = append(pids, strconv.Itoa(p))
	}
	pids = append(pids, strconv.Itoa(s.Moto.PID()))
	if err := os.WriteFile(filepath.Join(dir, "pids"), []byte(strings.Join(pids, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
