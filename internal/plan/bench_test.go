package plan

import (
	"encoding/json"
	"testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

func BenchmarkValidate(b *testing.B) {
	req, p := testRequest(v1.EnvironmentProduction), testPlan(validActions()...)
	for b.Loop() {
		if err := Validate(req, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDigest(b *testing.B) {
	req, p := fullRequest(), fullPlan()
	for b.Loop() {
		if _, err := Digest(req, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	data, err := json.Marshal(Proposal{Actions: validActions(), Rationale: "one of each"})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
