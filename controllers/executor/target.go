package executor

import (
	"context"
	"fmt"

	ackv1alpha1 "github.com/aws-controllers-k8s/runtime/apis/core/v1alpha1"
	ackcache "github.com/aws-controllers-k8s/runtime/pkg/runtime/cache"
	"github.com/aws/aws-sdk-go-v2/aws"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/awsapply"
	"github.com/netchange-io/netchange/internal/awscontext"
)

// resolveTarget follows ACK's conventions to find where the plan runs:
//   - region: the plan's region; else the request's or its namespace's
//     services.k8s.aws/region (or default-region) annotation; else --aws-region;
//   - account: the plan's account; else the namespace's services.k8s.aws/owner-account-id.
//     A plan account that differs from the namespace's owner account is refused;
//   - endpoint: the namespace's services.k8s.aws/endpoint-url; else --aws-endpoint-url;
//   - role: the account's entry in ACK's ack-role-account-map ConfigMap in the
//     executor's namespace, assumed via STS; no entry means the default credentials.
func resolveTarget(ncr *v1.NetworkChangeRequest, ns *corev1.Namespace, roleMap *corev1.ConfigMap, opts Options) (awsapply.Target, *refusal) {
	var nsAnn map[string]string
	if ns != nil {
		nsAnn = ns.Annotations
	}
	t := awsapply.Target{EndpointURL: opts.DefaultEndpoint}
	p := ncr.Status.Plan
	t.Region = p.Region
	for _, r := range []string{ncr.Annotations[ackv1alpha1.AnnotationRegion], nsAnn[ackv1alpha1.AnnotationRegion], nsAnn[ackv1alpha1.AnnotationDefaultRegion], opts.DefaultRegion} {
		if t.Region == "" {
			t.Region = r
		}
	}
	nsAccount := nsAnn[ackv1alpha1.AnnotationOwnerAccountID]
	t.AccountID = p.AccountID
	if t.AccountID == "" {
		t.AccountID = nsAccount
	} else if nsAccount != "" && nsAccount != t.AccountID {
		return t, &refusal{Reason: v1.ReasonGuardrail, Message: fmt.Sprintf(
			"the plan targets account %s but namespace %s is owned by account %s (%s); file the request in the account's namespace",
			t.AccountID, ncr.Namespace, nsAccount, ackv1alpha1.AnnotationOwnerAccountID)}
	}
	if ep := nsAnn[ackv1alpha1.AnnotationEndpointURL]; ep != "" {
		t.EndpointURL = ep
	}
	if t.AccountID != "" && roleMap != nil {
		t.RoleARN = roleMap.Data[t.AccountID]
	}
	if t.Region == "" {
		return t, &refusal{Reason: v1.ReasonGuardrail, Message: "no AWS region: the plan names none, and neither the namespace (" + ackv1alpha1.AnnotationRegion + ") nor --aws-region sets one"}
	}
	return t, nil
}

// target reads the namespace and the role map and resolves the request's target.
func (s *scope) target(ctx context.Context) (awsapply.Target, *refusal, error) {
	ns := &corev1.Namespace{}
	if err := s.r.Client.Get(ctx, types.NamespacedName{Name: s.ncr.Namespace}, ns); err != nil {
		return awsapply.Target{}, nil, fmt.Errorf("read namespace %s: %w", s.ncr.Namespace, err)
	}
	var roleMap *corev1.ConfigMap
	if s.r.Options.RoleMapNamespace != "" {
		cm := &corev1.ConfigMap{}
		err := s.r.APIReader.Get(ctx, types.NamespacedName{Namespace: s.r.Options.RoleMapNamespace, Name: ackcache.ACKRoleAccountMap}, cm)
		switch {
		case err == nil:
			roleMap = cm
		case !apierrors.IsNotFound(err):
			return awsapply.Target{}, nil, fmt.Errorf("read role map %s/%s: %w", s.r.Options.RoleMapNamespace, ackcache.ACKRoleAccountMap, err)
		}
	}
	t, ref := resolveTarget(s.ncr, ns, roleMap, s.r.Options)
	return t, ref, nil
}

// clients resolves the target and sets s.app and s.snap.
func (s *scope) clients(ctx context.Context) (*refusal, error) {
	if s.app != nil {
		return nil, nil
	}
	t, ref, err := s.target(ctx)
	if err != nil || ref != nil {
		return ref, err
	}
	app, snap, err := s.r.AWS.For(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("AWS clients for %s/%s: %w", t.AccountID, t.Region, err)
	}
	s.app, s.snap = app, snap
	return nil, nil
}

// FactoryAWS is the production AWS: awsapply.Factory for mutations and
// awscontext.Observer (with the SDK's retries) for snapshots.
type FactoryAWS struct {
	// Factory builds and caches per-target clients.
	Factory *awsapply.Factory
}

// For implements AWS.
func (f FactoryAWS) For(ctx context.Context, t awsapply.Target) (Applier, Snapshotter, error) {
	app, cfg, err := f.Factory.For(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	return app, awscontext.NewFromConfig(cfg), nil
}

// NewFactoryAWS returns a FactoryAWS over base credentials.
func NewFactoryAWS(base aws.Config, opts awsapply.Options) FactoryAWS {
	return FactoryAWS{Factory: awsapply.NewFactory(base, opts)}
}
