// Package awscontext observes AWS, read-only, for the planners, the auditor and the
// executor: a per-resource snapshot of what a plan touches (with canonical,
// deterministic state for stale-plan detection) and a compact estate inventory the
// planners ground plans in. It only ever calls Describe*/Get*/List* APIs.
package awscontext

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/aws/smithy-go"
)

// ErrNotFound is wrapped by every error about an AWS object that does not exist
// (or whose ID AWS rejects as malformed). The message names the object.
var ErrNotFound = errors.New("not found in AWS")

// ErrUnsupported is wrapped by errors about a resource kind netchange cannot observe.
var ErrUnsupported = errors.New("resource kind not supported")

// Tag keys netchange reads.
const (
	// TagEnvironment is the tag whose (lower-cased) value is a resource's environment.
	TagEnvironment = "Environment"
	// TagName is the AWS console's name tag.
	TagName = "Name"
	// TagProtected marks a resource netchange must never change automatically; its
	// presence counts, whatever its value.
	TagProtected = "netchange.io/protected"
)

// Resource kinds recorded in v1alpha1.ResourceSnapshot.Kind.
const (
	// KindSecurityGroup is an EC2 security group (sg-).
	KindSecurityGroup = "SecurityGroup"
	// KindNetworkACL is a network ACL (acl-).
	KindNetworkACL = "NetworkACL"
	// KindRouteTable is a route table (rtb-).
	KindRouteTable = "RouteTable"
	// KindPrefixList is a managed prefix list (pl-).
	KindPrefixList = "PrefixList"
	// KindInstance is an EC2 instance (i-).
	KindInstance = "Instance"
	// KindVPC is a VPC (vpc-), observed when a plan tags it.
	KindVPC = "VPC"
	// KindSubnet is a subnet (subnet-), observed when a plan tags it.
	KindSubnet = "Subnet"
	// KindNetworkInterface is an elastic network interface (eni-), observed when a plan tags it.
	KindNetworkInterface = "NetworkInterface"
	// KindInternetGateway is an internet gateway (igw-), observed when a plan tags it.
	KindInternetGateway = "InternetGateway"
	// KindWAFIPSet is a WAFv2 IP set; its snapshot ID is WAFIPSetKey(scope, name, id).
	KindWAFIPSet = "WAFIPSet"
)

// EC2API is the part of the EC2 API netchange observes with. *ec2.Client satisfies it.
// Every method returns a smithy.APIError for errors AWS reports; codes ending in
// ".NotFound" or ".Malformed" mean the named object does not exist. Other errors
// (network, throttling, 5xx) may pass and can be retried.
type EC2API interface {
	// DescribeSecurityGroups lists security groups; asking for a missing ID fails
	// with InvalidGroup.NotFound.
	DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	// DescribeNetworkAcls lists network ACLs; a missing ID fails with
	// InvalidNetworkAclID.NotFound (moto may instead return an empty list).
	DescribeNetworkAcls(ctx context.Context, in *ec2.DescribeNetworkAclsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeNetworkAclsOutput, error)
	// DescribeRouteTables lists route tables; a missing ID fails with
	// InvalidRouteTableID.NotFound.
	DescribeRouteTables(ctx context.Context, in *ec2.DescribeRouteTablesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error)
	// DescribeInstances lists instances by reservation; a missing ID fails with
	// InvalidInstanceID.NotFound or InvalidInstanceID.Malformed.
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	// DescribeSubnets lists subnets; a missing ID fails with InvalidSubnetID.NotFound.
	DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	// DescribeVpcs lists VPCs; a missing ID fails with InvalidVpcID.NotFound.
	DescribeVpcs(ctx context.Context, in *ec2.DescribeVpcsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	// DescribeNetworkInterfaces lists ENIs; a missing ID fails with
	// InvalidNetworkInterfaceID.NotFound.
	DescribeNetworkInterfaces(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error)
	// DescribeInternetGateways lists internet gateways; a missing ID fails with
	// InvalidInternetGatewayID.NotFound.
	DescribeInternetGateways(ctx context.Context, in *ec2.DescribeInternetGatewaysInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInternetGatewaysOutput, error)
	// DescribeManagedPrefixLists lists managed prefix lists (customer and AWS
	// owned); a missing ID fails with InvalidPrefixListID.NotFound.
	DescribeManagedPrefixLists(ctx context.Context, in *ec2.DescribeManagedPrefixListsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeManagedPrefixListsOutput, error)
	// GetManagedPrefixListEntries returns a prefix list's entries (current version
	// when TargetVersion is unset); a missing ID fails with InvalidPrefixListID.NotFound.
	GetManagedPrefixListEntries(ctx context.Context, in *ec2.GetManagedPrefixListEntriesInput, optFns ...func(*ec2.Options)) (*ec2.GetManagedPrefixListEntriesOutput, error)
}

// WAFAPI is the part of the WAFv2 API netchange observes with. *wafv2.Client
// satisfies it. A missing IP set fails with WAFNonexistentItemException; other
// errors (network, WAFInternalErrorException, throttling) may pass.
type WAFAPI interface {
	// ListIPSets lists the IP sets of a scope, paginated by NextMarker.
	ListIPSets(ctx context.Context, in *wafv2.ListIPSetsInput, optFns ...func(*wafv2.Options)) (*wafv2.ListIPSetsOutput, error)
	// GetIPSet returns one IP set with its addresses and lock token; a missing set
	// fails with WAFNonexistentItemException.
	GetIPSet(ctx context.Context, in *wafv2.GetIPSetInput, optFns ...func(*wafv2.Options)) (*wafv2.GetIPSetOutput, error)
	// ListTagsForResource returns the tags of a WAF resource by ARN; a missing
	// resource fails with WAFNonexistentItemException.
	ListTagsForResource(ctx context.Context, in *wafv2.ListTagsForResourceInput, optFns ...func(*wafv2.Options)) (*wafv2.ListTagsForResourceOutput, error)
}

// Observer describes AWS, read-only. It is safe for concurrent use.
type Observer struct {
	ec2 EC2API
	waf WAFAPI
}

// New returns an Observer over the given clients. waf may be nil: then WAF IP sets
// are left out of the estate and snapshotting one fails.
func New(ec2 EC2API, waf WAFAPI) *Observer {
	return &Observer{ec2: ec2, waf: waf}
}

// NewFromConfig returns an Observer with EC2 and WAFv2 clients built from cfg
// (region, credentials and BaseEndpoint are taken from cfg).
func NewFromConfig(cfg aws.Config) *Observer {
	return New(ec2.NewFromConfig(cfg), wafv2.NewFromConfig(cfg))
}

// isNotFound reports whether err is AWS saying the object does not exist.
func isNotFound(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	code := ae.ErrorCode()
	return strings.HasSuffix(code, ".NotFound") || strings.HasSuffix(code, ".Malformed") ||
		code == "WAFNonexistentItemException"
}
