package audit

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkFileSink_Append measures one durable append (lock, tail read, write,
// fsync) to the file sink: the executor pays it before every mutating AWS call.
func BenchmarkFileSink_Append(b *testing.B) {
	sink, err := NewFileSink(b.TempDir(), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	ev := Event{Stream: "control/bench", Type: EventActionIntent, Actor: "executor",
		Request: RequestRef{Namespace: "bench", Name: "r", UID: "uid", Generation: 1},
		Data:    json.RawMessage(`{"index":0,"type":"NetworkACLEntryAdd","step":"apply"}`)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ev.Time = time.Now()
		if err := sink.Append(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}
