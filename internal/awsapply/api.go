// Package awsapply applies, observes, verifies and rolls back the actions of the
// netchange catalog against AWS (EC2 and WAFv2). It sits behind two layers: the
// domain methods of Applier (Observe, Apply, Verify, Rollback) and the narrow SDK
// interfaces EC2API and WAFAPI, which list only the aws-sdk-go-v2 calls used.
//
// Exactly-once: none of the catalog's EC2 calls accepts a ClientToken (AWS offers
// idempotency tokens for RunInstances, CreateNatGateway and the like, not for
// security group rules, NACL entries, routes, prefix lists, tags or
// ModifyInstanceAttribute), so an action is applied at most once by observing AWS
// before every retry (a retry after an unknown outcome first asks "is it already in
// effect?") and by treating AWS's "already exists"/"not found" answers as success
// only once a describe call confirms the desired state. Prefix lists are modified
// against their current version and WAF IP sets with their lock token (optimistic
// concurrency on AWS's side). The caller's journal (the executor) covers crashes
// between a call and its record.
//
// Dry runs: SecurityGroup rule authorize/revoke, CreateSecurityGroup,
// ModifyInstanceAttribute, CreateTags and DeleteTags are first sent with DryRun=true
// and must answer DryRunOperation. NACL entries, routes and prefix lists are not
// dry-run: moto (the emulator CI runs against) ignores DryRun for them and would
// apply the change; WAFv2 has no DryRun.
package awsapply

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
)

// EC2API is the subset of the EC2 client the applier uses. Every method returns a
// smithy.APIError carrying the AWS error code on an API failure (see Classify),
// a *smithyhttp.ResponseError for transport-level HTTP failures, and the context's
// error when ctx ends.
type EC2API interface {
	// AuthorizeSecurityGroupIngress adds ingress rules; InvalidPermission.Duplicate when a rule exists,
	// DryRunOperation when DryRun is set and the call would succeed.
	AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, optFns ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
	// AuthorizeSecurityGroupEgress adds egress rules; InvalidPermission.Duplicate when a rule exists.
	AuthorizeSecurityGroupEgress(ctx context.Context, in *ec2.AuthorizeSecurityGroupEgressInput, optFns ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupEgressOutput, error)
	// RevokeSecurityGroupIngress removes ingress rules; InvalidPermission.NotFound when absent.
	RevokeSecurityGroupIngress(ctx context.Context, in *ec2.RevokeSecurityGroupIngressInput, optFns ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupIngressOutput, error)
	// RevokeSecurityGroupEgress removes egress rules; InvalidPermission.NotFound when absent.
	RevokeSecurityGroupEgress(ctx context.Context, in *ec2.RevokeSecurityGroupEgressInput, optFns ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupEgressOutput, error)
	// DescribeSecurityGroups reads groups; InvalidGroup.NotFound when an ID does not exist.
	DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	// CreateSecurityGroup creates a group; InvalidGroup.Duplicate when the name is taken in the VPC.
	CreateSecurityGroup(ctx context.Context, in *ec2.CreateSecurityGroupInput, optFns ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error)
	// CreateNetworkAclEntry adds an entry; NetworkAclEntryAlreadyExists when the rule number is taken.
	CreateNetworkAclEntry(ctx context.Context, in *ec2.CreateNetworkAclEntryInput, optFns ...func(*ec2.Options)) (*ec2.CreateNetworkAclEntryOutput, error)
	// DeleteNetworkAclEntry removes an entry; InvalidNetworkAclEntry.NotFound when absent (moto: HTTP 500).
	DeleteNetworkAclEntry(ctx context.Context, in *ec2.DeleteNetworkAclEntryInput, optFns ...func(*ec2.Options)) (*ec2.DeleteNetworkAclEntryOutput, error)
	// DescribeNetworkAcls reads network ACLs; InvalidNetworkAclID.NotFound when an ID does not exist.
	DescribeNetworkAcls(ctx context.Context, in *ec2.DescribeNetworkAclsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeNetworkAclsOutput, error)
	// CreateRoute adds a route; RouteAlreadyExists when the destination is taken.
	CreateRoute(ctx context.Context, in *ec2.CreateRouteInput, optFns ...func(*ec2.Options)) (*ec2.CreateRouteOutput, error)
	// ReplaceRoute re-targets a route; InvalidRoute.NotFound (or InvalidParameterValue) when absent.
	ReplaceRoute(ctx context.Context, in *ec2.ReplaceRouteInput, optFns ...func(*ec2.Options)) (*ec2.ReplaceRouteOutput, error)
	// DeleteRoute removes a route; InvalidRoute.NotFound when absent.
	DeleteRoute(ctx context.Context, in *ec2.DeleteRouteInput, optFns ...func(*ec2.Options)) (*ec2.DeleteRouteOutput, error)
	// DescribeRouteTables reads route tables; InvalidRouteTableID.NotFound when an ID does not exist.
	DescribeRouteTables(ctx context.Context, in *ec2.DescribeRouteTablesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error)
	// DescribeManagedPrefixLists reads prefix lists (with their current version);
	// InvalidPrefixListID.NotFound when an ID does not exist.
	DescribeManagedPrefixLists(ctx context.Context, in *ec2.DescribeManagedPrefixListsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeManagedPrefixListsOutput, error)
	// GetManagedPrefixListEntries reads a prefix list's entries; InvalidPrefixListID.NotFound when absent.
	GetManagedPrefixListEntries(ctx context.Context, in *ec2.GetManagedPrefixListEntriesInput, optFns ...func(*ec2.Options)) (*ec2.GetManagedPrefixListEntriesOutput, error)
	// ModifyManagedPrefixList adds/removes entries at CurrentVersion;
	// PrefixListVersionMismatch when the version is stale (moto does not check it).
	ModifyManagedPrefixList(ctx context.Context, in *ec2.ModifyManagedPrefixListInput, optFns ...func(*ec2.Options)) (*ec2.ModifyManagedPrefixListOutput, error)
	// DescribeInstances reads instances; InvalidInstanceID.NotFound when an ID does not exist.
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	// ModifyInstanceAttribute replaces an instance's security groups (Groups);
	// DryRunOperation when DryRun is set and the call would succeed.
	ModifyInstanceAttribute(ctx context.Context, in *ec2.ModifyInstanceAttributeInput, optFns ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error)
	// CreateTags adds or overwrites tags; DryRunOperation when DryRun is set and the call would succeed.
	CreateTags(ctx context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	// DeleteTags removes tags (missing tags are not an error); DryRunOperation with DryRun.
	DeleteTags(ctx context.Context, in *ec2.DeleteTagsInput, optFns ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error)
	// DescribeTags reads tags by filter (resource-id, key); an empty result is not an error.
	DescribeTags(ctx context.Context, in *ec2.DescribeTagsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeTagsOutput, error)
}

// WAFAPI is the subset of the WAFv2 client the applier uses. Errors are
// smithy.APIErrors: WAFNonexistentItemException when the set does not exist,
// WAFOptimisticLockException when the lock token is stale (retried after a fresh
// GetIPSet), WAFInvalidParameterException for bad input.
type WAFAPI interface {
	// GetIPSet reads an IP set and its current lock token.
	GetIPSet(ctx context.Context, in *wafv2.GetIPSetInput, optFns ...func(*wafv2.Options)) (*wafv2.GetIPSetOutput, error)
	// UpdateIPSet replaces an IP set's addresses, guarded by the lock token.
	UpdateIPSet(ctx context.Context, in *wafv2.UpdateIPSetInput, optFns ...func(*wafv2.Options)) (*wafv2.UpdateIPSetOutput, error)
}
