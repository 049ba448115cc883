package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// DigestPrefix starts every plan digest.
const DigestPrefix = "sha256:"

// digestInput is the canonical content a plan digest covers (DESIGN §4): the
// request's uid and generation, its spec, the actions and the snapshot. encoding/json
// writes struct fields in declaration order and map keys sorted, so the encoding
// of equal values is byte-identical.
type digestInput struct {
	Version    int                         `json:"v"`
	UID        string                      `json:"uid"`
	Generation int64                       `json:"generation"`
	Spec       v1.NetworkChangeRequestSpec `json:"spec"`
	Region     string                      `json:"region"`
	AccountID  string                      `json:"accountID"`
	Actions    []v1.Action                 `json:"actions"`
	Snapshot   []v1.ResourceSnapshot       `json:"snapshot"`
}

// Digest returns sha256:<hex> over the canonical encoding of the request's uid,
// generation and spec and the plan's region, account, actions and snapshot. Any
// change to one of them changes the digest; provenance, rationale, cost and blast
// radius are derived or descriptive and not covered.
func Digest(req *v1.NetworkChangeRequest, p *v1.Plan) (string, error) {
	if req == nil || p == nil {
		return "", fmt.Errorf("digest: request and plan are required")
	}
	in := digestInput{
		Version:    1,
		UID:        string(req.UID),
		Generation: p.Generation,
		Spec:       req.Spec,
		Region:     p.Region,
		AccountID:  p.AccountID,
		Actions:    p.Actions,
		Snapshot:   p.Snapshot,
	}
	if in.Actions == nil {
		in.Actions = []v1.Action{}
	}
	if in.Snapshot == nil {
		in.Snapshot = []v1.ResourceSnapshot{}
	}
	b, err := json.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("digest: encode plan: %w", err)
	}
	sum := sha256.Sum256(b)
	return DigestPrefix + hex.EncodeToString(sum[:]), nil
}
