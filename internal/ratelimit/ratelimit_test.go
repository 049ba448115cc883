package ratelimit

import (
	"testing"
	"time"
)

func TestLimiter_Take(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	type step struct {
		at     time.Duration // since t0
		key    string
		ret    bool // Return instead of Take
		ok     bool
		waitGE time.Duration
	}
	cases := []struct {
		name    string
		perHour float64
		burst   int
		steps   []step
	}{
		{name: "burst then refused until refill", perHour: 6, burst: 2, steps: []step{
			{key: "a", ok: true}, {key: "a", ok: true}, {key: "a", ok: false, waitGE: 9 * time.Minute},
			{at: 10 * time.Minute, key: "a", ok: true}, {at: 10 * time.Minute, key: "a", ok: false},
		}},
		{name: "keys are independent", perHour: 1, burst: 1, steps: []step{
			{key: "prod/ns1", ok: true}, {key: "prod/ns1", ok: false}, {key: "prod/ns2", ok: true},
		}},
		{name: "returned token can be taken again", perHour: 1, burst: 1, steps: []step{
			{key: "a", ok: true}, {key: "a", ret: true}, {key: "a", ok: true}, {key: "a", ok: false},
		}},
		{name: "refill is capped at burst", perHour: 60, burst: 2, steps: []step{
			{at: 10 * time.Hour, key: "a", ok: true}, {at: 10 * time.Hour, key: "a", ok: true}, {at: 10 * time.Hour, key: "a", ok: false},
		}},
		{name: "zero rate is unlimited", perHour: 0, burst: 1, steps: []step{
			{key: "a", ok: true}, {key: "a", ok: true}, {key: "a", ok: true},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			l := New(tc.perHour, tc.burst, func() time.Time { return now })
			for i, s := range tc.steps {
				now = t0.Add(s.at)
				if s.ret {
					l.Return(s.key)
					continue
				}
				ok, wait := l.Take(s.key)
				if ok != s.ok {
					t.Fatalf("step %d: Take(%s) = %v, want %v", i, s.key, ok, s.ok)
				}
				if !ok && wait < s.waitGE {
					t.Fatalf("step %d: wait %v, want at least %v", i, wait, s.waitGE)
				}
			}
		})
	}
}

func TestKey(t *testing.T) {
	if Key("payments", "production") == Key("payments", "staging") {
		t.Fatal("different environments must have different buckets")
	}
}
