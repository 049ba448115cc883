package estate

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/netchange-io/netchange/test/testenv"
)

// StartSeeded starts a moto_server for the test (stopped when it ends), seeds the
// estate in it and returns the estate and an aws.Config for that server.
func StartSeeded(t testing.TB) (*Estate, aws.Config) {
	t.Helper()
	m := testenv.StartMoto(t)
	cfg, err := MotoConfig(t.Context(), m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	e, err := SeedFresh(t.Context(), cfg, m.Reset)
	if err != nil {
		t.Fatal(err)
	}
	return e, cfg
}

// SeedFresh seeds an empty moto_server. A loaded moto sometimes loses the answer
// to a call that did happen, and the SDK's retry of a non-idempotent call then
// fails (e.g. Resource.AlreadyAssociated); seeding is then tried once more on a
// moto wiped with reset, so the estate never holds half of a first attempt.
func SeedFresh(ctx context.Context, cfg aws.Config, reset func(context.Context) error) (*Estate, error) {
	e, err := Seed(ctx, cfg)
	if err == nil {
		return e, nil
	}
	if rerr := reset(ctx); rerr != nil {
		return nil, fmt.Errorf("%w (and resetting moto to try again failed: %v)", err, rerr)
	}
	e, err2 := Seed(ctx, cfg)
	if err2 != nil {
		return nil, fmt.Errorf("seed moto twice: %w (first attempt: %v)", err2, err)
	}
	return e, nil
}
