package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxEventBytes bounds the event the parser reads (the CRD allows 65536).
const maxEventBytes = 65536

// finding is the part of a GuardDuty finding the rules planner reads. The event
// is untrusted: it is decoded as data, and only these fields are used.
type finding struct {
	Type     string   `json:"type"`
	Severity severity `json:"severity"`
	Resource struct {
		InstanceDetails struct {
			InstanceID string `json:"instanceId"`
		} `json:"instanceDetails"`
	} `json:"resource"`
	Service struct {
		Action struct {
			PortProbeAction struct {
				PortProbeDetails []struct {
					RemoteIPDetails remoteIP `json:"remoteIpDetails"`
				} `json:"portProbeDetails"`
			} `json:"portProbeAction"`
			NetworkConnectionAction struct {
				RemoteIPDetails remoteIP `json:"remoteIpDetails"`
			} `json:"networkConnectionAction"`
		} `json:"action"`
	} `json:"service"`
}

type remoteIP struct {
	IPAddressV4 string `json:"ipAddressV4"`
}

// severity accepts a JSON number or a numeric string, as GuardDuty and
// EventBridge payloads carry either.
type severity struct {
	v   float64
	set bool
}

// UnmarshalJSON accepts a GuardDuty severity as a JSON number or a numeric string.
func (s *severity) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		b = []byte(strings.TrimSpace(str))
	}
	if string(b) == "null" {
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("severity %.20q is not a number", string(b))
	}
	s.v, s.set = v, true
	return nil
}

// parseFinding decodes a GuardDuty finding, bare or wrapped in an EventBridge
// envelope ({"detail-type": "GuardDuty Finding", "detail": {...}}).
func parseFinding(event string) (*finding, error) {
	if strings.TrimSpace(event) == "" {
		return nil, fmt.Errorf("source.event is empty: attach the GuardDuty finding JSON")
	}
	if len(event) > maxEventBytes {
		return nil, fmt.Errorf("source.event is %d bytes, more than %d: attach only the finding", len(event), maxEventBytes)
	}
	var env struct {
		Detail json.RawMessage `json:"detail"`
	}
	raw := []byte(event)
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("source.event is not a JSON object (%v): attach the GuardDuty finding as JSON", err)
	}
	if len(env.Detail) > 0 && string(env.Detail) != "null" {
		raw = env.Detail
	}
	var f finding
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("source.event is not a GuardDuty finding (%v)", err)
	}
	if f.Type == "" {
		return nil, fmt.Errorf("source.event has no finding type: attach a GuardDuty finding (it has \"type\", \"severity\" and \"resource\")")
	}
	if len(f.Type) > 256 {
		f.Type = f.Type[:256]
	}
	return &f, nil
}

// remoteIPs returns the finding's remote IPv4 addresses, without duplicates.
func (f *finding) remoteIPs() []string {
	var out []string
	add := func(ip string) {
		if ip != "" && !contains(out, ip) && len(out) < maxItems {
			out = append(out, ip)
		}
	}
	for _, d := range f.Service.Action.PortProbeAction.PortProbeDetails {
		add(d.RemoteIPDetails.IPAddressV4)
	}
	add(f.Service.Action.NetworkConnectionAction.RemoteIPDetails.IPAddressV4)
	return out
}

// instanceCompromise reports whether a finding type means the instance itself is
// compromised (and quarantine is the response).
func instanceCompromise(typ string) bool {
	for _, p := range []string{"CryptoCurrency:EC2/", "Backdoor:EC2/", "Trojan:EC2/", "UnauthorizedAccess:EC2/"} {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

// quarantineThreshold is the lowest GuardDuty severity (medium) that leads to a
// quarantine; below it the planner records that no action is needed.
const quarantineThreshold = 4.0
