// Package samples checks that config/samples is accepted by a real API server and
// that malformed requests are refused with messages naming the field to fix.
package samples

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netchange-io/netchange/test/testenv"
)

func kubectl(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	bin := filepath.Join(testenv.Assets(t), "kubectl")
	cmd := exec.Command(bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSamples_serverDryRun applies every sample with --dry-run=server.
func TestSamples_serverDryRun(t *testing.T) {
	cl := testenv.StartCluster(t)
	// The default ChangePolicy lives in the auditor's namespace.
	testenv.CreateNamespace(t, cl.Client, "netchange-auditor", nil)
	samples := filepath.Join(testenv.RepoRoot(), "config", "samples")
	out, err := kubectl(t, cl.Kubeconfig, "apply", "--dry-run=server", "-R", "-f", samples)
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server -R -f config/samples: %v\n%s", err, out)
	}
	for _, want := range []string{"block-malicious-scanner", "guardduty-bitcoin-tool", "allow-https-to-payments", "incident-4711", "changepolicy.netchange.io/default"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output does not mention %s:\n%s", want, out)
		}
	}

	bad := []struct{ file, want string }{
		{"bad-cidr.yaml", "targets.cidrs: every entry must be a CIDR block"},
		{"empty-intent.yaml", "spec.intent"},
	}
	for _, b := range bad {
		t.Run(b.file, func(t *testing.T) {
			out, err := kubectl(t, cl.Kubeconfig, "apply", "--dry-run=server", "-f", filepath.Join("testdata", b.file))
			if err == nil {
				t.Fatalf("want %s refused, got accepted:\n%s", b.file, out)
			}
			if !strings.Contains(out, b.want) {
				t.Fatalf("want a message naming %q, got:\n%s", b.want, out)
			}
		})
	}
}
