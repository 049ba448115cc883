package audit

import (
	"context"
	"crypto/ed25519"
	"slices"
	"sync"
	"testing"
	"time"
)

// memSink is an in-memory Sink for pure tests: a slice per stream.
type memSink struct {
	mu      sync.Mutex
	now     func() time.Time
	streams map[string][]Record
	fail    error
}

func newMemSink() *memSink {
	return &memSink{now: fixedClock(), streams: map[string][]Record{}}
}

func (m *memSink) Append(_ context.Context, ev Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	var prev *Record
	if recs := m.streams[ev.Stream]; len(recs) > 0 {
		prev = &recs[len(recs)-1]
	}
	r, err := nextRecord(prev, ev, m.now)
	if err != nil {
		return err
	}
	m.streams[ev.Stream] = append(m.streams[ev.Stream], r)
	return nil
}

func (m *memSink) Read(_ context.Context, stream string) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.streams[stream]), nil
}

func (m *memSink) Streams(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for s := range m.streams {
		out = append(out, s)
	}
	slices.Sort(out)
	return out, nil
}

func (m *memSink) Close() error { return nil }

func TestVerify_tampering(t *testing.T) {
	priv, _ := testKey(1)
	for _, tc := range tamperCases() {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemSink()
			fillStream(t, m, priv)
			recs, _ := m.Read(context.Background(), testStream)
			if rep := Verify(recs, trustedKeys()); !rep.OK() {
				t.Fatalf("intact stream reported damaged: %s", rep.First)
			}
			checkDetected(t, tc, tc.tamper(t, recs))
		})
	}
}

func TestVerify_intact(t *testing.T) {
	priv, _ := testKey(1)
	m := newMemSink()
	fillStream(t, m, priv)
	if err := m.Append(context.Background(), event("auditor/control/payments", 1)); err != nil {
		t.Fatal(err)
	}
	all, _ := m.Read(context.Background(), testStream)
	other, _ := m.Read(context.Background(), "auditor/control/payments")
	tests := []struct {
		name          string
		keys          map[string]ed25519.PublicKey
		wantUnchecked int
		wantVerified  bool
		wantUnsigned  int64
	}{
		{name: "with the signer's key", keys: trustedKeys(), wantVerified: true, wantUnsigned: 3},
		{name: "without keys", keys: nil, wantUnchecked: 1, wantUnsigned: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Verify(append(slices.Clone(other), all...), tt.keys)
			if !rep.OK() {
				t.Fatalf("intact trail reported damaged: %s", rep.First)
			}
			if rep.Records != 8 || len(rep.Streams) != 2 || rep.Checkpoints != 1 || rep.UncheckedSignatures != tt.wantUnchecked {
				t.Fatalf("report = %+v; want 8 records in 2 streams, 1 checkpoint, %d unchecked", rep, tt.wantUnchecked)
			}
			sr := rep.Streams[1]
			if sr.Stream != testStream || sr.HeadSeq != 7 || sr.HeadHash != all[6].Hash {
				t.Fatalf("stream report = %+v; want %s head 7", sr, testStream)
			}
			cp := sr.LastCheckpoint
			if cp == nil || cp.Seq != 5 || cp.HeadSeq != 4 || cp.Verified != tt.wantVerified || cp.KeyID == "" {
				t.Fatalf("last checkpoint = %+v; want seq 5 signing seq 4, verified %t", cp, tt.wantVerified)
			}
			if sr.Unsigned != tt.wantUnsigned {
				t.Fatalf("unsigned = %d; want %d", sr.Unsigned, tt.wantUnsigned)
			}
		})
	}
}

func TestVerify_empty(t *testing.T) {
	rep := Verify(nil, nil)
	if !rep.OK() || rep.Records != 0 || len(rep.Streams) != 0 {
		t.Fatalf("empty trail: %+v", rep)
	}
}

func TestRecord_ComputeHash(t *testing.T) {
	m := newMemSink()
	ev := event(testStream, 1)
	ev.Data = []byte("{\n  \"b\": 1,\n  \"a\": [1, 2]\n}")
	if err := m.Append(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	r := m.streams[testStream][0]
	if r.Seq != 1 || r.PrevHash != ZeroHash || len(r.Hash) != 64 {
		t.Fatalf("first record = seq %d prev %s hash %q; want seq 1, zero prevHash, 64-hex hash", r.Seq, r.PrevHash, r.Hash)
	}
	if string(r.Data) != `{"b":1,"a":[1,2]}` {
		t.Fatalf("data stored as %s; want compact JSON with the key order kept", r.Data)
	}
	tests := []struct {
		name   string
		mutate func(r *Record)
	}{
		{"stream", func(r *Record) { r.Stream = "control/other" }},
		{"seq", func(r *Record) { r.Seq = 2 }},
		{"type", func(r *Record) { r.Type = EventActionRolledBack }},
		{"actor", func(r *Record) { r.Actor = "someone" }},
		{"request", func(r *Record) { r.Request.Generation = 2 }},
		{"data", func(r *Record) { r.Data = []byte(`{"b":2,"a":[1,2]}`) }},
		{"time", func(r *Record) { r.Time = r.Time.Add(time.Microsecond) }},
		{"prevHash", func(r *Record) { r.PrevHash = r.Hash }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := r
			tt.mutate(&c)
			h, err := c.ComputeHash()
			if err != nil {
				t.Fatal(err)
			}
			if h == r.Hash {
				t.Fatalf("changing %s does not change the hash", tt.name)
			}
		})
	}
	// Whitespace in data and the time zone are not content.
	c := r
	c.Data = []byte(`{ "b" : 1, "a" : [1,2] }`)
	c.Time = r.Time.In(time.FixedZone("CET", 3600))
	if h, _ := c.ComputeHash(); h != r.Hash {
		t.Fatal("re-formatted data or another time zone changes the hash; sinks could not round-trip records")
	}
}

func TestNextRecord_rejects(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
	}{
		{"no stream", Event{Type: EventPlanned}},
		{"no type", Event{Stream: testStream}},
		{"invalid data", Event{Stream: testStream, Type: EventPlanned, Data: []byte(`{"a":`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := nextRecord(nil, tt.ev, fixedClock()); err == nil {
				t.Fatal("nextRecord accepted an invalid event")
			}
		})
	}
}
