package plan

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// fullRequest returns a request with every spec field set.
func fullRequest() *v1.NetworkChangeRequest {
	req := testRequest(v1.EnvironmentProduction)
	req.Spec.Severity = v1.SeverityHigh
	req.Spec.Source = &v1.Source{Type: v1.SourceGuardDuty, Event: `{"type":"Recon:EC2/PortProbeUnprotectedPort"}`}
	req.Spec.RevertAfter = &metav1.Duration{Duration: 2 * time.Hour}
	req.Spec.DeletionPolicy = v1.DeletionPolicyRollback
	req.Spec.Targets = &v1.Targets{
		AccountID: "123456789012", Region: testRegion, ResourceIDs: []string{testSG, testInst},
		WAFIPSets: []string{"blocklist"}, CIDRs: []string{"192.0.2.0/24"}, Ports: []v1.PortRange{{From: 22, To: 22}}, Protocol: v1.ProtocolTCP,
	}
	return req
}

// fullPlan returns a plan using every action type and every snapshot field.
func fullPlan() *v1.Plan {
	p := testPlan(validActions()...)
	p.Snapshot = []v1.ResourceSnapshot{{ID: testSG, Kind: "SecurityGroup", Environment: "production", Protected: true, State: `{"ipPermissions":[]}`}}
	return p
}

// eachLeaf calls f for every string, integer and bool reachable from v (which
// must be addressable), after changing it; f must not keep it. The leaf is
// restored afterwards.
func eachLeaf(v reflect.Value, path string, f func(path string)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			eachLeaf(v.Elem(), path, f)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				eachLeaf(v.Field(i), path+"."+v.Type().Field(i).Name, f)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			eachLeaf(v.Index(i), path+"[]", f)
		}
	case reflect.String:
		old := v.String()
		b := []byte(old)
		if len(b) == 0 {
			b = []byte{'x'}
		} else {
			b[len(b)-1] ^= 1
		}
		v.SetString(string(b))
		f(path)
		v.SetString(old)
	case reflect.Int32, reflect.Int64:
		old := v.Int()
		v.SetInt(old ^ 1)
		f(path)
		v.SetInt(old)
	case reflect.Bool:
		v.SetBool(!v.Bool())
		f(path)
		v.SetBool(!v.Bool())
	}
}

// pinnedDigest is the digest of fullRequest and fullPlan.
const pinnedDigest = "sha256:ac0f7a20ae902afbba6d2657736954fd5ae58700d0076b9697c4317333b69de9"

func mustDigest(t *testing.T, req *v1.NetworkChangeRequest, p *v1.Plan) string {
	t.Helper()
	d, err := Digest(req, p)
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	return d
}

func TestDigest_stable(t *testing.T) {
	a := mustDigest(t, fullRequest(), fullPlan())
	b := mustDigest(t, fullRequest(), fullPlan())
	if a != b {
		t.Fatalf("same input, different digests: %s %s", a, b)
	}
	if !strings.HasPrefix(a, DigestPrefix) || len(a) != len(DigestPrefix)+64 {
		t.Fatalf("digest %q is not sha256:<64 hex>", a)
	}
	// Pinned: a change here invalidates every signed verdict in flight, so it
	// must be deliberate (bump digestInput.Version).
	if a != pinnedDigest {
		t.Fatalf("digest of the fixture changed: got %s, pinned %s", a, pinnedDigest)
	}
	// nil and empty actions/snapshot are the same plan.
	p1, p2 := testPlan(), testPlan()
	p1.Actions, p1.Snapshot = nil, nil
	p2.Actions, p2.Snapshot = []v1.Action{}, []v1.ResourceSnapshot{}
	if mustDigest(t, fullRequest(), p1) != mustDigest(t, fullRequest(), p2) {
		t.Error("nil and empty lists digest differently")
	}
}

func TestDigest_everyCoveredFieldChangesIt(t *testing.T) {
	base := mustDigest(t, fullRequest(), fullPlan())
	req, p := fullRequest(), fullPlan()
	n := 0
	check := func(path string) {
		n++
		if d := mustDigest(t, req, p); d == base {
			t.Errorf("changing %s left the digest unchanged", path)
		}
	}
	eachLeaf(reflect.ValueOf(&req.Spec), "spec", check)
	eachLeaf(reflect.ValueOf(&p.Actions), "actions", check)
	eachLeaf(reflect.ValueOf(&p.Snapshot), "snapshot", check)
	eachLeaf(reflect.ValueOf(&p.Region), "region", check)
	eachLeaf(reflect.ValueOf(&p.AccountID), "accountID", check)
	eachLeaf(reflect.ValueOf(&p.Generation), "generation", check)
	req.UID = "other-uid"
	check("uid")
	if n < 100 {
		t.Fatalf("only %d fields exercised; the fixture lost coverage", n)
	}
	// Reordering actions changes the plan (they apply in order).
	req, p = fullRequest(), fullPlan()
	p.Actions[0], p.Actions[1] = p.Actions[1], p.Actions[0]
	if mustDigest(t, req, p) == base {
		t.Error("reordering actions left the digest unchanged")
	}
}

func TestDigest_descriptiveFieldsDoNotChangeIt(t *testing.T) {
	base := mustDigest(t, fullRequest(), fullPlan())
	cases := map[string]func(*v1.NetworkChangeRequest, *v1.Plan){
		"provenance": func(_ *v1.NetworkChangeRequest, p *v1.Plan) {
			p.Provenance = v1.Provenance{Planner: "llm", Provider: "openai", Model: "gpt", PromptSHA256: "ab", Attempts: 3, LatencyMillis: 1200}
		},
		"rationale":   func(_ *v1.NetworkChangeRequest, p *v1.Plan) { p.Rationale = "another explanation" },
		"cost":        func(_ *v1.NetworkChangeRequest, p *v1.Plan) { p.MonthlyCostUSD = "12.00" },
		"blastRadius": func(_ *v1.NetworkChangeRequest, p *v1.Plan) { p.BlastRadius = BlastRadius(p) },
		"digest":      func(_ *v1.NetworkChangeRequest, p *v1.Plan) { p.Digest = "sha256:00" },
		"trigger":     func(_ *v1.NetworkChangeRequest, p *v1.Plan) { p.Trigger = "stale" },
		"createdAt": func(_ *v1.NetworkChangeRequest, p *v1.Plan) {
			p.CreatedAt = &metav1.Time{Time: time.Unix(1700000000, 0)}
		},
		"status": func(r *v1.NetworkChangeRequest, _ *v1.Plan) { r.Status.Phase = v1.PhaseExecuting },
		"labels": func(r *v1.NetworkChangeRequest, _ *v1.Plan) { r.Labels = map[string]string{"team": "netops"} },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			req, p := fullRequest(), fullPlan()
			mut(req, p)
			if d := mustDigest(t, req, p); d != base {
				t.Fatalf("changing %s changed the digest", name)
			}
		})
	}
}

func TestDigest_requiresBoth(t *testing.T) {
	if _, err := Digest(nil, testPlan()); err == nil {
		t.Error("nil request accepted")
	}
	if _, err := Digest(testRequest(v1.EnvironmentTest), nil); err == nil {
		t.Error("nil plan accepted")
	}
}

func TestSeal(t *testing.T) {
	req, p := fullRequest(), fullPlan()
	if err := Seal(req, p); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if want := mustDigest(t, req, p); p.Digest != want {
		t.Errorf("Digest = %q, want %q", p.Digest, want)
	}
	if !reflect.DeepEqual(p.BlastRadius, BlastRadius(p)) || len(p.BlastRadius.Resources) == 0 {
		t.Errorf("BlastRadius = %+v", p.BlastRadius)
	}
	if p.MonthlyCostUSD != "0.00" {
		t.Errorf("MonthlyCostUSD = %q", p.MonthlyCostUSD)
	}
	if err := Seal(nil, p); err == nil || !strings.Contains(err.Error(), "seal plan") {
		t.Errorf("Seal(nil request) = %v", err)
	}
}
