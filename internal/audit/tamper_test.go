package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/netchange-io/netchange/internal/verdict"
)

// testStream is the stream the tamper scenarios use.
const testStream = "control/payments"

// fixedClock returns a clock that advances one second per call from a fixed start.
func fixedClock() func() time.Time {
	t := time.Date(2026, 11, 3, 9, 0, 0, 123456789, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

// testKey returns a deterministic ed25519 key pair from a seed byte.
func testKey(seed byte) (ed25519.PrivateKey, ed25519.PublicKey) {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	priv := ed25519.NewKeyFromSeed(s)
	return priv, priv.Public().(ed25519.PublicKey)
}

// event returns the i-th test event of stream.
func event(stream string, i int) Event {
	return Event{
		Stream:  stream,
		Type:    EventActionApplied,
		Actor:   "executor",
		Request: RequestRef{Cluster: "control", Namespace: "payments", Name: "block-bad-range", UID: "uid-1", Generation: 1},
		Data:    json.RawMessage(fmt.Sprintf(`{"index": %d, "action": "NetworkACLEntryAdd", "cidr": "203.0.113.0/24"}`, i)),
	}
}

// fillStream appends the standard test history to sink: four events, a checkpoint
// signed by priv (seq 5, signing seq 4), then two more events (seq 6 and 7).
func fillStream(t *testing.T, sink Sink, priv ed25519.PrivateKey) {
	t.Helper()
	ctx := context.Background()
	for i := 1; i <= 4; i++ {
		if err := sink.Append(ctx, event(testStream, i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := Checkpoint(ctx, sink, testStream, priv, ""); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	for i := 5; i <= 6; i++ {
		if err := sink.Append(ctx, event(testStream, i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// rehash recomputes r's hash after an attacker's change.
func rehash(t *testing.T, r *Record) {
	t.Helper()
	h, err := r.ComputeHash()
	if err != nil {
		t.Fatal(err)
	}
	r.Hash = h
}

// forge returns a record that chains correctly after prev, as an attacker with
// write access to the store could compute.
func forge(t *testing.T, prev Record, ev Event) Record {
	t.Helper()
	r, err := nextRecord(&prev, ev, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tamperCase is one kind of tampering, applied to a stream's records as read.
type tamperCase struct {
	name string
	// fileOnly marks tamperings a PostgreSQL primary key cannot hold (duplicate seq,
	// order different from seq order).
	fileOnly bool
	tamper   func(t *testing.T, recs []Record) []Record
	wantKind ProblemKind
	wantSeq  int64
}

// tamperCases are the tamperings every sink must let Verify detect. The history
// is fillStream's: seq 1–4 events, 5 a checkpoint of seq 4, 6–7 events.
func tamperCases() []tamperCase {
	privB, _ := testKey(2)
	return []tamperCase{
		{
			name: "edit: actor changed",
			tamper: func(t *testing.T, recs []Record) []Record {
				recs[2].Actor = "mallory"
				return recs
			},
			wantKind: ProblemEdited, wantSeq: 3,
		},
		{
			name: "edit: data changed",
			tamper: func(t *testing.T, recs []Record) []Record {
				recs[1].Data = json.RawMessage(`{"index":2,"action":"NetworkACLEntryAdd","cidr":"0.0.0.0/0"}`)
				return recs
			},
			wantKind: ProblemEdited, wantSeq: 2,
		},
		{
			name: "drop: a middle record",
			tamper: func(t *testing.T, recs []Record) []Record {
				return append(recs[:2:2], recs[3:]...)
			},
			wantKind: ProblemDropped, wantSeq: 4,
		},
		{
			name: "drop: the first record",
			tamper: func(t *testing.T, recs []Record) []Record {
				return recs[1:]
			},
			wantKind: ProblemDropped, wantSeq: 2,
		},
		{
			name: "drop: a record and renumber the rest",
			tamper: func(t *testing.T, recs []Record) []Record {
				out := append(recs[:2:2], recs[3:]...)
				for i := 2; i < len(out); i++ {
					out[i].Seq--
				}
				return out
			},
			wantKind: ProblemDropped, wantSeq: 3,
		},
		{
			name: "reorder: two records swap their sequence numbers",
			tamper: func(t *testing.T, recs []Record) []Record {
				recs[2], recs[3] = recs[3], recs[2]
				recs[2].Seq, recs[3].Seq = 3, 4
				return recs
			},
			wantKind: ProblemReordered, wantSeq: 3,
		},
		{
			name:     "reorder: two lines swapped",
			fileOnly: true,
			tamper: func(t *testing.T, recs []Record) []Record {
				recs[2], recs[3] = recs[3], recs[2]
				return recs
			},
			wantKind: ProblemReordered, wantSeq: 4,
		},
		{
			name: "insert: a forged record, the rest renumbered",
			tamper: func(t *testing.T, recs []Record) []Record {
				ev := event(testStream, 99)
				ev.Actor = "mallory"
				f := forge(t, recs[1], ev)
				out := append(append(recs[:2:2], f), recs[2:]...)
				for i := 3; i < len(out); i++ {
					out[i].Seq++
				}
				return out
			},
			wantKind: ProblemInserted, wantSeq: 4,
		},
		{
			name:     "insert: a forged record with a duplicate seq",
			fileOnly: true,
			tamper: func(t *testing.T, recs []Record) []Record {
				f := forge(t, recs[1], event(testStream, 99))
				return append(append(recs[:2:2], f), recs[2:]...)
			},
			wantKind: ProblemInserted, wantSeq: 3,
		},
		{
			name: "checkpoint: signature does not verify",
			tamper: func(t *testing.T, recs []Record) []Record {
				cd, err := DecodeCheckpoint(recs[4].Data)
				if err != nil {
					t.Fatal(err)
				}
				other := *cd
				other.HeadSeq = 1
				cd.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(privB, other.SignedBytes()))
				recs[4].Data, _ = json.Marshal(cd)
				rehash(t, &recs[4])
				return recs
			},
			wantKind: ProblemCheckpointSignature, wantSeq: 5,
		},
		{
			name: "checkpoint: signed by an untrusted key",
			tamper: func(t *testing.T, recs []Record) []Record {
				cd, err := SignCheckpoint(testStream, recs[len(recs)-1], privB, "")
				if err != nil {
					t.Fatal(err)
				}
				data, _ := json.Marshal(cd)
				f := forge(t, recs[len(recs)-1], Event{Stream: testStream, Type: EventCheckpoint, Actor: "auditor", Data: data})
				return append(recs, f)
			},
			wantKind: ProblemCheckpointUnknownKey, wantSeq: 8,
		},
		{
			name: "rewrite: an edit with the whole chain re-hashed",
			tamper: func(t *testing.T, recs []Record) []Record {
				recs[1].Actor = "mallory"
				for i := 1; i < len(recs); i++ {
					recs[i].PrevHash = recs[i-1].Hash
					rehash(t, &recs[i])
				}
				return recs
			},
			wantKind: ProblemCheckpointMismatch, wantSeq: 5,
		},
	}
}

// trustedKeys returns the key set that trusts key 1 only.
func trustedKeys() map[string]ed25519.PublicKey {
	_, pub := testKey(1)
	return map[string]ed25519.PublicKey{verdict.KeyID(pub): pub}
}

// checkDetected asserts Verify reports the case's kind at its seq.
func checkDetected(t *testing.T, tc tamperCase, recs []Record) {
	t.Helper()
	rep := Verify(recs, trustedKeys())
	if rep.OK() {
		t.Fatalf("Verify reported an intact trail after %q", tc.name)
	}
	if rep.First.Kind != tc.wantKind || rep.First.Seq != tc.wantSeq {
		t.Fatalf("Verify found %s; want %s at seq %d", rep.First, tc.wantKind, tc.wantSeq)
	}
}

// randomKey returns a fresh ed25519 key pair.
func randomKey(t *testing.T) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}
