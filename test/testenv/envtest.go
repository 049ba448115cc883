// Package testenv starts real parts for tests: one or several kube-apiservers
// (envtest) with the netchange CRDs installed, and a moto_server for AWS.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	netchangev1alpha1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// Cluster is one running kube-apiserver with the netchange CRDs installed.
type Cluster struct {
	// Name is the cluster's name in the test (e.g. "control", "auditor").
	Name string
	// Env is the envtest environment that runs it.
	Env *envtest.Environment
	// Config is an admin rest.Config for it.
	Config *rest.Config
	// Client is an admin client with the netchange scheme.
	Client client.Client
	// Kubeconfig is the path of an admin kubeconfig file for it.
	Kubeconfig string
}

// Scheme returns a scheme with the Kubernetes built-in kinds and netchange's.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = netchangev1alpha1.AddToScheme(s)
	return s
}

// RepoRoot returns the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	assetsOnce sync.Once
	assetsDir  string
	assetsErr  error
)

// Assets returns the directory with kube-apiserver, etcd and kubectl, from
// KUBEBUILDER_ASSETS or by running hack/envtest-assets.sh (which builds and caches them).
func Assets(t testing.TB) string {
	t.Helper()
	assetsOnce.Do(func() {
		if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
			assetsDir = dir
			return
		}
		cmd := exec.Command("bash", filepath.Join(RepoRoot(), "hack", "envtest-assets.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		assetsDir, assetsErr = strings.TrimSpace(string(out)), err
	})
	if assetsErr != nil {
		t.Fatalf("envtest assets: %v (run hack/envtest-assets.sh to see why)", assetsErr)
	}
	return assetsDir
}

// StartClusters starts one API server per name, installs the CRDs from
// config/crd/bases in each, and stops them when the test ends.
func StartClusters(t testing.TB, names ...string) []*Cluster {
	t.Helper()
	assets := Assets(t)
	dir := t.TempDir()
	clusters := make([]*Cluster, 0, len(names))
	for _, name := range names {
		c, err := Start(name, assets, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := c.Stop(); err != nil {
				t.Logf("stop %s API server: %v", name, err)
			}
		})
		clusters = append(clusters, c)
	}
	return clusters
}

// Start starts one API server named name from the binaries in assets, installs
// the CRDs and writes an admin kubeconfig into dir. Stop it with Stop.
func Start(name, assets, dir string) (*Cluster, error) {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start %s API server: %w", name, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("client for %s: %w", name, err)
	}
	kubeconfig := filepath.Join(dir, name+".kubeconfig")
	if err := WriteKubeconfig(cfg, name, kubeconfig); err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("kubeconfig for %s: %w", name, err)
	}
	return &Cluster{Name: name, Env: env, Config: cfg, Client: c, Kubeconfig: kubeconfig}, nil
}

// Stop stops the cluster's API server and etcd.
func (c *Cluster) Stop() error { return c.Env.Stop() }

// StartCluster starts a single API server; see StartClusters.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	return StartClusters(t, "control")[0]
}

// UserConfig returns a rest.Config for the cluster that impersonates a user with groups.
func (c *Cluster) UserConfig(user string, groups ...string) *rest.Config {
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return cfg
}

// UserClient returns a client that acts as user (with groups) through impersonation.
func (c *Cluster) UserClient(t testing.TB, user string, groups ...string) client.Client {
	t.Helper()
	uc, err := client.New(c.UserConfig(user, groups...), client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatalf("client for %s: %v", user, err)
	}
	return uc
}

// BindClusterRole binds a ClusterRole to a user or service account subject.
func BindClusterRole(t testing.TB, c client.Client, role string, subject rbacv1.Subject) {
	t.Helper()
	b := &rbacv1.ClusterRoleBinding{}
	b.Name = role + "-" + strings.ReplaceAll(strings.ToLower(subject.Name), ":", "-")
	b.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}
	b.Subjects = []rbacv1.Subject{subject}
	if err := c.Create(t.Context(), b); err != nil {
		t.Fatalf("bind %s to %s: %v", role, subject.Name, err)
	}
}

// CreateNamespace creates a namespace.
func CreateNamespace(t testing.TB, c client.Client, name string, annotations map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{}
	ns.Name = name
	ns.Annotations = annotations
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// RunManager starts mgr until the test ends, then stops it and fails the test if
// it stopped with an error.
func RunManager(t testing.TB, mgr manager.Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}

// NewManager returns a controller manager for a test against cfg: the netchange
// scheme, no metrics or probe listeners, and controller names that may repeat
// across the managers a test starts and stops.
func NewManager(t testing.TB, cfg *rest.Config) manager.Manager {
	t.Helper()
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:                 Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("create manager: %v", err)
	}
	return mgr
}
