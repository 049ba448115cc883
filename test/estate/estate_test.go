package estate_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
	"github.com/netchange-io/netchange/internal/awscontext"
	"github.com/netchange-io/netchange/test/estate"
	"github.com/netchange-io/netchange/test/testenv"
)

func TestSeed(t *testing.T) {
	m := testenv.StartMoto(t)
	t.Setenv("AWS_ENDPOINT_URL", m.Endpoint)
	ctx := context.Background()
	e, err := estate.SeedFromEnv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := estate.MotoConfig(ctx, m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := awscontext.NewFromConfig(cfg).Estate(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if got := ids(inv.SubnetsInEnvironment("production")); !slices.Equal(got, sorted(e.ProdSubnets)) {
		t.Errorf("production subnets = %v, want %v", got, e.ProdSubnets)
	}
	if got := ids(inv.SubnetsInEnvironment("development")); !slices.Equal(got, sorted(e.DevSubnets)) {
		t.Errorf("development subnets = %v, want %v", got, e.DevSubnets)
	}
	for _, tc := range []struct {
		acl     string
		subnets []string
	}{{e.ProdNACL, e.ProdSubnets}, {e.DevNACL, e.DevSubnets}} {
		acls := inv.NetworkACLsForSubnets(tc.subnets...)
		if len(acls) != 1 || acls[0].ID != tc.acl {
			t.Fatalf("ACLs of %v = %+v, want only %s", tc.subnets, acls, tc.acl)
		}
		for _, dir := range []v1.Direction{v1.DirectionIngress, v1.DirectionEgress} {
			if got := acls[0].LowestAllowRule(dir); got != 100 {
				t.Errorf("%s lowest %s allow rule = %d, want 100", tc.acl, dir, got)
			}
		}
	}
	db, ok := inv.SecurityGroup(e.ProdDBSG)
	if !ok || !db.Protected || db.Environment != "production" || db.GroupName != "prod-db" {
		t.Errorf("prod-db = %+v, want protected production group prod-db", db)
	}
	if got := inv.SecurityGroupsMatching("payments", "development"); len(got) != 1 || got[0].ID != e.PaymentsSG || got[0].Name != "payments" {
		t.Errorf("payments match = %+v, want %s", got, e.PaymentsSG)
	}
	crypto, ok := inv.Instance(e.CryptoInstance)
	if !ok || crypto.VPCID != e.ProdVPC || crypto.Name != "crypto-victim" || !slices.Equal(crypto.GroupIDs, []string{e.ProdWebSG}) || crypto.State != "running" {
		t.Errorf("crypto instance = %+v", crypto)
	}
	rt, ok := inv.RouteTable(e.ProdRouteTable)
	if r, found := rt.Route("0.0.0.0/0"); !ok || !found || r.TargetID != e.ProdIGW || r.TargetType != v1.RouteTargetGateway {
		t.Errorf("prod default route = %+v, want via %s", rt.Routes, e.ProdIGW)
	}
	if !slices.Equal(rt.SubnetIDs, sorted(e.ProdSubnets)) {
		t.Errorf("prod route table subnets = %v, want %v", rt.SubnetIDs, e.ProdSubnets)
	}
	pl, ok := inv.PrefixList(estate.BlockListName)
	if !ok || pl.ID != e.BlockList || pl.MaxEntries != estate.BlockListMaxEntries || !slices.Equal(pl.Entries, []string{estate.SeededBlockedCIDR}) {
		t.Errorf("block list = %+v", pl)
	}
	ws, ok := inv.WAFIPSet(estate.BlockListName)
	if !ok || ws.ID != e.WAFIPSet.ID || !slices.Equal(ws.Addresses, []string{estate.SeededBlockedCIDR}) {
		t.Errorf("WAF IP set = %+v, want %+v", ws, e.WAFIPSet)
	}
}

func TestEstate_GuardDutyFinding(t *testing.T) {
	e, _ := estate.StartSeeded(t)
	var f struct {
		Type      string  `json:"type"`
		Severity  float64 `json:"severity"`
		Region    string  `json:"region"`
		AccountID string  `json:"accountId"`
		Resource  struct {
			InstanceDetails struct {
				InstanceID        string `json:"instanceId"`
				NetworkInterfaces []struct {
					SubnetID string `json:"subnetId"`
				} `json:"networkInterfaces"`
			} `json:"instanceDetails"`
		} `json:"resource"`
		Service struct {
			Action struct {
				DNSRequestAction struct {
					Domain string `json:"domain"`
				} `json:"dnsRequestAction"`
			} `json:"action"`
		} `json:"service"`
	}
	if err := json.Unmarshal([]byte(e.GuardDutyFinding(e.CryptoInstance, 8)), &f); err != nil {
		t.Fatal(err)
	}
	if f.Type != "CryptoCurrency:EC2/BitcoinTool.B!DNS" || f.Severity != 8 || f.Region != estate.Region ||
		f.AccountID != estate.AccountID || f.Resource.InstanceDetails.InstanceID != e.CryptoInstance ||
		f.Service.Action.DNSRequestAction.Domain == "" || len(f.Resource.InstanceDetails.NetworkInterfaces) != 1 ||
		f.Resource.InstanceDetails.NetworkInterfaces[0].SubnetID != e.ProdSubnets[1] {
		t.Errorf("finding = %+v", f)
	}
}

func ids(ss []awscontext.Subnet) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
