// Package estate seeds a small, known AWS estate into moto_server for tests, e2e
// runs and `make demo`: a production and a development VPC with subnets, network
// ACLs, security groups, route tables, gateways, instances, a managed prefix list
// and a WAFv2 IP set, all in us-east-1. It prints nothing; moto's reset wipes it.
package estate

import (
	"net/http"

	"context"
	"errors"
	"fmt"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
)

// Fixed facts of the seeded estate.
const (
	// Region is where Seed creates everything, whatever cfg.Region says.
	Region = "us-east-1"
	// AccountID is moto's default account.
	AccountID = "123456789012"
	// ProdVPCCIDR is the production VPC's CIDR.
	ProdVPCCIDR = "10.0.0.0/16"
	// DevVPCCIDR is the development (non-production) VPC's CIDR.
	DevVPCCIDR = "10.1.0.0/16"
	// BlockListName is the name of both the managed prefix list and the WAF IP set.
	BlockListName = "netchange-blocklist"
	// BlockListMaxEntries is the prefix list's capacity.
	BlockListMaxEntries = 50
	// SeededBlockedCIDR is the one entry the prefix list and the WAF IP set start with.
	SeededBlockedCIDR = "192.0.2.66/32"
	// ImageID is the AMI the instances are launched from (a moto built-in image).
	ImageID = "ami-12c6146b"
	// ProtectedTag is the tag key that marks a resource netchange must not change automatically.
	ProtectedTag = "netchange.io/protected"
)

// WAFIPSet names a WAFv2 IP set.
type WAFIPSet struct {
	// Name is the IP set's name.
	Name string
	// ID is the IP set's ID.
	ID string
	// ARN is the IP set's ARN.
	ARN string
}

// Estate holds every ID Seed created, by role.
type Estate struct {
	// Region is the region everything lives in (Region).
	Region string
	// AccountID is the account (moto's default).
	AccountID string

	// ProdVPC is the production VPC (10.0.0.0/16, Environment=production).
	ProdVPC string
	// DevVPC is the non-production VPC (10.1.0.0/16, Environment=development).
	DevVPC string
	// ProdSubnets are the production subnets 10.0.1.0/24 and 10.0.2.0/24.
	ProdSubnets []string
	// DevSubnets are the development subnets 10.1.1.0/24 and 10.1.2.0/24.
	DevSubnets []string
	// ProdNACL is the production VPC's custom network ACL, associated with ProdSubnets,
	// with allow-all rule 100 in both directions.
	ProdNACL string
	// DevNACL is the development VPC's custom network ACL, associated with DevSubnets.
	DevNACL string

	// ProdWebSG is the production security group prod-web (tcp 443 from anywhere).
	ProdWebSG string
	// ProdDBSG is the production security group prod-db, tagged netchange.io/protected=true.
	ProdDBSG string
	// PaymentsSG is the development security group "payments" (Name tag "payments").
	PaymentsSG string
	// StagingAppSG is the development security group staging-app.
	StagingAppSG string

	// ProdIGW is the internet gateway attached to ProdVPC.
	ProdIGW string
	// DevIGW is the internet gateway attached to DevVPC.
	DevIGW string
	// ProdENI is a spare network interface in ProdSubnets[1], a second route target
	// for route replace tests (moto has no transit gateway attachments).
	ProdENI string
	// ProdRouteTable is the production route table (0.0.0.0/0 via ProdIGW),
	// associated with ProdSubnets.
	ProdRouteTable string
	// DevRouteTable is the development route table (0.0.0.0/0 via DevIGW),
	// associated with DevSubnets.
	DevRouteTable string

	// ProdWebInstance is prod-web-1 (10.0.1.10, ProdSubnets[0], prod-web SG).
	ProdWebInstance string
	// CryptoInstance is crypto-victim (10.0.2.20, ProdSubnets[1], prod-web SG), the
	// instance the sample GuardDuty finding isolates.
	CryptoInstance string
	// DevAppInstance is dev-app-1 (10.1.1.10, DevSubnets[0], payments and staging-app SGs).
	DevAppInstance string

	// BlockList is the managed prefix list netchange-blocklist (max 50 entries).
	BlockList string
	// WAFIPSet is the REGIONAL WAFv2 IP set netchange-blocklist.
	WAFIPSet WAFIPSet

	instances map[string]instanceInfo
}

type instanceInfo struct {
	name, subnet, vpc, ip string
	groups                []string
}

// MotoConfig returns an aws.Config for a moto_server at endpoint, in Region, with
// the environment's credentials or, when none are set, moto's fake ones.
func MotoConfig(ctx context.Context, endpoint string) (aws.Config, error) {
	// moto_server closes idle keep-alive connections under load; a request sent on
	// one fails and the SDK retries it, which for a non-idempotent call that did
	// happen means a second, failing call. Fresh connections avoid that.
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) { tr.DisableKeepAlives = true })
	opts := []func(*config.LoadOptions) error{config.WithRegion(Region), config.WithBaseEndpoint(endpoint), config.WithHTTPClient(httpClient)}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config for %s: %w", endpoint, err)
	}
	return cfg, nil
}

// SeedFromEnv seeds the moto_server named by AWS_ENDPOINT_URL.
func SeedFromEnv(ctx context.Context) (*Estate, error) {
	endpoint := os.Getenv("AWS_ENDPOINT_URL")
	if endpoint == "" {
		return nil, errors.New("seed estate: AWS_ENDPOINT_URL is not set: point it at a moto_server, e.g. http://127.0.0.1:5000")
	}
	cfg, err := MotoConfig(ctx, endpoint)
	if err != nil {
		return nil, fmt.Errorf("seed estate: %w", err)
	}
	return Seed(ctx, cfg)
}

// Seed creates the estate in Region through cfg's endpoint (meant for moto; it is
// not idempotent: reset moto between runs) and returns every ID by role.
func Seed(ctx context.Context, cfg aws.Config) (*Estate, error) {
	cfg = cfg.Copy()
	cfg.Region = Region
	s := &seeder{ec2: ec2.NewFromConfig(cfg), waf: wafv2.NewFromConfig(cfg)}
	e, err := s.seed(ctx)
	if err != nil {
		return nil, fmt.Errorf("seed estate: %w", err)
	}
	return e, nil
}

type seeder struct {
	ec2 *ec2.Client
	waf *wafv2.Client
}

func tags(kv ...string) []ec2types.Tag {
	var out []ec2types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, ec2types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func (s *seeder) tag(ctx context.Context, id string, kv ...string) error {
	if _, err := s.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: tags(kv...)}); err != nil {
		return fmt.Errorf("tag %s: %w", id, err)
	}
	return nil
}

type vpcSeed struct {
	env, name, cidr string
	subnets         [2]string
	azs             [2]string
}

type vpcOut struct {
	vpc, nacl, rtb, igw string
	subnets             []string
}

func (s *seeder) seedVPC(ctx context.Context, in vpcSeed) (*vpcOut, error) {
	o := &vpcOut{}
	v, err := s.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(in.cidr)})
	if err != nil {
		return nil, fmt.Errorf("create VPC %s: %w", in.name, err)
	}
	o.vpc = aws.ToString(v.Vpc.VpcId)
	if err := s.tag(ctx, o.vpc, "Name", in.name, "Environment", in.env); err != nil {
		return nil, err
	}
	for i, cidr := range in.subnets {
		sn, err := s.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(o.vpc), CidrBlock: aws.String(cidr), AvailabilityZone: aws.String(in.azs[i])})
		if err != nil {
			return nil, fmt.Errorf("create subnet %s: %w", cidr, err)
		}
		id := aws.ToString(sn.Subnet.SubnetId)
		if err := s.tag(ctx, id, "Name", fmt.Sprintf("%s-%d", in.name, i+1), "Environment", in.env); err != nil {
			return nil, err
		}
		o.subnets = append(o.subnets, id)
	}

	acl, err := s.ec2.CreateNetworkAcl(ctx, &ec2.CreateNetworkAclInput{VpcId: aws.String(o.vpc)})
	if err != nil {
		return nil, fmt.Errorf("create network ACL in %s: %w", o.vpc, err)
	}
	o.nacl = aws.ToString(acl.NetworkAcl.NetworkAclId)
	if err := s.tag(ctx, o.nacl, "Name", in.name+"-nacl", "Environment", in.env); err != nil {
		return nil, err
	}
	for _, egress := range []bool{false, true} {
		if _, err := s.ec2.CreateNetworkAclEntry(ctx, &ec2.CreateNetworkAclEntryInput{
			NetworkAclId: aws.String(o.nacl), RuleNumber: aws.Int32(100), Egress: aws.Bool(egress),
			Protocol: aws.String("-1"), RuleAction: ec2types.RuleActionAllow, CidrBlock: aws.String("0.0.0.0/0"),
		}); err != nil {
			return nil, fmt.Errorf("allow-all entry on %s: %w", o.nacl, err)
		}
	}
	for _, sn := range o.subnets {
		acls, err := s.ec2.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{{Name: aws.String("association.subnet-id"), Values: []string{sn}}}})
		if err != nil {
			return nil, fmt.Errorf("find ACL association of %s: %w", sn, err)
		}
		assoc := ""
		for _, a := range acls.NetworkAcls {
			for _, as := range a.Associations {
				if aws.ToString(as.SubnetId) == sn {
					assoc = aws.ToString(as.NetworkAclAssociationId)
				}
			}
		}
		if assoc == "" {
			return nil, fmt.Errorf("subnet %s has no network ACL association", sn)
		}
		if _, err := s.ec2.ReplaceNetworkAclAssociation(ctx, &ec2.ReplaceNetworkAclAssociationInput{AssociationId: aws.String(assoc), NetworkAclId: aws.String(o.nacl)}); err != nil {
			// The SDK retries a call whose answer was lost (a loaded moto closes
			// connections); the retry then names an association the first call
			// already replaced, and moto answers 500. Look before failing.
			if ok, lerr := s.associatedWith(ctx, sn, o.nacl); lerr != nil || !ok {
				return nil, fmt.Errorf("associate %s with %s: %w", sn, o.nacl, err)
			}
		}
	}

	igw, err := s.ec2.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{})
	if err != nil {
		return nil, fmt.Errorf("create internet gateway: %w", err)
	}
	o.igw = aws.ToString(igw.InternetGateway.InternetGatewayId)
	if _, err := s.ec2.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: aws.String(o.igw), VpcId: aws.String(o.vpc)}); err != nil {
		return nil, fmt.Errorf("attach %s to %s: %w", o.igw, o.vpc, err)
	}
	if err := s.tag(ctx, o.igw, "Name", in.name+"-igw", "Environment", in.env); err != nil {
		return nil, err
	}

	rt, err := s.ec2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: aws.String(o.vpc)})
	if err != nil {
		return nil, fmt.Errorf("create route table in %s: %w", o.vpc, err)
	}
	o.rtb = aws.ToString(rt.RouteTable.RouteTableId)
	if err := s.tag(ctx, o.rtb, "Name", in.name+"-rt", "Environment", in.env); err != nil {
		return nil, err
	}
	if _, err := s.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(o.rtb), DestinationCidrBlock: aws.String("0.0.0.0/0"), GatewayId: aws.String(o.igw)}); err != nil {
		return nil, fmt.Errorf("default route in %s: %w", o.rtb, err)
	}
	for _, sn := range o.subnets {
		if _, err := s.ec2.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: aws.String(o.rtb), SubnetId: aws.String(sn)}); err != nil {
			return nil, fmt.Errorf("associate %s with %s: %w", sn, o.rtb, err)
		}
	}
	return o, nil
}

// associatedWith reports whether subnet is associated with network ACL acl.
func (s *seeder) associatedWith(ctx context.Context, subnet, acl string) (bool, error) {
	out, err := s.ec2.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{NetworkAclIds: []string{acl}})
	if err != nil {
		return false, err
	}
	for _, a := range out.NetworkAcls {
		for _, as := range a.Associations {
			if aws.ToString(as.SubnetId) == subnet {
				return true, nil
			}
		}
	}
	return false, nil
}

func (s *seeder) securityGroup(ctx context.Context, vpc, name, env string, extraTags ...string) (string, error) {
	g, err := s.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: aws.String(vpc), GroupName: aws.String(name), Description: aws.String(name + " (seeded by netchange test estate)")})
	if err != nil {
		return "", fmt.Errorf("create security group %s: %w", name, err)
	}
	id := aws.ToString(g.GroupId)
	return id, s.tag(ctx, id, append([]string{"Name", name, "Environment", env}, extraTags...)...)
}

func (s *seeder) ingress(ctx context.Context, sg string, port int32, cidr, fromGroup string) error {
	perm := ec2types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port)}
	if cidr != "" {
		perm.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(cidr)}}
	} else {
		perm.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: aws.String(fromGroup)}}
	}
	if _, err := s.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []ec2types.IpPermission{perm}}); err != nil {
		return fmt.Errorf("authorize ingress tcp %d on %s: %w", port, sg, err)
	}
	return nil
}

func (s *seeder) instance(ctx context.Context, e *Estate, name, env, subnet, vpc, ip string, groups ...string) (string, error) {
	out, err := s.ec2.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(ImageID), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId: aws.String(subnet), PrivateIpAddress: aws.String(ip), SecurityGroupIds: groups,
	})
	if err != nil {
		return "", fmt.Errorf("run instance %s: %w", name, err)
	}
	if len(out.Instances) != 1 {
		return "", fmt.Errorf("run instance %s: got %d instances", name, len(out.Instances))
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	e.instances[id] = instanceInfo{name: name, subnet: subnet, vpc: vpc, ip: ip, groups: groups}
	return id, s.tag(ctx, id, "Name", name, "Environment", env)
}

func (s *seeder) seed(ctx context.Context) (*Estate, error) {
	e := &Estate{Region: Region, AccountID: AccountID, instances: map[string]instanceInfo{}}
	prod, err := s.seedVPC(ctx, vpcSeed{env: "production", name: "prod", cidr: ProdVPCCIDR,
		subnets: [2]string{"10.0.1.0/24", "10.0.2.0/24"}, azs: [2]string{"us-east-1a", "us-east-1b"}})
	if err != nil {
		return nil, err
	}
	dev, err := s.seedVPC(ctx, vpcSeed{env: "development", name: "dev", cidr: DevVPCCIDR,
		subnets: [2]string{"10.1.1.0/24", "10.1.2.0/24"}, azs: [2]string{"us-east-1a", "us-east-1b"}})
	if err != nil {
		return nil, err
	}
	e.ProdVPC, e.ProdSubnets, e.ProdNACL, e.ProdRouteTable, e.ProdIGW = prod.vpc, prod.subnets, prod.nacl, prod.rtb, prod.igw
	e.DevVPC, e.DevSubnets, e.DevNACL, e.DevRouteTable, e.DevIGW = dev.vpc, dev.subnets, dev.nacl, dev.rtb, dev.igw

	if e.ProdWebSG, err = s.securityGroup(ctx, e.ProdVPC, "prod-web", "production"); err != nil {
		return nil, err
	}
	if e.ProdDBSG, err = s.securityGroup(ctx, e.ProdVPC, "prod-db", "production", ProtectedTag, "true"); err != nil {
		return nil, err
	}
	if e.PaymentsSG, err = s.securityGroup(ctx, e.DevVPC, "payments", "development"); err != nil {
		return nil, err
	}
	if e.StagingAppSG, err = s.securityGroup(ctx, e.DevVPC, "staging-app", "development"); err != nil {
		return nil, err
	}
	if err := s.ingress(ctx, e.ProdWebSG, 443, "0.0.0.0/0", ""); err != nil {
		return nil, err
	}
	if err := s.ingress(ctx, e.ProdDBSG, 5432, "", e.ProdWebSG); err != nil {
		return nil, err
	}
	if err := s.ingress(ctx, e.PaymentsSG, 8443, DevVPCCIDR, ""); err != nil {
		return nil, err
	}

	eni, err := s.ec2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(e.ProdSubnets[1]), Groups: []string{e.ProdWebSG}, Description: aws.String("spare route target")})
	if err != nil {
		return nil, fmt.Errorf("create network interface: %w", err)
	}
	e.ProdENI = aws.ToString(eni.NetworkInterface.NetworkInterfaceId)
	if err := s.tag(ctx, e.ProdENI, "Name", "prod-spare-eni", "Environment", "production"); err != nil {
		return nil, err
	}

	if e.ProdWebInstance, err = s.instance(ctx, e, "prod-web-1", "production", e.ProdSubnets[0], e.ProdVPC, "10.0.1.10", e.ProdWebSG); err != nil {
		return nil, err
	}
	if e.CryptoInstance, err = s.instance(ctx, e, "crypto-victim", "production", e.ProdSubnets[1], e.ProdVPC, "10.0.2.20", e.ProdWebSG); err != nil {
		return nil, err
	}
	if e.DevAppInstance, err = s.instance(ctx, e, "dev-app-1", "development", e.DevSubnets[0], e.DevVPC, "10.1.1.10", e.PaymentsSG, e.StagingAppSG); err != nil {
		return nil, err
	}

	pl, err := s.ec2.CreateManagedPrefixList(ctx, &ec2.CreateManagedPrefixListInput{
		PrefixListName: aws.String(BlockListName), AddressFamily: aws.String("IPv4"), MaxEntries: aws.Int32(BlockListMaxEntries),
		Entries: []ec2types.AddPrefixListEntry{{Cidr: aws.String(SeededBlockedCIDR), Description: aws.String("seeded")}},
	})
	if err != nil {
		return nil, fmt.Errorf("create prefix list %s: %w", BlockListName, err)
	}
	e.BlockList = aws.ToString(pl.PrefixList.PrefixListId)
	if err := s.tag(ctx, e.BlockList, "Name", BlockListName, "Environment", "production"); err != nil {
		return nil, err
	}

	ipset, err := s.waf.CreateIPSet(ctx, &wafv2.CreateIPSetInput{
		Name: aws.String(BlockListName), Scope: waftypes.ScopeRegional, IPAddressVersion: waftypes.IPAddressVersionIpv4,
		Addresses: []string{SeededBlockedCIDR}, Description: aws.String("netchange block list"),
		Tags: []waftypes.Tag{{Key: aws.String("Environment"), Value: aws.String("production")}},
	})
	if err != nil {
		return nil, fmt.Errorf("create WAF IP set %s: %w", BlockListName, err)
	}
	e.WAFIPSet = WAFIPSet{Name: aws.ToString(ipset.Summary.Name), ID: aws.ToString(ipset.Summary.Id), ARN: aws.ToString(ipset.Summary.ARN)}
	return e, nil
}
