// Package stack runs the whole product on one machine: two real API servers
// (control and auditor), moto_server as AWS with a seeded estate, and the manager
// binary in its three roles as separate processes, each with only the credentials
// it would have in production. `make demo`, `make dev-up` and test/e2e use it.
package stack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/netchange-io/netchange/internal/llm/llmtest"
	"github.com/netchange-io/netchange/test/estate"
	"github.com/netchange-io/netchange/test/testenv"
)

// Namespaces and names the stack uses.
const (
	// AuditorNamespace holds the policy, verdicts, approvals and the signing key in the auditor cluster.
	AuditorNamespace = "netchange-auditor"
	// PolicyName is the ChangePolicy the auditor uses (config/samples/changepolicy-default.yaml).
	PolicyName = "default"
	// RequestNamespace is where the demo files its requests in the control cluster.
	RequestNamespace = "default"
	// ControlClusterName is the control cluster's name in verdicts.
	ControlClusterName = "control"
)

// Options configure Up.
type Options struct {
	// Dir holds kubeconfigs, keys, the audit trail and process logs. Required.
	Dir string
	// Assets is the envtest assets directory (hack/envtest-assets.sh); required.
	Assets string
	// ManagerBin is a built manager binary; when empty Up builds one into Dir.
	ManagerBin string
	// LLM enables the llm planner in the planner process (for requests annotated
	// netchange.io/planner=llm), served by an in-process scripted wire-format server.
	LLM bool
	// AuditDSN, when set, makes every role write the audit trail to this PostgreSQL
	// database (one shared trail, whose control streams the auditor checkpoints too)
	// instead of per-cluster file sinks under Dir/audit.
	AuditDSN string
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

// Stack is a running local netchange.
type Stack struct {
	// Control is the control cluster (requests, planner, executor).
	Control *testenv.Cluster
	// Auditor is the auditor cluster (policy, verdicts, approvals, auditor).
	Auditor *testenv.Cluster
	// Moto is the AWS emulator.
	Moto *testenv.Moto
	// AWS is an aws.Config for Moto (used by tests and the demo to read AWS state).
	AWS aws.Config
	// Estate is the seeded AWS estate.
	Estate *estate.Estate
	// LLM is the scripted LLM server, when Options.LLM is set.
	LLM *llmtest.Server
	// Dir is the working directory.
	Dir string
	// Bin is the manager binary.
	Bin string
	// MetricsURL maps a role to its metrics endpoint.
	MetricsURL map[string]string
	// PublicKey is the path of the auditor's public key (trusted by the executor).
	PublicKey string

	opts    Options
	procs   []*exec.Cmd
	llmSrv  *httptest.Server
	cleanup []func()
}

func (s *Stack) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// Up starts everything. On error it stops what it started.
func Up(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Dir == "" || opts.Assets == "" {
		return nil, errors.New("stack: Dir and Assets are required")
	}
	s := &Stack{opts: opts, Dir: opts.Dir, MetricsURL: map[string]string{}}
	defer func() {
		if err != nil {
			s.Down()
		}
	}()
	for _, d := range []string{"kube", "keys", "audit/control", "audit/auditor", "logs"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := s.buildManager(ctx); err != nil {
		return nil, err
	}
	s.logf("starting two API servers (control, auditor) and moto_server")
	for _, name := range []string{"control", "auditor"} {
		c, err := testenv.Start(name, opts.Assets, filepath.Join(s.Dir, "kube"))
		if err != nil {
			return nil, err
		}
		s.cleanup = append(s.cleanup, func() { _ = c.Stop() })
		if name == "control" {
			s.Control = c
		} else {
			s.Auditor = c
		}
	}
	if s.Moto, err = testenv.StartMotoServer(); err != nil {
		return nil, err
	}
	s.cleanup = append(s.cleanup, s.Moto.Stop)
	if s.AWS, err = estate.MotoConfig(ctx, s.Moto.Endpoint); err != nil {
		return nil, err
	}
	s.logf("seeding the AWS estate in moto (VPCs, subnets, NACLs, security groups, routes, instances, prefix list, WAF IP set)")
	if s.Estate, err = estate.SeedFresh(ctx, s.AWS, s.Moto.Reset); err != nil {
		return nil, fmt.Errorf("seed moto: %w", err)
	}
	if err := s.installControl(ctx); err != nil {
		return nil, err
	}
	if err := s.installAuditor(ctx); err != nil {
		return nil, err
	}
	if opts.LLM {
		s.LLM = llmtest.New()
		s.llmSrv = httptest.NewServer(s.LLM)
		s.LLM.URL = s.llmSrv.URL
		s.cleanup = append(s.cleanup, func() { s.LLM.Close(); s.llmSrv.Close() })
	}
	if err := s.startRoles(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stack) buildManager(ctx context.Context) error {
	if s.opts.ManagerBin != "" {
		s.Bin = s.opts.ManagerBin
		return nil
	}
	s.Bin = filepath.Join(s.Dir, "manager")
	s.logf("building the manager binary")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", s.Bin, "./cmd/manager")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build manager: %w\n%s", err, out)
	}
	return nil
}

// installControl installs the roles' RBAC and the requester admission policy.
func (s *Stack) installControl(ctx context.Context) error {
	root := testenv.RepoRoot()
	for _, f := range []string{"config/rbac/planner/role.yaml", "config/rbac/executor/role.yaml",
		"config/rbac/auditor-control/role.yaml", "config/rbac/users/requester.yaml", "config/admission/control-requester.yaml"} {
		if err := ApplyFile(ctx, s.Control.Client, filepath.Join(root, f)); err != nil {
			return err
		}
	}
	return BindUsers(ctx, s.Control.Client, "netchange-requester", Requester)
}

// BindUsers binds a ClusterRole to users.
func BindUsers(ctx context.Context, c client.Client, role string, users ...string) error {
	b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role + "-users"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}}
	for _, u := range users {
		b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u})
	}
	if err := c.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bind %s: %w", role, err)
	}
	return nil
}

// installAuditor installs the auditor's RBAC, the approver admission policy, the
// default policy and a fresh signing key.
func (s *Stack) installAuditor(ctx context.Context) error {
	root := testenv.RepoRoot()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: AuditorNamespace}}
	if err := s.Auditor.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := ApplyDir(ctx, s.Auditor.Client, filepath.Join(root, "config/rbac/auditor")); err != nil {
		return err
	}
	for _, f := range []string{"config/rbac/users/approver.yaml", "config/admission/auditor-approver.yaml"} {
		if err := ApplyFile(ctx, s.Auditor.Client, filepath.Join(root, f)); err != nil {
			return err
		}
	}
	if err := BindUsers(ctx, s.Auditor.Client, "netchange-approver", Requester, Approver1, Approver2); err != nil {
		return err
	}
	if err := ApplyFile(ctx, s.Auditor.Client, filepath.Join(root, "config/samples/changepolicy-default.yaml")); err != nil {
		return err
	}
	keys := filepath.Join(s.Dir, "keys")
	s.PublicKey = filepath.Join(keys, "ed25519.pub")
	if _, err := os.Stat(s.PublicKey); err == nil {
		// A state directory used before (make dev-up again): keep its key, so the
		// signed checkpoints already in its audit trail still verify.
		return nil
	}
	if out, err := exec.CommandContext(ctx, s.Bin, "keygen", "--out-dir", keys).CombinedOutput(); err != nil {
		return fmt.Errorf("manager keygen: %w\n%s", err, out)
	}
	return nil
}

// startRoles starts planner, auditor and executor, each as its own identity.
func (s *Stack) startRoles(ctx context.Context) error {
	kube := filepath.Join(s.Dir, "kube")
	planner, err := NewIdentity(ctx, s.Control, "netchange-planner", "netchange-planner", kube)
	if err != nil {
		return err
	}
	executor, err := NewIdentity(ctx, s.Control, "netchange-executor", "netchange-executor", kube)
	if err != nil {
		return err
	}
	auditorControl, err := NewIdentity(ctx, s.Control, "netchange-auditor", "netchange-auditor-control", kube)
	if err != nil {
		return err
	}
	auditor, err := NewIdentity(ctx, s.Auditor, "netchange-auditor", "netchange-auditor", kube)
	if err != nil {
		return err
	}

	awsEnv := []string{
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_REGION=" + s.Estate.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	plannerArgs := []string{"--role=planner", "--kubeconfig=" + planner.Kubeconfig,
		"--planner=rules", "--aws-region=" + s.Estate.Region, "--aws-endpoint-url=" + s.Moto.Endpoint}
	plannerArgs = append(plannerArgs, s.auditArgs("control")...)
	plannerEnv := awsEnv
	if s.LLM != nil {
		plannerArgs = append(plannerArgs, "--llm-provider=openai", "--llm-model=scripted-demo-model",
			"--llm-base-url="+s.LLM.OpenAIBaseURL(), "--llm-max-attempts=2", "--llm-timeout=20s")
		plannerEnv = append(plannerEnv, "OPENAI_API_KEY=scripted-local-server")
	}
	if err := s.startRole(ctx, "planner", plannerArgs, plannerEnv); err != nil {
		return err
	}
	auditorArgs := []string{"--role=auditor", "--kubeconfig=" + auditor.Kubeconfig,
		"--control-cluster=" + ControlClusterName + "=" + auditorControl.Kubeconfig,
		"--signing-key=" + filepath.Join(s.Dir, "keys", "ed25519.key"),
		"--policy=" + AuditorNamespace + "/" + PolicyName, "--checkpoint-interval=5s"}
	auditorArgs = append(auditorArgs, s.auditArgs("auditor")...)
	// The auditor gets no AWS credentials at all.
	if err := s.startRole(ctx, "auditor", auditorArgs, nil); err != nil {
		return err
	}
	executorArgs := []string{"--role=executor", "--kubeconfig=" + executor.Kubeconfig,
		"--cluster-name=" + ControlClusterName,
		"--aws-region=" + s.Estate.Region, "--aws-endpoint-url=" + s.Moto.Endpoint,
		"--verdict-public-keys=" + s.PublicKey}
	executorArgs = append(executorArgs, s.auditArgs("control")...)
	return s.startRole(ctx, "executor", executorArgs, awsEnv)
}

// auditArgs are the audit sink flags of a role whose file sink lives in Dir/audit/<side>.
func (s *Stack) auditArgs(side string) []string {
	if s.opts.AuditDSN != "" {
		return []string{"--audit-postgres-dsn=" + s.opts.AuditDSN}
	}
	return []string{"--audit-dir=" + filepath.Join(s.Dir, "audit", side)}
}

// baseEnv is the environment of a role process: PATH and an empty HOME of its
// own, plus extra. Nothing leaks from the caller: no AWS credentials, no
// ~/.aws files, no KUBECONFIG.
func baseEnv(home string, extra []string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
	return append(env, extra...)
}

func (s *Stack) startRole(ctx context.Context, role string, args, env []string) error {
	metricsPort, err := testenv.FreePort()
	if err != nil {
		return err
	}
	probePort, err := testenv.FreePort()
	if err != nil {
		return err
	}
	args = append(args,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort))
	logPath := filepath.Join(s.Dir, "logs", role+".log")
	home := filepath.Join(s.Dir, "home", role)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.Bin, args...)
	cmd.Env = baseEnv(home, env)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", role, err)
	}
	s.procs = append(s.procs, cmd)
	s.cleanup = append(s.cleanup, func() { logFile.Close() })
	s.MetricsURL[role] = fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	s.logf("started %s (pid %d, log %s)", role, cmd.Process.Pid, logPath)
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	tail, _ := os.ReadFile(logPath)
	return fmt.Errorf("%s did not become ready; log %s:\n%s", role, logPath, lastLines(string(tail), 30))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Down stops every process the stack started (by PID), then moto and the API servers.
func (s *Stack) Down() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		stopProcess(s.procs[i])
	}
	s.procs = nil
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
	s.cleanup = nil
}

func stopProcess(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// PIDs returns the PIDs of the role processes.
func (s *Stack) PIDs() []int {
	out := make([]int, 0, len(s.procs))
	for _, p := range s.procs {
		out = append(out, p.Process.Pid)
	}
	return out
}

// As returns a control-cluster client acting as user.
func (s *Stack) As(user string) (client.Client, error) {
	return client.New(s.Control.UserConfig(user), client.Options{Scheme: testenv.Scheme()})
}

// AuditorAs returns an auditor-cluster client acting as user.
func (s *Stack) AuditorAs(user string) (client.Client, error) {
	return client.New(s.Auditor.UserConfig(user), client.Options{Scheme: testenv.Scheme()})
}

// Logs returns the last lines of a role's log.
func (s *Stack) Logs(role string, n int) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "logs", role+".log"))
	return lastLines(string(b), n)
}

// RunCommand runs a command and returns its combined output.
func RunCommand(ctx context.Context, bin string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}
