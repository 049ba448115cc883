package auditor

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestVerdictName(t *testing.T) {
	a := VerdictName("control", "netops", "block-scanner", testDigest, 1)
	if a != VerdictName("control", "netops", "block-scanner", testDigest, 1) {
		t.Fatal("not deterministic")
	}
	if !strings.HasPrefix(a, "netops-block-scanner-") || !strings.HasSuffix(a, "-0123456789-r1") {
		t.Fatalf("name %q", a)
	}
	long := VerdictName(strings.Repeat("c", 253), strings.Repeat("n", 63), strings.Repeat("x.y", 80), testDigest, 10)
	if len(long) > 63 {
		t.Fatalf("name %q has %d chars", long, len(long))
	}
	for _, other := range []string{
		VerdictName("control-2", "netops", "block-scanner", testDigest, 1),
		VerdictName("control", "netops", "block-scanner", "sha256:f"+testDigest[8:], 1),
		VerdictName("control", "netops", "block-scanner", testDigest, 2),
	} {
		if other == a {
			t.Fatalf("%q collides", other)
		}
	}
}

func TestActiveFreeze(t *testing.T) {
	now := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { x := metav1.NewTime(now.Add(d)); return &x }
	req := &v1.NetworkChangeRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "netops"}}
	req.Spec.Environment = v1.EnvironmentProduction
	fz := func(name string, scope v1.FreezeScope, start, end *metav1.Time) v1.ChangeFreeze {
		return v1.ChangeFreeze{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.ChangeFreezeSpec{Reason: "r", Author: "a", Scope: scope, Start: start, End: end}}
	}
	tests := []struct {
		name    string
		freezes []v1.ChangeFreeze
		want    string
	}{
		{"none", nil, ""},
		{"everything", []v1.ChangeFreeze{fz("all", v1.FreezeScope{}, nil, nil)}, "all"},
		{"ended", []v1.ChangeFreeze{fz("old", v1.FreezeScope{}, nil, at(-time.Second))}, ""},
		{"not started", []v1.ChangeFreeze{fz("later", v1.FreezeScope{}, at(time.Hour), nil)}, ""},
		{"in window", []v1.ChangeFreeze{fz("now", v1.FreezeScope{}, at(-time.Hour), at(time.Hour))}, "now"},
		{"other namespace", []v1.ChangeFreeze{fz("ns", v1.FreezeScope{Namespaces: []string{"payments"}}, nil, nil)}, ""},
		{"environment", []v1.ChangeFreeze{fz("prod", v1.FreezeScope{Environments: []v1.Environment{v1.EnvironmentProduction}}, nil, nil)}, "prod"},
		{"other environment", []v1.ChangeFreeze{fz("stg", v1.FreezeScope{Environments: []v1.Environment{v1.EnvironmentStaging}}, nil, nil)}, ""},
		{"region", []v1.ChangeFreeze{fz("use1", v1.FreezeScope{Regions: []string{"us-east-1"}}, nil, nil)}, "use1"},
		{"other region", []v1.ChangeFreeze{fz("euw1", v1.FreezeScope{Regions: []string{"eu-west-1"}}, nil, nil)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := activeFreeze(tt.freezes, req, "us-east-1", now)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tt.want {
				t.Fatalf("activeFreeze = %q, want %q", name, tt.want)
			}
		})
	}
	if d := nextFreezeChange([]v1.ChangeFreeze{fz("a", v1.FreezeScope{}, nil, at(time.Hour)), fz("b", v1.FreezeScope{}, at(10*time.Minute), nil)}, now); d != 10*time.Minute {
		t.Fatalf("nextFreezeChange = %v", d)
	}
}

func TestCountApprovals(t *testing.T) {
	cv := &v1.ChangeVerdict{ObjectMeta: metav1.ObjectMeta{Name: "cv", Namespace: "audit"}, Spec: v1.ChangeVerdictSpec{
		Requester: "alice", PlanDigest: testDigest, Decision: v1.DecisionEscalate, RequiredApprovals: 2}}
	ap := func(name, who string, d v1.ApprovalDecision, digest string, groups ...string) v1.ChangeApproval {
		return v1.ChangeApproval{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.ChangeApprovalSpec{
			VerdictName: "cv", PlanDigest: digest, Decision: d, Approver: who, Groups: groups}}
	}
	withGroups := cv.DeepCopy()
	withGroups.Spec.RequiredGroups = []string{"netsec"}
	unknown := cv.DeepCopy()
	unknown.Spec.Requester = ""
	other := ap("x", "bob", v1.ApprovalApprove, testDigest)
	other.Spec.VerdictName = "another"
	tests := []struct {
		name      string
		cv        *v1.ChangeVerdict
		approvals []v1.ChangeApproval
		approvers []string
		quorum    bool
		rejected  string
		counted   map[string]bool
	}{
		{"requester's own approval is not counted", cv, []v1.ChangeApproval{ap("a1", "alice", v1.ApprovalApprove, testDigest), ap("a2", "bob", v1.ApprovalApprove, testDigest)},
			[]string{"bob"}, false, "", map[string]bool{"a1": false, "a2": true}},
		{"two distinct approvers", cv, []v1.ChangeApproval{ap("a1", "bob", v1.ApprovalApprove, testDigest), ap("a2", "carol", v1.ApprovalApprove, testDigest)},
			[]string{"bob", "carol"}, true, "", map[string]bool{"a1": true, "a2": true}},
		{"same approver twice", cv, []v1.ChangeApproval{ap("a1", "bob", v1.ApprovalApprove, testDigest), ap("a2", "bob", v1.ApprovalApprove, testDigest)},
			[]string{"bob"}, false, "", map[string]bool{"a1": true, "a2": false}},
		{"stale digest", cv, []v1.ChangeApproval{ap("a1", "bob", v1.ApprovalApprove, "sha256:"+strings.Repeat("f", 64)), ap("a2", "carol", v1.ApprovalApprove, testDigest)},
			[]string{"carol"}, false, "", map[string]bool{"a1": false, "a2": true}},
		{"unknown requester counts nobody", unknown, []v1.ChangeApproval{ap("a1", "bob", v1.ApprovalApprove, testDigest), ap("a2", "carol", v1.ApprovalApprove, testDigest)},
			nil, false, "", map[string]bool{"a1": false, "a2": false}},
		{"reject vetoes", cv, []v1.ChangeApproval{ap("a1", "bob", v1.ApprovalApprove, testDigest), ap("a2", "carol", v1.ApprovalReject, testDigest), ap("a3", "dave", v1.ApprovalApprove, testDigest)},
			[]string{"bob", "dave"}, true, "carol", map[string]bool{"a1": true, "a2": false, "a3": true}},
		{"required group missing", withGroups, []v1.ChangeApproval{ap("a1", "bob", v1.ApprovalApprove, testDigest, "dev"), ap("a2", "carol", v1.ApprovalApprove, testDigest)},
			[]string{"bob", "carol"}, false, "", map[string]bool{"a1": true, "a2": true}},
		{"required group covered", withGroups, []v1.ChangeApproval{ap("a1", "bob", v1.ApprovalApprove, testDigest, "netsec"), ap("a2", "carol", v1.ApprovalApprove, testDigest)},
			[]string{"bob", "carol"}, true, "", map[string]bool{"a1": true, "a2": true}},
		{"approvals of other verdicts are ignored", cv, []v1.ChangeApproval{other}, nil, false, "", map[string]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := countApprovals(tt.cv, tt.approvals)
			if !reflect.DeepEqual(got.Approvers, tt.approvers) || got.Quorum != tt.quorum || got.RejectedBy != tt.rejected {
				t.Fatalf("tally = %+v", got)
			}
			counted := map[string]bool{}
			for n, st := range got.Counted {
				counted[n] = st.Counted
				if st.Message == "" {
					t.Errorf("approval %s has no message", n)
				}
			}
			if !reflect.DeepEqual(counted, tt.counted) {
				t.Fatalf("counted = %v, want %v", counted, tt.counted)
			}
		})
	}
}
