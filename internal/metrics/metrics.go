// Package metrics defines netchange's Prometheus metrics, registered with
// controller-runtime's registry so every manager serves them on its metrics endpoint.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// RequestsByPhase is the number of requests currently in each phase (set by a collector).
	RequestsByPhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "netchange_requests",
		Help: "Number of NetworkChangeRequests by phase, as last observed.",
	}, []string{"phase"})
	// Decisions counts auditor decisions.
	Decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "netchange_auditor_decisions_total",
		Help: "Auditor decisions by decision (Approve, Veto, Escalate) and approval path.",
	}, []string{"decision", "path"})
	// PhaseSeconds observes the time from a request's creation to reaching a phase.
	PhaseSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "netchange_request_phase_seconds",
		Help:    "Seconds from a request's creation until it reached a phase.",
		Buckets: []float64{0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600},
	}, []string{"phase"})
	// AWSCalls counts AWS API calls by operation and result.
	AWSCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "netchange_aws_api_calls_total",
		Help: "AWS API calls by operation and result (ok, error).",
	}, []string{"operation", "result"})
	// AWSErrors counts AWS API errors by operation and class.
	AWSErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "netchange_aws_api_errors_total",
		Help: "AWS API errors by operation and class (retryable, terminal).",
	}, []string{"operation", "class"})
	// LLMLatency observes LLM call latency.
	LLMLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "netchange_llm_request_duration_seconds",
		Help:    "Latency of LLM calls by provider, model and result.",
		Buckets: prometheus.DefBuckets,
	}, []string{"provider", "model", "result"})
	// LLMTokens counts LLM tokens.
	LLMTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "netchange_llm_tokens_total",
		Help: "LLM tokens by provider, model and kind (prompt, completion).",
	}, []string{"provider", "model", "kind"})
	// FreezeActive is 1 while at least one ChangeFreeze is in force.
	FreezeActive = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "netchange_freeze_active",
		Help: "1 while at least one ChangeFreeze is in force, else 0.",
	})
	// ExecutionRefusals counts executions refused by a precondition.
	ExecutionRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "netchange_executor_refusals_total",
		Help: "Executions refused before any AWS call, by reason.",
	}, []string{"reason"})
	// AuditAppends counts audit records appended, by sink (file, postgres) and result (ok, error).
	AuditAppends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "netchange_audit_appends_total",
		Help: "Audit records appended by sink (file, postgres) and result (ok, error); errors stop execution.",
	}, []string{"sink", "result"})
	// AuditCheckpoints counts signed audit checkpoints, by result (ok, error).
	AuditCheckpoints = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "netchange_audit_checkpoints_total",
		Help: "Signed audit checkpoints by result (ok, error).",
	}, []string{"result"})
	// VerdictsObserved counts requests that reached a decision, by decision, as the
	// collector saw them; rate(Veto)/rate(all) is the veto rate in any cluster.
	VerdictsObserved = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "netchange_request_decisions_total",
		Help: "NetworkChangeRequests that reached a decision (Approve, Veto, Escalate), counted once per request generation by the metrics collector.",
	}, []string{"decision"})
)

func init() {
	crmetrics.Registry.MustRegister(RequestsByPhase, Decisions, PhaseSeconds, AWSCalls,
		AWSErrors, LLMLatency, LLMTokens, FreezeActive, ExecutionRefusals,
		AuditAppends, AuditCheckpoints, VerdictsObserved)
}
