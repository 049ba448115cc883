package plan

import (
	"fmt"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// Seal fills the derived fields of p for req: Digest, BlastRadius and
// MonthlyCostUSD. Call it after the plan's actions, snapshot, region, account and
// generation are final; it does not validate (call Validate first).
func Seal(req *v1.NetworkChangeRequest, p *v1.Plan) error {
	d, err := Digest(req, p)
	if err != nil {
		return fmt.Errorf("seal plan: %w", err)
	}
	p.Digest = d
	p.BlastRadius = BlastRadius(p)
	p.MonthlyCostUSD = MonthlyCostUSD(p)
	return nil
}
