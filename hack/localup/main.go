// Command localup starts N local Kubernetes API servers (kube-apiserver + etcd each,
// the netchange CRDs installed, an admin kubeconfig per cluster) and a moto_server,
// all on free loopback ports, records their PIDs and stays in the foreground until
// SIGTERM/SIGINT, when it stops exactly what it started. hack/local-up.sh runs it in
// the background; hack/local-down.sh stops it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/netchange-io/netchange/test/testenv"
)

func main() {
	stateDir := flag.String("state-dir", ".local/dev", "directory for kubeconfigs, the env file and the PID file")
	clusters := flag.String("clusters", "control,auditor", "comma-separated names of the clusters to start")
	assets := flag.String("assets", os.Getenv("KUBEBUILDER_ASSETS"), "directory with kube-apiserver, etcd and kubectl (hack/envtest-assets.sh prints it)")
	withMoto := flag.Bool("moto", true, "also start moto_server")
	flag.Parse()
	if err := run(*stateDir, strings.Split(*clusters, ","), *assets, *withMoto); err != nil {
		fmt.Fprintln(os.Stderr, "localup:", err)
		os.Exit(1)
	}
}

func run(stateDir string, names []string, assets string, withMoto bool) error {
	if assets == "" {
		return fmt.Errorf("no envtest assets: pass --assets \"$(hack/envtest-assets.sh)\"")
	}
	stateDir, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	_ = os.Remove(filepath.Join(stateDir, "ready"))

	var started []*testenv.Cluster
	var moto *testenv.Moto
	stopAll := func() {
		if moto != nil {
			moto.Stop()
		}
		for i := len(started) - 1; i >= 0; i-- {
			if err := started[i].Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "localup: stop %s: %v\n", started[i].Name, err)
			}
		}
	}
	defer stopAll()

	var env strings.Builder
	for _, name := range names {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		c, err := testenv.Start(name, assets, stateDir)
		if err != nil {
			return err
		}
		started = append(started, c)
		fmt.Fprintf(&env, "export KUBECONFIG_%s=%s\n", strings.ToUpper(name), c.Kubeconfig)
	}
	if withMoto {
		moto, err = testenv.StartMotoServer()
		if err != nil {
			return err
		}
		fmt.Fprintf(&env, "export AWS_ENDPOINT_URL=%s\n", moto.Endpoint)
		env.WriteString("export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1\n")
	}
	if err := os.WriteFile(filepath.Join(stateDir, "env"), []byte(env.String()), 0o644); err != nil {
		return err
	}
	// The PID file lists this supervisor first, then every process it started
	// (API servers, etcd, moto), so local-down can stop exactly those.
	pids := []string{strconv.Itoa(os.Getpid())}
	for _, p := range childPIDs(os.Getpid()) {
		pids = append(pids, strconv.Itoa(p))
	}
	if err := os.WriteFile(filepath.Join(stateDir, "pids"), []byte(strings.Join(pids, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(stateDir, "ready"), nil, 0o644); err != nil {
		return err
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return nil
}

// childPIDs returns the PIDs whose parent is ppid, from /proc.
func childPIDs(ppid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Format: pid (comm) state ppid ...; comm may contain spaces, so cut after ')'.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) > 1 {
			if p, _ := strconv.Atoi(fields[1]); p == ppid {
				out = append(out, pid)
			}
		}
	}
	return out
}
