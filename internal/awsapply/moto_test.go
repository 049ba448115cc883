package awsapply_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/netchange-io/netchange/internal/awsapply"
	"github.com/netchange-io/netchange/test/awsproxy"
	"github.com/netchange-io/netchange/test/testenv"
)

// world is moto behind the counting proxy, with a small seeded estate.
type world struct {
	moto  *testenv.Moto
	proxy *awsproxy.Proxy
	ec2   *ec2.Client // direct to moto, for seeding and checking
	waf   *wafv2.Client
	app   *awsapply.Applier // through the proxy, SDK retries off

	vpc, sg, sg2, acl, rtb, igw, igw2, instance, pl, ipSetName, ipSetID string
}

func startWorld(t *testing.T) *world {
	t.Helper()
	m := testenv.StartMoto(t)
	p, err := awsproxy.Start(m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return &world{moto: m, proxy: p}
}

func awsConfig(t *testing.T, endpoint string) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.BaseEndpoint = aws.String(endpoint)
	return cfg
}

// seed resets moto and the proxy and creates the estate.
func (w *world) seed(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	if err := w.moto.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	direct := awsConfig(t, w.moto.Endpoint)
	w.ec2, w.waf = ec2.NewFromConfig(direct), wafv2.NewFromConfig(direct)
	f := awsapply.NewFactory(awsConfig(t, w.proxy.URL), awsapply.Options{BaseDelay: time.Millisecond, Sleep: func(context.Context, time.Duration) error { return nil }})
	app, _, err := f.For(ctx, awsapply.Target{Region: "us-east-1", EndpointURL: w.proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	w.app = app
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	vpc, err := w.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	must(err)
	w.vpc = aws.ToString(vpc.Vpc.VpcId)
	subnet, err := w.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.0.1.0/24")})
	must(err)
	sg, err := w.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web"), VpcId: vpc.Vpc.VpcId})
	must(err)
	w.sg = aws.ToString(sg.GroupId)
	sg2, err := w.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("app"), Description: aws.String("app"), VpcId: vpc.Vpc.VpcId})
	must(err)
	w.sg2 = aws.ToString(sg2.GroupId)
	_, err = w.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: []ec2types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("198.51.100.0/24")}},
	}}})
	must(err)
	acl, err := w.ec2.CreateNetworkAcl(ctx, &ec2.CreateNetworkAclInput{VpcId: vpc.Vpc.VpcId})
	must(err)
	w.acl = aws.ToString(acl.NetworkAcl.NetworkAclId)
	_, err = w.ec2.CreateNetworkAclEntry(ctx, &ec2.CreateNetworkAclEntryInput{NetworkAclId: acl.NetworkAcl.NetworkAclId, RuleNumber: aws.Int32(200), Egress: aws.Bool(false),
		Protocol: aws.String("6"), RuleAction: ec2types.RuleActionAllow, CidrBlock: aws.String("0.0.0.0/0"), PortRange: &ec2types.PortRange{From: aws.Int32(443), To: aws.Int32(443)}})
	must(err)
	rtb, err := w.ec2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: vpc.Vpc.VpcId})
	must(err)
	w.rtb = aws.ToString(rtb.RouteTable.RouteTableId)
	for _, dst := range []*string{&w.igw, &w.igw2} {
		igw, err := w.ec2.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{})
		must(err)
		*dst = aws.ToString(igw.InternetGateway.InternetGatewayId)
	}
	_, err = w.ec2.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: aws.String(w.igw), VpcId: vpc.Vpc.VpcId})
	must(err)
	_, err = w.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: rtb.RouteTable.RouteTableId, DestinationCidrBlock: aws.String("0.0.0.0/0"), GatewayId: aws.String(w.igw)})
	must(err)
	imgs, err := w.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	must(err)
	if len(imgs.Images) == 0 {
		t.Fatal("moto has no AMIs")
	}
	run, err := w.ec2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: imgs.Images[0].ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId: subnet.Subnet.SubnetId, SecurityGroupIds: []string{w.sg, w.sg2}, InstanceType: ec2types.InstanceTypeT3Micro})
	must(err)
	w.instance = aws.ToString(run.Instances[0].InstanceId)
	pl, err := w.ec2.CreateManagedPrefixList(ctx, &ec2.CreateManagedPrefixListInput{PrefixListName: aws.String("blocklist"), MaxEntries: aws.Int32(10), AddressFamily: aws.String("IPv4"),
		Entries: []ec2types.AddPrefixListEntry{{Cidr: aws.String("192.0.2.0/24")}}})
	must(err)
	w.pl = aws.ToString(pl.PrefixList.PrefixListId)
	ipset, err := w.waf.CreateIPSet(ctx, &wafv2.CreateIPSetInput{Name: aws.String("blocklist"), Scope: waftypes.ScopeRegional, IPAddressVersion: waftypes.IPAddressVersionIpv4,
		Addresses: []string{"192.0.2.0/24"}})
	must(err)
	w.ipSetName, w.ipSetID = aws.ToString(ipset.Summary.Name), aws.ToString(ipset.Summary.Id)
	w.proxy.Reset()
}
