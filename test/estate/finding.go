package estate

import (
	"encoding/json"
	"fmt"
	"math"
)

// findingTime is the fixed time stamped on sample findings (they are test data).
const findingTime = "2026-11-02T09:14:07.000Z"

// GuardDutyFinding returns a realistic GuardDuty finding (as EventBridge's
// "detail" carries it) of type CryptoCurrency:EC2/BitcoinTool.B!DNS for the seeded
// instance instanceID, with the given severity (1.0–8.9). An instance Seed did not
// create still gets a finding, without network details.
func (e *Estate) GuardDutyFinding(instanceID string, severity float64) string {
	action := map[string]any{
		"actionType": "DNS_REQUEST",
		"dnsRequestAction": map[string]any{
			"domain":   "xmr.pool.minergate.com",
			"protocol": "UDP",
			"blocked":  false,
		},
	}
	return e.finding("CryptoCurrency:EC2/BitcoinTool.B!DNS",
		fmt.Sprintf("EC2 instance %s is querying a domain name that is associated with Bitcoin-related activity.", instanceID),
		"EC2 instance is communicating with a Bitcoin mining pool.", instanceID, severity, action)
}

// PortProbeFinding returns a realistic GuardDuty finding of type
// Recon:EC2/PortProbeUnprotectedPort: remoteIP probed tcp 22 on instanceID.
func (e *Estate) PortProbeFinding(instanceID, remoteIP string, severity float64) string {
	action := map[string]any{
		"actionType": "PORT_PROBE",
		"portProbeAction": map[string]any{
			"blocked": false,
			"portProbeDetails": []any{map[string]any{
				"localPortDetails": map[string]any{"port": 22, "portName": "SSH"},
				"remoteIpDetails":  map[string]any{"ipAddressV4": remoteIP, "organization": map[string]any{"asn": "64496", "asnOrg": "EXAMPLE-NET"}, "country": map[string]any{"countryName": "Unknown"}},
				"localIpDetails":   map[string]any{"ipAddressV4": e.instances[instanceID].ip},
			}},
		},
	}
	return e.finding("Recon:EC2/PortProbeUnprotectedPort",
		fmt.Sprintf("EC2 instance %s has an unprotected port which is being probed by a known malicious host.", instanceID),
		"Unprotected port on EC2 instance is being probed.", instanceID, severity, action)
}

func (e *Estate) finding(typ, description, title, instanceID string, severity float64, action map[string]any) string {
	if math.IsNaN(severity) || math.IsInf(severity, 0) {
		severity = 0
	}
	info := e.instances[instanceID]
	var groups []any
	for _, g := range info.groups {
		groups = append(groups, map[string]any{"groupId": g, "groupName": g})
	}
	var nics []any
	if info.subnet != "" {
		nics = append(nics, map[string]any{
			"networkInterfaceId": "eni-0f1e2d3c4b5a69788",
			"privateIpAddress":   info.ip,
			"subnetId":           info.subnet,
			"vpcId":              info.vpc,
			"securityGroups":     groups,
		})
	}
	id := "7ab2d1c3e4f5a6b7c8d9e0f1a2b3c4d5"
	f := map[string]any{
		"schemaVersion": "2.0",
		"accountId":     e.AccountID,
		"region":        e.Region,
		"partition":     "aws",
		"id":            id,
		"arn":           fmt.Sprintf("arn:aws:guardduty:%s:%s:detector/12abc34d567e8fa901bc2d34e56789f0/finding/%s", e.Region, e.AccountID, id),
		"type":          typ,
		"resource": map[string]any{
			"resourceType": "Instance",
			"instanceDetails": map[string]any{
				"instanceId":        instanceID,
				"instanceType":      "t3.micro",
				"imageId":           ImageID,
				"instanceState":     "running",
				"availabilityZone":  e.Region + "a",
				"networkInterfaces": nics,
				"tags":              []any{map[string]any{"key": "Name", "value": info.name}},
			},
		},
		"service": map[string]any{
			"serviceName":    "guardduty",
			"detectorId":     "12abc34d567e8fa901bc2d34e56789f0",
			"action":         action,
			"resourceRole":   "ACTOR",
			"eventFirstSeen": findingTime,
			"eventLastSeen":  findingTime,
			"archived":       false,
			"count":          3,
		},
		"severity":    severity,
		"createdAt":   findingTime,
		"updatedAt":   findingTime,
		"title":       title,
		"description": description,
	}
	// Only maps, strings, bools and finite numbers are encoded, so this cannot fail.
	b, _ := json.MarshalIndent(f, "", "  ")
	return string(b)
}
