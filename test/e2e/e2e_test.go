// Package e2e runs the whole product as a user would: two real API servers
// (control and auditor), moto_server with a seeded estate, and the manager binary
// in its three roles as separate processes (test/stack, the same stack as
// `make demo`). Assertions read AWS state through the SDK from moto and the
// requests' status from the API server.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/test/stack"
	"github.com/netchange-io/netchange/test/testenv"
)

// one stack for the package: starting it takes ~20 s.
func startStack(t *testing.T) *stack.Stack {
	t.Helper()
	s, err := stack.Up(t.Context(), stack.Options{Dir: t.TempDir(), Assets: testenv.Assets(t), LLM: true, Logf: t.Logf})
	if err != nil {
		t.Fatalf("start the stack: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, role := range []string{"planner", "auditor", "executor"} {
				t.Logf("--- %s log ---\n%s", role, s.Logs(role, 40))
			}
		}
		s.Down()
	})
	return s
}

// TestE2E runs the demo's scenarios, then checks what they leave behind.
func TestE2E(t *testing.T) {
	s := startStack(t)
	ctx := t.Context()

	t.Run("roles have only their own credentials", func(t *testing.T) {
		for role, pid := range map[string]int{"planner": s.PIDs()[0], "auditor": s.PIDs()[1], "executor": s.PIDs()[2]} {
			env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			if err != nil {
				t.Fatalf("read %s environment: %v", role, err)
			}
			hasAWS := strings.Contains(string(env), "AWS_ACCESS_KEY_ID=") || strings.Contains(string(env), "AWS_SECRET_ACCESS_KEY=")
			if role == "auditor" && hasAWS {
				t.Errorf("the auditor process has AWS credentials in its environment")
			}
			if role != "auditor" && !hasAWS {
				t.Errorf("the %s process has no AWS credentials", role)
			}
		}
	})

	for _, sc := range stack.Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			r := s.Run(ctx, sc)
			for _, n := range r.Notes {
				t.Log(n)
			}
			if r.Err != nil {
				t.Fatalf("%s: %v", sc.Expected, r.Err)
			}
			assertConditions(t, r.Final)
		})
	}

	t.Run("guardduty severity matrix", func(t *testing.T) {
		e := s.Estate
		cases := []struct {
			name     string
			severity float64
			want     v1.Phase
		}{
			{"gd-sev5-human", 5, v1.PhaseAwaitingHumanApproval},
			{"gd-sev2-none", 2, v1.PhaseNoAction},
		}
		for _, tc := range cases {
			req := stack.NewRequest(tc.name, v1.EnvironmentProduction, "GuardDuty finding on "+e.ProdWebInstance)
			req.Spec.Source = &v1.Source{Type: v1.SourceGuardDuty, Event: e.GuardDutyFinding(e.ProdWebInstance, tc.severity)}
			if err := s.Submit(ctx, req); err != nil {
				t.Fatal(err)
			}
			got, err := s.WaitPhase(ctx, tc.name, 60*time.Second, tc.want)
			if err != nil {
				t.Fatalf("severity %.0f: %v", tc.severity, err)
			}
			if tc.want == v1.PhaseNoAction && got.Status.Execution != nil {
				t.Errorf("severity %.0f: executor acted on a NoAction request", tc.severity)
			}
		}
		groups, err := s.SGIngress(ctx, e.ProdWebSG, "tcp", 443, "0.0.0.0/0")
		if err != nil || !groups {
			t.Errorf("prod-web changed by a finding that needed a human (err %v)", err)
		}
	})

	t.Run("requester cannot approve own request", func(t *testing.T) {
		req := stack.NewRequest("route-self-approve", v1.EnvironmentProduction,
			fmt.Sprintf("Route 10.60.0.0/16 via %s in %s", s.Estate.ProdIGW, s.Estate.ProdRouteTable))
		if err := s.Submit(ctx, req); err != nil {
			t.Fatal(err)
		}
		got, err := s.WaitPhase(ctx, req.Name, 60*time.Second, v1.PhaseAwaitingHumanApproval)
		if err != nil {
			t.Fatal(err)
		}
		// alice is the requester: her approval may be created but must not count.
		_ = s.Approve(ctx, got, stack.Requester, v1.ApprovalApprove)
		if err := s.Approve(ctx, got, stack.Approver1, v1.ApprovalApprove); err != nil {
			t.Fatal(err)
		}
		held, err := s.Wait(ctx, req.Name, 5*time.Second, "still waiting", func(q *v1.NetworkChangeRequest) bool {
			return q.Status.Phase != v1.PhaseAwaitingHumanApproval
		})
		if err == nil {
			t.Fatalf("requester's own approval counted: phase %s", held.Status.Phase)
		}
		if target, _ := s.RouteTarget(ctx, s.Estate.ProdRouteTable, "10.60.0.0/16"); target != "" {
			t.Fatalf("route applied with one outside approval: %s", target)
		}
	})

	t.Run("stale plan is re-planned, re-judged and applied", func(t *testing.T) {
		// Hold execution with a freeze, change AWS under the approved plan, lift
		// the freeze: the executor must refuse the stale plan, the planner re-plan,
		// the auditor approve the new plan, and only then the change be applied.
		fz, err := s.FreezeFor(ctx, "stale-freeze", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		req := stack.NewRequest("block-stale", v1.EnvironmentDevelopment, "Block 192.0.2.0/24 from the development subnets")
		if err := s.Submit(ctx, req); err != nil {
			t.Fatal(err)
		}
		held, err := s.Wait(ctx, req.Name, 60*time.Second, "held by the freeze", func(q *v1.NetworkChangeRequest) bool {
			c := meta.FindStatusCondition(q.Status.Conditions, v1.ConditionReady)
			return c != nil && c.Reason == v1.ReasonFrozen
		})
		if err != nil {
			t.Fatal(err)
		}
		firstDigest := held.Status.Plan.Digest
		// Someone changes the development NACL out of band.
		if _, err := ec2.NewFromConfig(s.AWS).CreateNetworkAclEntry(ctx, &ec2.CreateNetworkAclEntryInput{
			NetworkAclId: aws.String(s.Estate.DevNACL), RuleNumber: aws.Int32(42), Protocol: aws.String("6"),
			RuleAction: ec2types.RuleActionAllow, Egress: aws.Bool(false), CidrBlock: aws.String("198.18.0.0/15"),
			PortRange: &ec2types.PortRange{From: aws.Int32(8443), To: aws.Int32(8443)},
		}); err != nil {
			t.Fatalf("change AWS out of band: %v", err)
		}
		if err := s.Control.Client.Delete(ctx, fz); err != nil {
			t.Fatal(err)
		}
		final, err := s.WaitPhase(ctx, req.Name, 90*time.Second, v1.PhaseSucceeded)
		if err != nil {
			t.Fatal(err)
		}
		if final.Status.Plan.Digest == firstDigest || final.Status.Plan.Trigger != "stale" {
			t.Errorf("plan digest %s (was %s), trigger %q: want a new plan made because the old one was stale",
				final.Status.Plan.Digest, firstDigest, final.Status.Plan.Trigger)
		}
		if final.Status.Verdict == nil || final.Status.Verdict.Statement.PlanDigest != final.Status.Plan.Digest {
			t.Errorf("the verdict does not cover the new plan")
		}
		if hits, err := s.NACLDenies(ctx, s.Estate.DevNACL, "192.0.2.0/24"); err != nil || len(hits) != 1 {
			t.Errorf("want exactly one deny entry for 192.0.2.0/24, got %d (err %v)", len(hits), err)
		}
	})

	t.Run("metrics show the counts of the run", func(t *testing.T) {
		var list v1.NetworkChangeRequestList
		if err := s.Control.Client.List(ctx, &list); err != nil {
			t.Fatal(err)
		}
		byPhase := map[v1.Phase]float64{}
		for _, r := range list.Items {
			byPhase[r.Status.Phase]++
		}
		// The executor's collector reports request phases every 5 s.
		deadline := time.Now().Add(30 * time.Second)
		for {
			body := scrape(t, s.MetricsURL["executor"])
			mismatch := ""
			for _, ph := range []v1.Phase{v1.PhaseSucceeded, v1.PhaseVetoed, v1.PhaseAwaitingHumanApproval, v1.PhaseNoAction} {
				if got := metricValue(body, fmt.Sprintf(`netchange_requests{phase="%s"}`, ph)); got != byPhase[ph] {
					mismatch += fmt.Sprintf(" %s: metric %v, requests %v;", ph, got, byPhase[ph])
				}
			}
			if mismatch == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("netchange_requests does not match the requests:%s", mismatch)
			}
			time.Sleep(time.Second)
		}
		body := scrape(t, s.MetricsURL["executor"])
		if metricValue(body, `netchange_aws_api_calls_total{operation="CreateNetworkAclEntry",result="ok"}`) < 3 {
			t.Errorf("executor metrics count fewer than 3 CreateNetworkAclEntry calls (three blocks were applied)")
		}
		if got := metricValue(scrape(t, s.MetricsURL["auditor"]), `netchange_auditor_decisions_total{decision="Veto",path="ScopeCheck"}`); got != 1 {
			t.Errorf("auditor veto count %v, want 1 (the misbehaving model's plan)", got)
		}
	})

	t.Run("events record each role's transitions", func(t *testing.T) {
		// Events are written asynchronously by the roles' recorders: poll.
		deadline := time.Now().Add(20 * time.Second)
		for {
			var events corev1.EventList
			if err := s.Control.Client.List(ctx, &events, client.InNamespace(stack.RequestNamespace)); err != nil {
				t.Fatal(err)
			}
			by := map[string][]string{}
			for _, e := range events.Items {
				if e.InvolvedObject.Name == "block-malicious-scanner" {
					by[e.Source.Component] = append(by[e.Source.Component], e.Reason)
				}
			}
			if len(by["netchange-planner"]) > 0 && len(by["netchange-executor"]) > 0 {
				t.Logf("events on block-malicious-scanner: %v", by)
				// Waiting for the auditor is the normal course: no refusal events.
				for _, reason := range by["netchange-executor"] {
					if reason == v1.ReasonVerdictMissing || reason == v1.ReasonVerdictInvalid {
						t.Errorf("executor event %s on a request that was approved in the normal course", reason)
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("events on block-malicious-scanner by component = %v, want the planner's and the executor's", by)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})

	t.Run("audit trail verifies", func(t *testing.T) {
		for _, side := range []string{"control", "auditor"} {
			out, err := runManager(s, "audit", "verify", "--dir", s.Dir+"/audit/"+side, "--public-keys", s.PublicKey)
			if err != nil || !strings.Contains(out, "intact") {
				t.Errorf("audit verify %s: %v\n%s", side, err, out)
			}
		}
	})

	t.Run("explain report", func(t *testing.T) {
		out, err := runManager(s, "explain", "--kubeconfig", s.Control.Kubeconfig, "--auditor-kubeconfig", s.Auditor.Kubeconfig,
			"--namespace", stack.RequestNamespace, "route-to-inspection")
		if err != nil {
			t.Fatalf("explain: %v\n%s", err, out)
		}
		for _, want := range []string{"RouteCreate", stack.Approver1, stack.Approver2, "default@"} {
			if !strings.Contains(out, want) {
				t.Errorf("explain report lacks %q:\n%s", want, out)
			}
		}
	})
}

func assertConditions(t *testing.T, req *v1.NetworkChangeRequest) {
	t.Helper()
	switch req.Status.Phase {
	case v1.PhaseSucceeded:
		for _, ct := range []string{v1.ConditionPlanned, v1.ConditionApproved, v1.ConditionApplied, v1.ConditionVerified, v1.ConditionReady} {
			if !meta.IsStatusConditionTrue(req.Status.Conditions, ct) {
				t.Errorf("%s: condition %s is not True: %+v", req.Name, ct, meta.FindStatusCondition(req.Status.Conditions, ct))
			}
		}
	case v1.PhaseVetoed:
		c := meta.FindStatusCondition(req.Status.Conditions, v1.ConditionApproved)
		if c == nil || c.Status != "False" || c.Reason != v1.ReasonVetoed {
			t.Errorf("%s: Approved condition %+v, want False/Vetoed", req.Name, c)
		}
		if req.Status.Execution != nil {
			t.Errorf("%s: vetoed request has an execution journal", req.Name)
		}
	}
	if req.Status.ObservedGeneration != req.Generation {
		t.Errorf("%s: observedGeneration %d, generation %d", req.Name, req.Status.ObservedGeneration, req.Generation)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricValue returns the value of the sample named series (name and labels as
// exposed) in a Prometheus text exposition, or 0 when absent.
func metricValue(body, series string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	return 0
}

func runManager(s *stack.Stack, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return stack.RunCommand(ctx, s.Bin, args...)
}
