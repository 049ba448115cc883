package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netchange-io/netchange/internal/audit/pgtest"
	"github.com/netchange-io/netchange/test/stack"
	"github.com/netchange-io/netchange/test/testenv"
)

// TestE2E_PostgresAuditTrail runs the roles on one shared PostgreSQL audit trail:
// the planner and executor (control cluster) and the auditor write their streams
// concurrently, the auditor signs checkpoints of every stream, the control
// streams included, and `manager audit verify` finds the trail intact and signed.
func TestE2E_PostgresAuditTrail(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	s, err := stack.Up(t.Context(), stack.Options{Dir: t.TempDir(), Assets: testenv.Assets(t), AuditDSN: dsn, Logf: t.Logf})
	if err != nil {
		t.Fatalf("start the stack: %v", err)
	}
	t.Cleanup(s.Down)
	ctx := t.Context()
	for _, sc := range stack.Scenarios() {
		if sc.Name != "block-cidr" && sc.Name != "guardduty-crypto" {
			continue
		}
		if r := s.Run(ctx, sc); r.Err != nil {
			t.Fatalf("%s: %v", sc.Name, r.Err)
		}
	}
	// The auditor checkpoints every 5 s; wait until the control stream is covered.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := runManager(s, "audit", "verify", "--postgres-dsn", dsn, "--public-keys", s.PublicKey)
		if err != nil {
			t.Fatalf("audit verify: %v\n%s", err, out)
		}
		if checkpoints(out, "control/"+stack.RequestNamespace) > 0 && checkpoints(out, "auditor/"+stack.ControlClusterName+"/"+stack.RequestNamespace) > 0 {
			t.Log(out)
			if !strings.Contains(out, "result: intact") {
				t.Fatalf("audit verify:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no signed checkpoint of the control and auditor streams:\n%s", out)
		}
		time.Sleep(time.Second)
	}
}

// checkpoints returns the CHECKPOINTS column of stream's row in `audit verify` output.
func checkpoints(out, stream string) int {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == stream {
			n, _ := strconv.Atoi(f[3])
			return n
		}
	}
	return 0
}
