package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/audit"
	"github.com/netchange-io/netchange/test/testenv"
)

func TestExplainMain(t *testing.T) {
	cl := testenv.StartCluster(t)
	ctx := context.Background()
	testenv.CreateNamespace(t, cl.Client, "payments", nil)
	testenv.CreateNamespace(t, cl.Client, "netchange-auditor", nil)

	req := &v1.NetworkChangeRequest{Spec: v1.NetworkChangeRequestSpec{Intent: "Isolate i-0123456789abcdef0, it is mining crypto", Environment: v1.EnvironmentProduction}}
	req.Name, req.Namespace = "isolate-miner", "payments"
	if err := cl.Client.Create(ctx, req); err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	req.Status = v1.NetworkChangeRequestStatus{
		Phase: v1.PhaseAwaitingHumanApproval, Requester: "alice", Decision: v1.DecisionEscalate,
		Plan: &v1.Plan{
			Actions: []v1.Action{{Type: v1.ActionInstanceQuarantine, Quarantine: &v1.QuarantineParams{
				InstanceID: "i-0123456789abcdef0", VPCID: "vpc-0123456789abcdef0", OriginalGroupIDs: []string{"sg-0123456789abcdef0"}}}},
			Region: "eu-west-1", Digest: digest, Generation: 1, Provenance: v1.Provenance{Planner: "rules"},
		},
	}
	if err := cl.Client.Status().Update(ctx, req); err != nil {
		t.Fatal(err)
	}
	cv := &v1.ChangeVerdict{Spec: v1.ChangeVerdictSpec{
		RequestRef: v1.RequestReference{Cluster: "control", Namespace: "payments", Name: "isolate-miner", UID: string(req.UID), Generation: 1},
		PlanDigest: digest, Decision: v1.DecisionEscalate, ApprovalPath: v1.ApprovalPathPolicy, PolicyVersion: "default@v3", RequiredApprovals: 2,
	}}
	cv.Name, cv.Namespace = "isolate-miner-1", "netchange-auditor"
	if err := cl.Client.Create(ctx, cv); err != nil {
		t.Fatal(err)
	}
	auditDir := t.TempDir()
	sink, err := audit.NewFileSink(auditDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := audit.RequestRef{Namespace: "payments", Name: "isolate-miner", UID: string(req.UID), Generation: 1}
	for _, ev := range []audit.Event{
		{Stream: "control/payments", Type: audit.EventPlanned, Actor: "planner", Request: ref},
		{Stream: "auditor/control/payments", Type: audit.EventVerdict, Actor: "auditor", Request: ref},
		{Stream: "control/other", Type: audit.EventPlanned, Actor: "planner", Request: ref},
	} {
		if err := sink.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{name: "text with verdict and audit trail",
			args:     []string{"--kubeconfig", cl.Kubeconfig, "--namespace", "payments", "isolate-miner", "--auditor-kubeconfig", cl.Kubeconfig, "--audit-dir", auditDir},
			wantCode: 0,
			want: []string{"Quarantine instance i-0123456789abcdef0", "Isolate i-0123456789abcdef0, it is mining crypto", "alice",
				"Policy version: default@v3", "Needs 2 approval(s)", "ChangeVerdict isolate-miner-1",
				"Release instance i-0123456789abcdef0 from quarantine", "hash chains intact (2 records in 2 streams", "Verdict"}},
		{name: "markdown without the auditor",
			args:     []string{"--kubeconfig", cl.Kubeconfig, "--namespace", "payments", "--format", "markdown", "isolate-miner"},
			wantCode: 0,
			want:     []string{"# NetworkChangeRequest payments/isolate-miner", "## Rollback", "not loaded"}},
		{name: "missing request",
			args:     []string{"--kubeconfig", cl.Kubeconfig, "--namespace", "payments", "nope"},
			wantCode: 1},
		{name: "no name", args: []string{"--kubeconfig", cl.Kubeconfig}, wantCode: 2},
		{name: "bad format", args: []string{"--kubeconfig", cl.Kubeconfig, "--format", "pdf", "x"}, wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := explainMain(tt.args, &out, &errOut)
			if code != tt.wantCode {
				t.Fatalf("exit %d; want %d\n%s%s", code, tt.wantCode, out.String(), errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Fatalf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
