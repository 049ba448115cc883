package auditor

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/llm/llmtest"
	"github.com/netchange-io/netchange/internal/review"
)

// The second opinion can only make a decision stricter; when it fails, an
// approval becomes an escalation.
func TestReconciler_review(t *testing.T) {
	tests := []struct {
		name     string
		script   func(*llmtest.Server)
		decision v1.Decision
		want     v1.Decision
		finding  string
	}{
		{"veto overrides approve", func(s *llmtest.Server) { s.Reply(`{"decision":"veto","finding":"opens SSH to the world"}`) }, v1.DecisionApprove, v1.DecisionVeto, "opens SSH"},
		{"approve cannot loosen an escalation", func(s *llmtest.Server) { s.Reply(`{"decision":"approve","finding":"fine"}`) }, v1.DecisionEscalate, v1.DecisionEscalate, "fine"},
		{"unreadable answer escalates an approval", func(s *llmtest.Server) { s.Malformed("approve it") }, v1.DecisionApprove, v1.DecisionEscalate, "second opinion unavailable"},
		{"provider down escalates an approval", func(s *llmtest.Server) { s.Status(503, "") }, v1.DecisionApprove, v1.DecisionEscalate, "second opinion unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := llmtest.Start(t)
			tt.script(srv)
			rv, err := review.New(review.Config{Provider: "openai", Model: "m", BaseURL: srv.OpenAIBaseURL(), APIKey: "k", Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			r := &Reconciler{Reviewer: rv}
			req := &v1.NetworkChangeRequest{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "n"}}
			req.Spec.Intent = "block 203.0.113.0/24"
			j := judgement{Decision: tt.decision, Reason: "policy said so"}
			r.review(t.Context(), &scope{req: req, plan: &v1.Plan{Region: "us-east-1"}}, &j)
			if j.Decision != tt.want || !strings.Contains(j.Findings.SecondOpinion, tt.finding) {
				t.Fatalf("after review: %s %q, want %s %q", j.Decision, j.Findings.SecondOpinion, tt.want, tt.finding)
			}
			if tt.want == v1.DecisionEscalate && j.Approvals < 1 {
				t.Fatalf("escalation without a quorum: %d", j.Approvals)
			}
		})
	}
}
