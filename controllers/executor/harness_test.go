package executor

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/audit"
	"github.com/netchange-io/netchange/internal/awsapply"
	"github.com/netchange-io/netchange/internal/awscontext"
	"github.com/netchange-io/netchange/internal/plan"
	"github.com/netchange-io/netchange/internal/ratelimit"
	"github.com/netchange-io/netchange/internal/verdict"
	"github.com/netchange-io/netchange/test/awsproxy"
	"github.com/netchange-io/netchange/test/testenv"
)

const clusterName = "control"

// memAudit is an in-memory audit.Appender that can be made to fail.
type memAudit struct {
	mu     sync.Mutex
	events []audit.Event
	fail   bool
	// after, when set, runs after each recorded event (outside the lock).
	after func(audit.Event)
}

func (m *memAudit) Append(_ context.Context, ev audit.Event) error {
	m.mu.Lock()
	if m.fail {
		m.mu.Unlock()
		return errors.New("audit sink is down (injected)")
	}
	m.events = append(m.events, ev)
	after := m.after
	m.mu.Unlock()
	if after != nil {
		after(ev)
	}
	return nil
}

// setAfter installs (or, with nil, removes) the hook run after each recorded event.
func (m *memAudit) setAfter(f func(audit.Event)) { m.mu.Lock(); m.after = f; m.mu.Unlock() }

func (m *memAudit) setFail(v bool) { m.mu.Lock(); m.fail = v; m.mu.Unlock() }

// count returns how many events of typ were recorded for the request uid.
func (m *memAudit) count(uid types.UID, typ audit.EventType) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.events {
		if e.Request.UID == string(uid) && e.Type == typ {
			n++
		}
	}
	return n
}

// harness is a control cluster, moto behind the counting proxy, the auditor's
// signing key and a restartable executor manager.
type harness struct {
	cluster *testenv.Cluster
	moto    *testenv.Moto
	proxy   *awsproxy.Proxy
	direct  aws.Config // straight to moto: seeding, snapshots for plans, checks
	ec2     *ec2.Client
	priv    ed25519.PrivateKey
	keys    verdict.KeySet
	audit   *memAudit

	rec    *Reconciler
	cancel context.CancelFunc
	done   chan struct{}

	// estate
	vpc, sg, acl, pl string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{cluster: testenv.StartCluster(t), moto: testenv.StartMoto(t), audit: &memAudit{}}
	p, err := awsproxy.Start(h.moto.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	h.proxy = p
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.BaseEndpoint = aws.String(h.moto.Endpoint)
	h.direct, h.ec2 = cfg, ec2.NewFromConfig(cfg)
	privPEM, pubPEM, err := verdict.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if h.priv, err = verdict.ParsePrivateKey(privPEM); err != nil {
		t.Fatal(err)
	}
	pubs, err := verdict.ParsePublicKeys(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	h.keys = verdict.KeySet{}
	h.keys.Add(pubs[0])
	t.Cleanup(h.stop)
	return h
}

// start runs a fresh executor (new process state: empty nonce map, full buckets).
func (h *harness) start(t *testing.T) {
	t.Helper()
	mgr := testenv.NewManager(t, h.cluster.Config)
	base, err := config.LoadDefaultConfig(t.Context(), config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	h.rec = &Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorderFor("netchange-executor"), //nolint:staticcheck // as the manager does
		Audit:     h.audit,
		AWS:       NewFactoryAWS(base, awsapply.Options{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}),
		Limiter:   ratelimit.New(0, 1, time.Now),
		Clock:     time.Now,
		Options: Options{ClusterName: clusterName, Keys: h.keys, DefaultEndpoint: h.proxy.URL,
			MaxRounds: 3, RetryBase: 200 * time.Millisecond},
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.rec.SetupWithManager(ctx, mgr); err != nil {
		cancel()
		t.Fatal(err)
	}
	h.cancel, h.done = cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}(h.done)
}

// stop cancels the executor and waits until it has stopped.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	<-h.done
	h.cancel = nil
}

// seed wipes moto and creates a VPC with a security group, a network ACL and a prefix list.
func (h *harness) seed(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	if err := h.moto.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	vpc, err := h.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := h.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web"), VpcId: vpc.Vpc.VpcId})
	if err != nil {
		t.Fatal(err)
	}
	acl, err := h.ec2.CreateNetworkAcl(ctx, &ec2.CreateNetworkAclInput{VpcId: vpc.Vpc.VpcId})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := h.ec2.CreateManagedPrefixList(ctx, &ec2.CreateManagedPrefixListInput{PrefixListName: aws.String("blocklist"), MaxEntries: aws.Int32(10), AddressFamily: aws.String("IPv4")})
	if err != nil {
		t.Fatal(err)
	}
	h.vpc, h.sg = aws.ToString(vpc.Vpc.VpcId), aws.ToString(sg.GroupId)
	h.acl, h.pl = aws.ToString(acl.NetworkAcl.NetworkAclId), aws.ToString(pl.PrefixList.PrefixListId)
	h.proxy.Reset()
}

// threeActions is the plan most tests run: deny a /24 in the NACL, allow 443 from
// it in the security group, add it to the block list.
func (h *harness) threeActions() []v1.Action {
	return []v1.Action{
		{Type: v1.ActionNetworkACLEntryAdd, NetworkACLEntry: &v1.NetworkACLEntryParams{NetworkACLID: h.acl, RuleNumber: 90, Direction: v1.DirectionIngress,
			RuleAction: v1.RuleActionDeny, Protocol: v1.ProtocolAll, CIDR: "203.0.113.0/24"}},
		{Type: v1.ActionSecurityGroupRuleAuthorize, SecurityGroupRule: &v1.SecurityGroupRuleParams{GroupID: h.sg, Direction: v1.DirectionIngress,
			Protocol: v1.ProtocolTCP, Ports: &v1.PortRange{From: 443, To: 443}, CIDR: "198.51.100.0/24"}},
		{Type: v1.ActionPrefixListEntryAdd, PrefixListEntry: &v1.PrefixListEntryParams{PrefixListID: h.pl, CIDR: "203.0.113.0/24"}},
	}
}

// threeCalls are the mutating calls of threeActions, in order.
var threeCalls = []string{"CreateNetworkAclEntry", "AuthorizeSecurityGroupIngress", "ModifyManagedPrefixList"}

// requestOpts shape a test request.
type requestOpts struct {
	env            v1.Environment
	revertAfter    time.Duration
	deletionPolicy v1.DeletionPolicy
	// tamper changes the approved request (status) before it is written.
	tamper func(n *v1.NetworkChangeRequest)
	// statement changes the verdict statement before it is signed.
	statement func(st *v1.VerdictStatement)
}

// request files a request in ns with a plan of actions (snapshot taken now), an
// Approve verdict signed by the trusted key and Approved=True, as the planner and
// auditor would.
func (h *harness) request(t *testing.T, ns, name string, actions []v1.Action, o requestOpts) *v1.NetworkChangeRequest {
	t.Helper()
	ctx := t.Context()
	c := h.cluster.Client
	if o.env == "" {
		o.env = v1.EnvironmentStaging
	}
	if err := c.Get(ctx, types.NamespacedName{Name: ns}, &corev1.Namespace{}); err != nil {
		testenv.CreateNamespace(t, c, ns, nil)
	}
	n := &v1.NetworkChangeRequest{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.NetworkChangeRequestSpec{Intent: "block 203.0.113.0/24", Environment: o.env, DeletionPolicy: o.deletionPolicy}}
	if o.revertAfter > 0 {
		n.Spec.RevertAfter = &metav1.Duration{Duration: o.revertAfter}
	}
	if err := c.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	snap, err := awscontext.NewFromConfig(h.direct).Snapshot(ctx, actions)
	if err != nil {
		t.Fatal(err)
	}
	p := &v1.Plan{Actions: actions, Region: "us-east-1", Snapshot: snap, Provenance: v1.Provenance{Planner: "rules"}, Generation: n.Generation}
	if p.Digest, err = plan.Digest(n, p); err != nil {
		t.Fatal(err)
	}
	nonce, err := verdict.NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	st := v1.VerdictStatement{Cluster: clusterName, Namespace: ns, Name: name, RequestUID: string(n.UID), Generation: n.Generation,
		PlanDigest: p.Digest, Decision: v1.DecisionApprove, PolicyVersion: "test@1", ExpiresAt: metav1.NewTime(time.Now().Add(time.Hour)), Nonce: nonce}
	if o.statement != nil {
		o.statement(&st)
	}
	sv, err := verdict.Sign(st, h.priv)
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Plan, n.Status.Verdict, n.Status.Phase, n.Status.Decision = p, sv, v1.PhaseApproved, v1.DecisionApprove
	meta.SetStatusCondition(&n.Status.Conditions, metav1.Condition{Type: v1.ConditionApproved, Status: metav1.ConditionTrue, Reason: v1.ReasonAutoApproved, Message: "test", ObservedGeneration: n.Generation})
	if o.tamper != nil {
		o.tamper(n)
	}
	if err := c.Status().Update(ctx, n); err != nil {
		t.Fatal(err)
	}
	return n
}

// wait polls the request until cond holds, failing after a deadline with its status.
func (h *harness) wait(t *testing.T, n *v1.NetworkChangeRequest, what string, cond func(n *v1.NetworkChangeRequest) bool) *v1.NetworkChangeRequest {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	got := &v1.NetworkChangeRequest{}
	for {
		err := h.cluster.Client.Get(t.Context(), types.NamespacedName{Namespace: n.Namespace, Name: n.Name}, got)
		if err == nil && cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s: timed out waiting for %s; phase %q message %q conditions %s journal %s (AWS calls: %s)", n.Namespace, n.Name, what,
				got.Status.Phase, got.Status.Message, conds(got), journal(got), h.proxy.Summary())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ready(reason string) func(n *v1.NetworkChangeRequest) bool {
	return func(n *v1.NetworkChangeRequest) bool {
		c := meta.FindStatusCondition(n.Status.Conditions, v1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == reason
	}
}

func phase(p v1.Phase) func(n *v1.NetworkChangeRequest) bool {
	return func(n *v1.NetworkChangeRequest) bool { return n.Status.Phase == p }
}

func conds(n *v1.NetworkChangeRequest) string {
	s := ""
	for _, c := range n.Status.Conditions {
		s += fmt.Sprintf("[%s=%s %s: %s] ", c.Type, c.Status, c.Reason, c.Message)
	}
	return s
}

func journal(n *v1.NetworkChangeRequest) string {
	if n.Status.Execution == nil {
		return "none"
	}
	s := ""
	for _, e := range n.Status.Execution.Journal {
		s += fmt.Sprintf("[%d %s %s x%d: %s] ", e.Index, e.Type, e.State, e.Attempts, e.Message)
	}
	return s
}

// naclEntries, sgRules and prefixEntries count the changes of threeActions in moto.
func (h *harness) counts(t *testing.T) [3]int {
	t.Helper()
	ctx := t.Context()
	var out [3]int
	acls, err := h.ec2.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{NetworkAclIds: []string{h.acl}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range acls.NetworkAcls[0].Entries {
		if aws.ToInt32(e.RuleNumber) == 90 && !aws.ToBool(e.Egress) {
			out[0]++
		}
	}
	sgs, err := h.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{h.sg}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range sgs.SecurityGroups[0].IpPermissions {
		for _, r := range p.IpRanges {
			if aws.ToInt32(p.FromPort) == 443 && aws.ToString(r.CidrIp) == "198.51.100.0/24" {
				out[1]++
			}
		}
	}
	pls, err := h.ec2.GetManagedPrefixListEntries(ctx, &ec2.GetManagedPrefixListEntriesInput{PrefixListId: aws.String(h.pl)})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range pls.Entries {
		if aws.ToString(e.Cidr) == "203.0.113.0/24" {
			out[2]++
		}
	}
	return out
}

// waitAudit polls until the request has at least n audit records of typ.
func (h *harness) waitAudit(t *testing.T, req *v1.NetworkChangeRequest, typ audit.EventType, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.audit.count(req.UID, typ) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s: %d %s audit records, want at least %d", req.Namespace, req.Name, h.audit.count(req.UID, typ), typ, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
