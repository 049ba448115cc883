package executor

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

func TestCheckFreeze(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(d)); return &t }
	ncr := &v1.NetworkChangeRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "payments"},
		Spec: v1.NetworkChangeRequestSpec{Environment: v1.EnvironmentProduction}, Status: v1.NetworkChangeRequestStatus{Plan: &v1.Plan{Region: "eu-west-1"}}}
	freeze := func(scope v1.FreezeScope, start, end *metav1.Time) v1.ChangeFreeze {
		return v1.ChangeFreeze{ObjectMeta: metav1.ObjectMeta{Name: "f"}, Spec: v1.ChangeFreezeSpec{Reason: "r", Author: "a", Scope: scope, Start: start, End: end}}
	}
	cases := []struct {
		name   string
		f      v1.ChangeFreeze
		frozen bool
		retry  time.Duration
	}{
		{name: "empty scope freezes everything", f: freeze(v1.FreezeScope{}, nil, nil), frozen: true, retry: time.Minute},
		{name: "matching namespace", f: freeze(v1.FreezeScope{Namespaces: []string{"payments"}}, nil, at(time.Hour)), frozen: true, retry: time.Hour},
		{name: "other namespace", f: freeze(v1.FreezeScope{Namespaces: []string{"web"}}, nil, nil)},
		{name: "matching environment", f: freeze(v1.FreezeScope{Environments: []v1.Environment{v1.EnvironmentProduction}}, nil, nil), frozen: true, retry: time.Minute},
		{name: "other environment", f: freeze(v1.FreezeScope{Environments: []v1.Environment{v1.EnvironmentStaging}}, nil, nil)},
		{name: "other region", f: freeze(v1.FreezeScope{Regions: []string{"us-east-1"}}, nil, nil)},
		{name: "all dimensions match", f: freeze(v1.FreezeScope{Namespaces: []string{"payments"}, Environments: []v1.Environment{v1.EnvironmentProduction}, Regions: []string{"eu-west-1"}}, nil, nil), frozen: true, retry: time.Minute},
		{name: "not started yet", f: freeze(v1.FreezeScope{}, at(time.Minute), nil)},
		{name: "ended", f: freeze(v1.FreezeScope{}, at(-time.Hour), at(-time.Second))},
		{name: "ends exactly now", f: freeze(v1.FreezeScope{}, nil, at(0))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := checkFreeze([]v1.ChangeFreeze{tc.f}, ncr, now)
			if (ref != nil) != tc.frozen {
				t.Fatalf("checkFreeze = %+v, want frozen=%v", ref, tc.frozen)
			}
			if ref != nil && (ref.Reason != v1.ReasonFrozen || ref.RetryAfter != tc.retry) {
				t.Fatalf("refusal %+v, want Frozen retrying after %v", ref, tc.retry)
			}
		})
	}
}

func TestCheckStale(t *testing.T) {
	planned := []v1.ResourceSnapshot{{ID: "sg-1", State: "a", Environment: "production", Protected: true}, {ID: "acl-1", State: "b"}}
	cases := []struct {
		name  string
		fresh []v1.ResourceSnapshot
		stale bool
	}{
		{name: "same", fresh: []v1.ResourceSnapshot{{ID: "acl-1", State: "b"}, {ID: "sg-1", State: "a", Environment: "production", Protected: true}}},
		{name: "changed state", fresh: []v1.ResourceSnapshot{{ID: "acl-1", State: "b"}, {ID: "sg-1", State: "a2", Environment: "production", Protected: true}}, stale: true},
		{name: "missing object", fresh: []v1.ResourceSnapshot{{ID: "sg-1", State: "a", Environment: "production", Protected: true}}, stale: true},
		{name: "extra object", fresh: []v1.ResourceSnapshot{{ID: "acl-1", State: "b"}, {ID: "sg-1", State: "a", Environment: "production", Protected: true}, {ID: "pl-1", State: "c"}}, stale: true},
		{name: "protected flag differs from AWS", fresh: []v1.ResourceSnapshot{{ID: "acl-1", State: "b"}, {ID: "sg-1", State: "a", Environment: "production"}}, stale: true},
		{name: "environment differs from AWS", fresh: []v1.ResourceSnapshot{{ID: "acl-1", State: "b"}, {ID: "sg-1", State: "a", Environment: "development", Protected: true}}, stale: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if ref := checkStale(planned, tc.fresh); (ref != nil) != tc.stale {
				t.Fatalf("checkStale = %+v, want stale=%v", ref, tc.stale)
			}
		})
	}
}

func TestResolveTarget(t *testing.T) {
	ncr := func(region, account string) *v1.NetworkChangeRequest {
		return &v1.NetworkChangeRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "payments"}, Status: v1.NetworkChangeRequestStatus{Plan: &v1.Plan{Region: region, AccountID: account}}}
	}
	ns := func(ann map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments", Annotations: ann}}
	}
	roles := &corev1.ConfigMap{Data: map[string]string{"111111111111": "arn:aws:iam::111111111111:role/netchange"}}
	opts := Options{DefaultRegion: "us-east-1", DefaultEndpoint: "http://moto"}
	cases := []struct {
		name    string
		ncr     *v1.NetworkChangeRequest
		ns      *corev1.Namespace
		want    string // region|account|endpoint|role
		refused bool
	}{
		{name: "plan region, defaults", ncr: ncr("eu-west-1", ""), ns: ns(nil), want: "eu-west-1||http://moto|"},
		{name: "namespace region when the plan has none", ncr: ncr("", ""), ns: ns(map[string]string{"services.k8s.aws/region": "eu-central-1"}), want: "eu-central-1||http://moto|"},
		{name: "flag region last", ncr: ncr("", ""), ns: ns(nil), want: "us-east-1||http://moto|"},
		{name: "namespace account, endpoint and role", ncr: ncr("eu-west-1", ""),
			ns:   ns(map[string]string{"services.k8s.aws/owner-account-id": "111111111111", "services.k8s.aws/endpoint-url": "https://ec2.internal"}),
			want: "eu-west-1|111111111111|https://ec2.internal|arn:aws:iam::111111111111:role/netchange"},
		{name: "plan account without role entry uses default credentials", ncr: ncr("eu-west-1", "222222222222"), ns: ns(nil), want: "eu-west-1|222222222222|http://moto|"},
		{name: "plan account differs from namespace owner", ncr: ncr("eu-west-1", "222222222222"),
			ns: ns(map[string]string{"services.k8s.aws/owner-account-id": "111111111111"}), refused: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ref := resolveTarget(tc.ncr, tc.ns, roles, opts)
			if (ref != nil) != tc.refused {
				t.Fatalf("refusal %+v, want refused=%v", ref, tc.refused)
			}
			if tc.refused {
				return
			}
			if s := got.Region + "|" + got.AccountID + "|" + got.EndpointURL + "|" + got.RoleARN; s != tc.want {
				t.Fatalf("target %s, want %s", s, tc.want)
			}
		})
	}
}

func TestCheckGuardrails(t *testing.T) {
	sg := "sg-0123456789abcdef0"
	rule := func(dir v1.Direction, cidr string) v1.Action {
		return v1.Action{Type: v1.ActionSecurityGroupRuleAuthorize, SecurityGroupRule: &v1.SecurityGroupRuleParams{
			GroupID: sg, Direction: dir, Protocol: v1.ProtocolTCP, Ports: &v1.PortRange{From: 22, To: 22}, CIDR: cidr}}
	}
	request := func(env v1.Environment, snapshotEnv string, a v1.Action) *v1.NetworkChangeRequest {
		return &v1.NetworkChangeRequest{Spec: v1.NetworkChangeRequestSpec{Environment: env},
			Status: v1.NetworkChangeRequestStatus{Plan: &v1.Plan{Region: "us-east-1", Actions: []v1.Action{a},
				Snapshot: []v1.ResourceSnapshot{{ID: sg, Kind: "SecurityGroup", Environment: snapshotEnv, State: "{}"}}}}}
	}
	cases := []struct {
		name    string
		req     *v1.NetworkChangeRequest
		refused bool
	}{
		{"internet ingress, production request", request(v1.EnvironmentProduction, "production", rule(v1.DirectionIngress, "0.0.0.0/0")), true},
		{"internet ingress on a production resource, development request", request(v1.EnvironmentDevelopment, "production", rule(v1.DirectionIngress, "0.0.0.0/0")), true},
		{"internet ingress in development", request(v1.EnvironmentDevelopment, "development", rule(v1.DirectionIngress, "0.0.0.0/0")), false},
		{"internet egress in production", request(v1.EnvironmentProduction, "production", rule(v1.DirectionEgress, "0.0.0.0/0")), false},
		{"narrow ingress in production", request(v1.EnvironmentProduction, "production", rule(v1.DirectionIngress, "203.0.113.0/24")), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := checkGuardrails(tc.req)
			if (ref != nil) != tc.refused {
				t.Fatalf("refusal = %+v, want refused %t", ref, tc.refused)
			}
			if ref != nil && ref.Reason != v1.ReasonGuardrail {
				t.Fatalf("reason %s, want %s", ref.Reason, v1.ReasonGuardrail)
			}
		})
	}
}

func TestCheckAuthorization_waitingIsNotARefusal(t *testing.T) {
	withApproved := func(status metav1.ConditionStatus, reason string) *v1.NetworkChangeRequest {
		n := &v1.NetworkChangeRequest{Status: v1.NetworkChangeRequestStatus{Plan: &v1.Plan{Region: "us-east-1"}}}
		n.Status.Conditions = []metav1.Condition{{Type: v1.ConditionApproved, Status: status, Reason: reason}}
		return n
	}
	cases := []struct {
		name   string
		ncr    *v1.NetworkChangeRequest
		reason string
	}{
		{"no plan yet", &v1.NetworkChangeRequest{}, v1.ReasonWaiting},
		{"no verdict yet", &v1.NetworkChangeRequest{Status: v1.NetworkChangeRequestStatus{Plan: &v1.Plan{}}}, v1.ReasonWaiting},
		{"awaiting humans", withApproved(metav1.ConditionFalse, v1.ReasonAwaitingHumanApproval), v1.ReasonWaiting},
		{"vetoed", withApproved(metav1.ConditionFalse, v1.ReasonVetoed), v1.ReasonVetoed},
		{"approved without a signed verdict", withApproved(metav1.ConditionTrue, v1.ReasonAutoApproved), v1.ReasonVerdictMissing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := checkAuthorization(tc.ncr, nil, "control", time.Now())
			if ref == nil || ref.Reason != tc.reason {
				t.Fatalf("refusal = %+v, want reason %s", ref, tc.reason)
			}
		})
	}
}
