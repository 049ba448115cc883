package policy

import (
	"testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// BenchmarkCompiled_Evaluate measures one decision of the default policy with its
// built-in guardrails on a three-action production plan.
func BenchmarkCompiled_Evaluate(b *testing.B) {
	c, err := Compile(defaultPolicy(b))
	if err != nil {
		b.Fatal(err)
	}
	in := Input{Request: request(v1.EnvironmentProduction, v1.SeverityHigh),
		Plan: mkPlan(naclDeny(), sgAllow(sgDev, "10.20.0.0/16"), routeCreate())}
	b.ReportAllocs()
	for b.Loop() {
		if r := c.Evaluate(in); r.Outcome == "" {
			b.Fatal("no outcome")
		}
	}
}

// BenchmarkCompile measures compiling the default policy (done once per policy generation).
func BenchmarkCompile(b *testing.B) {
	p := defaultPolicy(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(p); err != nil {
			b.Fatal(err)
		}
	}
}
