package plan

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// planFrom turns a decoded proposal into the plan a planner would submit.
func planFrom(p *Proposal) *v1.Plan {
	return &v1.Plan{Actions: p.Actions, Rationale: p.Rationale, Region: testRegion, AccountID: "123456789012",
		Generation: 3, Provenance: v1.Provenance{Planner: "llm"}}
}

// FuzzDecodeValidate feeds arbitrary bytes to Decode and Validate: they never
// panic, and whatever both accept has only catalog actions, invertible ones, and
// is still accepted after a JSON round trip. Seeds: testdata/fuzz/FuzzDecodeValidate.
func FuzzDecodeValidate(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		prop, err := Decode(data)
		if err != nil {
			if prop != nil {
				t.Fatal("Decode returned a proposal and an error")
			}
			return
		}
		for i, a := range prop.Actions {
			if !IsCatalogType(a.Type) {
				t.Fatalf("Decode accepted actions[%d] of type %q", i, a.Type)
			}
		}
		p := planFrom(prop)
		for _, env := range []v1.Environment{v1.EnvironmentStaging, v1.EnvironmentProduction} {
			req := testRequest(env)
			err := Validate(req, p)
			var ve *ValidationError
			if err != nil && !errors.As(err, &ve) {
				t.Fatalf("Validate returned %T", err)
			}
			if err != nil {
				continue
			}
			if env == v1.EnvironmentProduction {
				if f := InternetExposure(p); len(f) > 0 {
					t.Fatalf("production plan accepted with exposure %q", f)
				}
			}
			for i, a := range p.Actions {
				inv, err := Inverse(a)
				if err != nil {
					t.Fatalf("valid actions[%d] has no inverse: %v", i, err)
				}
				back, err := Inverse(inv)
				if err != nil || !reflect.DeepEqual(back, a) {
					t.Fatalf("Inverse(Inverse(actions[%d])) = %+v, %v; want %+v", i, back, err, a)
				}
			}
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("marshal accepted plan: %v", err)
			}
			var again v1.Plan
			if err := json.Unmarshal(b, &again); err != nil {
				t.Fatalf("unmarshal accepted plan: %v", err)
			}
			if err := Validate(req, &again); err != nil {
				t.Fatalf("plan accepted, then refused after a JSON round trip: %v", err)
			}
			pb, _ := json.Marshal(prop)
			if _, err := Decode(pb); err != nil {
				t.Fatalf("re-encoded proposal refused by Decode: %v", err)
			}
		}
	})
}

// FuzzDigestStable checks that the digest of a decoded plan survives a JSON
// round trip of the plan, as it does when the plan is stored in status and read
// back by the auditor and executor. Seeds: testdata/fuzz/FuzzDigestStable.
func FuzzDigestStable(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		prop, err := Decode(data)
		if err != nil {
			return
		}
		req := testRequest(v1.EnvironmentStaging)
		p := planFrom(prop)
		d1, err := Digest(req, p)
		if err != nil {
			t.Fatalf("Digest: %v", err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back v1.Plan
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		d2, err := Digest(req, &back)
		if err != nil {
			t.Fatalf("Digest after round trip: %v", err)
		}
		if d1 != d2 {
			t.Fatalf("digest changed across a JSON round trip: %s != %s", d1, d2)
		}
	})
}
