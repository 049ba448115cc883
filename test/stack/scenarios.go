package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// Users of the demo. alice files requests; bob and carol approve.
const (
	Requester = "alice"
	Approver1 = "bob"
	Approver2 = "carol"
)

// Result is the outcome of one scenario.
type Result struct {
	// Scenario is the scenario's short name.
	Scenario string
	// Request is the request's name.
	Request string
	// Decision is the auditor's decision.
	Decision v1.Decision
	// Phase is the final phase.
	Phase v1.Phase
	// Actions is the number of planned actions.
	Actions int32
	// Seconds is the time from creation to the final phase.
	Seconds float64
	// Expected says what the scenario expects, in words.
	Expected string
	// Notes are what the scenario observed on the way (holds, approvals, AWS state).
	Notes []string
	// Final is the request as it ended.
	Final *v1.NetworkChangeRequest
	// Err is nil when everything the scenario expects held.
	Err error
}

// Scenario is one demo/e2e flow.
type Scenario struct {
	// Name is the scenario's short name.
	Name string
	// Expected says what should happen.
	Expected string
	// Run files the request(s), drives approvals and checks AWS.
	Run func(ctx context.Context, s *Stack, r *Result) error
}

// Scenarios are the flows of `make demo` and test/e2e, in order.
func Scenarios() []Scenario {
	return []Scenario{
		{"guardduty-crypto", "GuardDuty crypto-mining finding, severity 8 → auto-approved, instance quarantined", runGuardDuty},
		{"block-cidr", "block 203.0.113.0/24 from the production subnets → auto-approved, NACL deny entries", runBlock},
		{"allow-443", "allow TCP 443 from 10.20.0.0/16 to payments (development) → approved by bob, applied", runAllow},
		{"misbehaving-llm", "llm planner's plan also opens production to the internet → vetoed, extra action named", runMisbehavingLLM},
		{"route-change", "production route change → escalated, approved by bob and carol, applied", runRoute},
		{"freeze", "request during a ChangeFreeze → held, applied after the freeze ends", runFreeze},
	}
}

// Run runs one scenario and fills a Result.
func (s *Stack) Run(ctx context.Context, sc Scenario) Result {
	r := Result{Scenario: sc.Name, Expected: sc.Expected}
	r.Err = sc.Run(ctx, s, &r)
	if r.Final != nil {
		r.Request = r.Final.Name
		r.Decision = r.Final.Status.Decision
		r.Phase = r.Final.Status.Phase
		r.Actions = r.Final.Status.ActionCount
		if done := doneTime(r.Final); !done.IsZero() {
			r.Seconds = done.Sub(r.Final.CreationTimestamp.Time).Seconds()
		}
	}
	return r
}

func doneTime(req *v1.NetworkChangeRequest) time.Time {
	var last time.Time
	for _, c := range req.Status.Conditions {
		if c.LastTransitionTime.After(last) {
			last = c.LastTransitionTime.Time
		}
	}
	if req.Status.Execution != nil && req.Status.Execution.CompletedAt != nil && req.Status.Execution.CompletedAt.After(last) {
		last = req.Status.Execution.CompletedAt.Time
	}
	return last
}

// NewRequest builds a request filed by Requester.
func NewRequest(name string, env v1.Environment, intent string) *v1.NetworkChangeRequest {
	return &v1.NetworkChangeRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: RequestNamespace,
			Annotations: map[string]string{v1.AnnotationRequester: Requester}},
		Spec: v1.NetworkChangeRequestSpec{Intent: intent, Environment: env},
	}
}

// Submit creates req as the user named in its requester annotation.
func (s *Stack) Submit(ctx context.Context, req *v1.NetworkChangeRequest) error {
	c, err := s.As(req.Annotations[v1.AnnotationRequester])
	if err != nil {
		return err
	}
	if err := c.Create(ctx, req); err != nil {
		return fmt.Errorf("create request %s: %w", req.Name, err)
	}
	return nil
}

// terminal phases end a scenario's wait.
var terminal = []v1.Phase{v1.PhaseSucceeded, v1.PhaseFailed, v1.PhaseRolledBack, v1.PhaseVetoed,
	v1.PhaseNoAction, v1.PhaseReverted, v1.PhaseExpired}

// Wait polls the request until cond holds or timeout passes.
func (s *Stack) Wait(ctx context.Context, name string, timeout time.Duration, what string, cond func(*v1.NetworkChangeRequest) bool) (*v1.NetworkChangeRequest, error) {
	deadline := time.Now().Add(timeout)
	req := &v1.NetworkChangeRequest{}
	for {
		err := s.Control.Client.Get(ctx, types.NamespacedName{Namespace: RequestNamespace, Name: name}, req)
		if err == nil && cond(req) {
			return req, nil
		}
		if time.Now().After(deadline) {
			return req, fmt.Errorf("request %s: timed out waiting for %s (phase %q, message %q)", name, what, req.Status.Phase, req.Status.Message)
		}
		select {
		case <-ctx.Done():
			return req, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// WaitPhase waits for one of phases (or any terminal phase, which is then an error if not wanted).
func (s *Stack) WaitPhase(ctx context.Context, name string, timeout time.Duration, phases ...v1.Phase) (*v1.NetworkChangeRequest, error) {
	req, err := s.Wait(ctx, name, timeout, fmt.Sprint(phases), func(r *v1.NetworkChangeRequest) bool {
		return slices.Contains(phases, r.Status.Phase) || slices.Contains(terminal, r.Status.Phase)
	})
	if err != nil {
		return req, err
	}
	if !slices.Contains(phases, req.Status.Phase) {
		return req, fmt.Errorf("request %s ended %s, want %v: %s", name, req.Status.Phase, phases, req.Status.Message)
	}
	return req, nil
}

// Verdict returns the ChangeVerdict for the request's current plan.
func (s *Stack) Verdict(ctx context.Context, req *v1.NetworkChangeRequest) (*v1.ChangeVerdict, error) {
	var list v1.ChangeVerdictList
	if err := s.Auditor.Client.List(ctx, &list, client.InNamespace(AuditorNamespace)); err != nil {
		return nil, err
	}
	for i := range list.Items {
		cv := &list.Items[i]
		if cv.Spec.RequestRef.UID == string(req.UID) && req.Status.Plan != nil && cv.Spec.PlanDigest == req.Status.Plan.Digest {
			return cv, nil
		}
	}
	return nil, fmt.Errorf("no ChangeVerdict for %s", req.Name)
}

// Approve creates a ChangeApproval for the request's verdict as user.
func (s *Stack) Approve(ctx context.Context, req *v1.NetworkChangeRequest, user string, decision v1.ApprovalDecision) error {
	cv, err := s.Verdict(ctx, req)
	if err != nil {
		return err
	}
	c, err := s.AuditorAs(user)
	if err != nil {
		return err
	}
	a := &v1.ChangeApproval{
		ObjectMeta: metav1.ObjectMeta{GenerateName: req.Name + "-" + user + "-", Namespace: AuditorNamespace},
		Spec: v1.ChangeApprovalSpec{VerdictName: cv.Name, PlanDigest: cv.Spec.PlanDigest, Decision: decision,
			Approver: user, Comment: "reviewed in the demo"},
	}
	if err := c.Create(ctx, a); err != nil {
		return fmt.Errorf("%s approves %s: %w", user, req.Name, err)
	}
	return nil
}

func (s *Stack) ec2() *ec2.Client { return ec2.NewFromConfig(s.AWS) }

func runGuardDuty(ctx context.Context, s *Stack, r *Result) error {
	e := s.Estate
	req := NewRequest("guardduty-crypto-mining", v1.EnvironmentProduction,
		"GuardDuty finding CryptoCurrency:EC2/BitcoinTool.B!DNS on "+e.CryptoInstance+": isolate the instance")
	req.Spec.Source = &v1.Source{Type: v1.SourceGuardDuty, Event: e.GuardDutyFinding(e.CryptoInstance, 8)}
	if err := s.Submit(ctx, req); err != nil {
		return err
	}
	final, err := s.WaitPhase(ctx, req.Name, 90*time.Second, v1.PhaseSucceeded)
	r.Final = final
	if err != nil {
		return err
	}
	groups, err := s.instanceGroups(ctx, e.CryptoInstance)
	if err != nil {
		return err
	}
	if len(groups) != 1 || !strings.HasPrefix(groups[0].name, "netchange-quarantine") {
		return fmt.Errorf("instance %s has groups %v, want only the quarantine group", e.CryptoInstance, groups)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%s now only in %s (%s)", e.CryptoInstance, groups[0].name, groups[0].id))
	return nil
}

type group struct{ id, name string }

func (s *Stack) instanceGroups(ctx context.Context, id string) ([]group, error) {
	out, err := s.ec2().DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return nil, err
	}
	var gs []group
	for _, res := range out.Reservations {
		for _, inst := range res.Instances {
			for _, g := range inst.SecurityGroups {
				gs = append(gs, group{aws.ToString(g.GroupId), aws.ToString(g.GroupName)})
			}
		}
	}
	return gs, nil
}

// NACLDenies returns the deny entries of a network ACL for cidr.
func (s *Stack) NACLDenies(ctx context.Context, acl, cidr string) ([]ec2types.NetworkAclEntry, error) {
	out, err := s.ec2().DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{NetworkAclIds: []string{acl}})
	if err != nil {
		return nil, err
	}
	var hits []ec2types.NetworkAclEntry
	for _, n := range out.NetworkAcls {
		for _, en := range n.Entries {
			if aws.ToString(en.CidrBlock) == cidr && en.RuleAction == ec2types.RuleActionDeny {
				hits = append(hits, en)
			}
		}
	}
	return hits, nil
}

func runBlock(ctx context.Context, s *Stack, r *Result) error {
	req := NewRequest("block-malicious-scanner", v1.EnvironmentProduction,
		"Block 203.0.113.0/24 from the production subnets: malicious scanner seen in VPC flow logs")
	req.Spec.Targets = &v1.Targets{CIDRs: []string{"203.0.113.0/24"}}
	if err := s.Submit(ctx, req); err != nil {
		return err
	}
	final, err := s.WaitPhase(ctx, req.Name, 90*time.Second, v1.PhaseSucceeded)
	r.Final = final
	if err != nil {
		return err
	}
	hits, err := s.NACLDenies(ctx, s.Estate.ProdNACL, "203.0.113.0/24")
	if err != nil {
		return err
	}
	if len(hits) == 0 {
		return fmt.Errorf("no deny entry for 203.0.113.0/24 on %s", s.Estate.ProdNACL)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%s denies 203.0.113.0/24 (rule %d)", s.Estate.ProdNACL, aws.ToInt32(hits[0].RuleNumber)))
	return nil
}

// SGIngress reports whether group allows protocol/port from cidr.
func (s *Stack) SGIngress(ctx context.Context, sg, proto string, port int32, cidr string) (bool, error) {
	out, err := s.ec2().DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{sg}})
	if err != nil {
		return false, err
	}
	for _, g := range out.SecurityGroups {
		for _, p := range g.IpPermissions {
			if aws.ToString(p.IpProtocol) != proto || aws.ToInt32(p.FromPort) > port || aws.ToInt32(p.ToPort) < port {
				continue
			}
			for _, rg := range p.IpRanges {
				if aws.ToString(rg.CidrIp) == cidr {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

func runAllow(ctx context.Context, s *Stack, r *Result) error {
	req := NewRequest("allow-https-to-payments", v1.EnvironmentDevelopment,
		"Allow TCP 443 from 10.20.0.0/16 to the payments security group")
	if err := s.Submit(ctx, req); err != nil {
		return err
	}
	got, err := s.WaitPhase(ctx, req.Name, 60*time.Second, v1.PhaseAwaitingHumanApproval, v1.PhaseSucceeded)
	r.Final = got
	if err != nil {
		return err
	}
	if got.Status.Phase == v1.PhaseAwaitingHumanApproval {
		r.Notes = append(r.Notes, "escalated: "+got.Status.Message)
		if err := s.Approve(ctx, got, Approver1, v1.ApprovalApprove); err != nil {
			return err
		}
		r.Notes = append(r.Notes, Approver1+" approved")
	}
	final, err := s.WaitPhase(ctx, req.Name, 90*time.Second, v1.PhaseSucceeded)
	r.Final = final
	if err != nil {
		return err
	}
	ok, err := s.SGIngress(ctx, s.Estate.PaymentsSG, "tcp", 443, "10.20.0.0/16")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("payments security group %s does not allow tcp/443 from 10.20.0.0/16", s.Estate.PaymentsSG)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%s allows tcp/443 from 10.20.0.0/16", s.Estate.PaymentsSG))
	return nil
}

// MisbehavingPlan is the scripted model's answer: the asked-for rule plus SSH from
// the internet on the production web security group.
func (s *Stack) MisbehavingPlan() string {
	e := s.Estate
	p := map[string]any{
		"rationale": "Open HTTPS for the payments team. Also open SSH on prod-web for easier debugging.",
		"actions": []map[string]any{
			{"type": "SecurityGroupRuleAuthorize", "reason": "allow HTTPS as asked",
				"securityGroupRule": map[string]any{"groupID": e.PaymentsSG, "direction": "ingress", "protocol": "tcp",
					"ports": map[string]any{"from": 443, "to": 443}, "cidr": "10.20.0.0/16", "description": "https from 10.20.0.0/16"}},
			{"type": "SecurityGroupRuleAuthorize", "reason": "debug access",
				"securityGroupRule": map[string]any{"groupID": e.ProdWebSG, "direction": "ingress", "protocol": "tcp",
					"ports": map[string]any{"from": 22, "to": 22}, "cidr": "0.0.0.0/0", "description": "ssh"}},
		},
	}
	b, _ := json.Marshal(p)
	return string(b)
}

func runMisbehavingLLM(ctx context.Context, s *Stack, r *Result) error {
	if s.LLM == nil {
		return errors.New("the stack was started without the scripted LLM server")
	}
	s.LLM.Reset()
	s.LLM.Loop(true).Reply(s.MisbehavingPlan())
	req := NewRequest("llm-allow-https", v1.EnvironmentDevelopment,
		"Allow TCP 443 from 10.20.0.0/16 to the payments security group (planned by the LLM)")
	req.Annotations["netchange.io/planner"] = "llm"
	if err := s.Submit(ctx, req); err != nil {
		return err
	}
	final, err := s.WaitPhase(ctx, req.Name, 90*time.Second, v1.PhaseVetoed)
	r.Final = final
	if err != nil {
		return err
	}
	if !strings.Contains(final.Status.Message, s.Estate.ProdWebSG) {
		return fmt.Errorf("veto message does not name the extra action on %s: %q", s.Estate.ProdWebSG, final.Status.Message)
	}
	open, err := s.SGIngress(ctx, s.Estate.ProdWebSG, "tcp", 22, "0.0.0.0/0")
	if err != nil {
		return err
	}
	if open {
		return fmt.Errorf("prod-web %s allows SSH from the internet", s.Estate.ProdWebSG)
	}
	r.Notes = append(r.Notes, "veto: "+final.Status.Message)
	return nil
}

// RouteTarget returns the target of the route to dest in a route table ("" if none).
func (s *Stack) RouteTarget(ctx context.Context, rtb, dest string) (string, error) {
	out, err := s.ec2().DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{rtb}})
	if err != nil {
		return "", err
	}
	for _, t := range out.RouteTables {
		for _, rt := range t.Routes {
			if aws.ToString(rt.DestinationCidrBlock) != dest {
				continue
			}
			for _, id := range []*string{rt.NetworkInterfaceId, rt.GatewayId, rt.NatGatewayId, rt.TransitGatewayId, rt.VpcPeeringConnectionId, rt.InstanceId} {
				if aws.ToString(id) != "" {
					return aws.ToString(id), nil
				}
			}
		}
	}
	return "", nil
}

func runRoute(ctx context.Context, s *Stack, r *Result) error {
	e := s.Estate
	req := NewRequest("route-to-inspection", v1.EnvironmentProduction,
		fmt.Sprintf("Route 10.50.0.0/16 via %s in %s: send partner traffic through the inspection appliance", e.ProdENI, e.ProdRouteTable))
	if err := s.Submit(ctx, req); err != nil {
		return err
	}
	got, err := s.WaitPhase(ctx, req.Name, 60*time.Second, v1.PhaseAwaitingHumanApproval)
	r.Final = got
	if err != nil {
		return err
	}
	r.Notes = append(r.Notes, "escalated: "+got.Status.Message)
	for _, u := range []string{Approver1, Approver2} {
		if err := s.Approve(ctx, got, u, v1.ApprovalApprove); err != nil {
			return err
		}
	}
	r.Notes = append(r.Notes, Approver1+" and "+Approver2+" approved")
	final, err := s.WaitPhase(ctx, req.Name, 90*time.Second, v1.PhaseSucceeded)
	r.Final = final
	if err != nil {
		return err
	}
	target, err := s.RouteTarget(ctx, e.ProdRouteTable, "10.50.0.0/16")
	if err != nil {
		return err
	}
	if target != e.ProdENI {
		return fmt.Errorf("route 10.50.0.0/16 in %s points at %q, want %s", e.ProdRouteTable, target, e.ProdENI)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%s routes 10.50.0.0/16 via %s", e.ProdRouteTable, target))
	return nil
}

// FreezeFor declares a ChangeFreeze in the control cluster that ends after d.
func (s *Stack) FreezeFor(ctx context.Context, name string, d time.Duration) (*v1.ChangeFreeze, error) {
	end := metav1.NewTime(time.Now().Add(d).Truncate(time.Second))
	fz := &v1.ChangeFreeze{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.ChangeFreezeSpec{Reason: "demo: maintenance window on the network team's side", Author: "oncall", End: &end}}
	return fz, s.Control.Client.Create(ctx, fz)
}

func runFreeze(ctx context.Context, s *Stack, r *Result) error {
	fz, err := s.FreezeFor(ctx, "demo-freeze", 20*time.Second)
	if err != nil {
		return err
	}
	req := NewRequest("block-during-freeze", v1.EnvironmentDevelopment,
		"Block 198.51.100.0/24 from the development subnets")
	if err := s.Submit(ctx, req); err != nil {
		return err
	}
	held, err := s.Wait(ctx, req.Name, 60*time.Second, "held by the freeze", func(q *v1.NetworkChangeRequest) bool {
		c := meta.FindStatusCondition(q.Status.Conditions, v1.ConditionReady)
		return c != nil && c.Reason == v1.ReasonFrozen
	})
	r.Final = held
	if err != nil {
		return err
	}
	r.Notes = append(r.Notes, "held: "+meta.FindStatusCondition(held.Status.Conditions, v1.ConditionReady).Message)
	if hits, err := s.NACLDenies(ctx, s.Estate.DevNACL, "198.51.100.0/24"); err != nil || len(hits) > 0 {
		return fmt.Errorf("applied during the freeze (entries %v, err %v)", hits, err)
	}
	final, err := s.WaitPhase(ctx, req.Name, 90*time.Second, v1.PhaseSucceeded)
	r.Final = final
	if err != nil {
		return err
	}
	if final.Status.Execution == nil || final.Status.Execution.StartedAt == nil || fz.Spec.End.After(final.Status.Execution.StartedAt.Time) {
		return fmt.Errorf("execution started before the freeze ended at %s", fz.Spec.End)
	}
	hits, err := s.NACLDenies(ctx, s.Estate.DevNACL, "198.51.100.0/24")
	if err != nil || len(hits) == 0 {
		return fmt.Errorf("no deny entry for 198.51.100.0/24 on %s after the freeze (err %v)", s.Estate.DevNACL, err)
	}
	r.Notes = append(r.Notes, "applied after the freeze ended")
	return nil
}
