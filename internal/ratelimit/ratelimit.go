// Package ratelimit is the executor's change budget: a token bucket per key
// (namespace and environment) refilled at a fixed rate per hour. It is in memory:
// a restarted executor starts with full buckets.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Limiter holds one token bucket per key. The zero value is not usable; use New.
type Limiter struct {
	perHour float64
	burst   float64
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a Limiter that allows burst changes at once per key and refills
// perHour tokens per hour. perHour <= 0 means unlimited. now is the clock.
func New(perHour float64, burst int, now func() time.Time) *Limiter {
	if burst < 1 {
		burst = 1
	}
	return &Limiter{perHour: perHour, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// Key is the bucket key of a namespace and environment.
func Key(namespace, environment string) string { return namespace + "/" + environment }

func (l *Limiter) refill(key string) *bucket {
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
		return b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed.Hours()*l.perHour)
		b.last = now
	}
	return b
}

// Take takes one token from key's bucket. When none is left it returns false and
// how long until one is.
func (l *Limiter) Take(key string) (bool, time.Duration) {
	if l.perHour <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	missing := 1 - b.tokens
	wait := time.Duration(missing / l.perHour * float64(time.Hour))
	if wait < time.Second {
		wait = time.Second
	}
	return false, wait
}

// Return gives back a token taken for a change that was then not made.
func (l *Limiter) Return(key string) {
	if l.perHour <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	b.tokens = math.Min(l.burst, b.tokens+1)
}
