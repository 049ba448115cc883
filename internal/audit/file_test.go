package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// writeLines replaces a stream file with records, one JSON line each, in order —
// what an attacker with write access to the directory can do.
func writeLines(t *testing.T, path string, recs []Record) {
	t.Helper()
	var buf bytes.Buffer
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestFileSink_tampering(t *testing.T) {
	priv, _ := testKey(1)
	for _, tc := range tamperCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sink, err := NewFileSink(dir, fixedClock())
			if err != nil {
				t.Fatal(err)
			}
			fillStream(t, sink, priv)
			ctx := context.Background()
			recs, err := sink.Read(ctx, testStream)
			if err != nil {
				t.Fatal(err)
			}
			if rep := Verify(recs, trustedKeys()); !rep.OK() || rep.Records != 7 {
				t.Fatalf("intact file stream: %+v", rep)
			}
			writeLines(t, filepath.Join(dir, "control_payments.jsonl"), tc.tamper(t, recs))
			tampered, err := sink.Read(ctx, testStream)
			if err != nil {
				t.Fatal(err)
			}
			checkDetected(t, tc, tampered)
		})
	}
}

func TestFileSink_AppendRead(t *testing.T) {
	dir := t.TempDir()
	sink, err := NewFileSink(dir, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	streams := []string{"control/payments", "auditor/prod_eu/payments", "control/kube-system"}
	for _, s := range streams {
		for i := 1; i <= 3; i++ {
			if err := sink.Append(ctx, event(s, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := sink.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"auditor/prod_eu/payments", "control/kube-system", "control/payments"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Streams = %v; want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "control_payments.jsonl")); err != nil {
		t.Fatalf("control/payments is not stored as control_payments.jsonl: %v", err)
	}
	for _, s := range streams {
		recs, err := sink.Read(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if rep := Verify(recs, nil); !rep.OK() || rep.Records != 3 || rep.Streams[0].Stream != s {
			t.Fatalf("stream %s: %+v", s, rep)
		}
		var d struct{ Index int }
		if err := json.Unmarshal(recs[2].Data, &d); err != nil || d.Index != 3 || recs[2].Request.Name != "block-bad-range" {
			t.Fatalf("stream %s: third record does not round-trip: %+v", s, recs[2])
		}
	}
	if recs, err := sink.Read(ctx, "control/none"); err != nil || len(recs) != 0 {
		t.Fatalf("Read of an unknown stream = %v, %v; want nothing, no error", recs, err)
	}
}

func TestStreamFileName(t *testing.T) {
	tests := []struct{ stream, file string }{
		{"control/ns", "control_ns.jsonl"},
		{"auditor/eu-west-1/payments", "auditor_eu-west-1_payments.jsonl"},
		{"auditor/prod_eu/ns", "auditor_prod%5Feu_ns.jsonl"},
		{"../../etc/passwd", "%2E._.._etc_passwd.jsonl"},
		{".hidden", "%2Ehidden.jsonl"},
		{"a b%c", "a%20b%25c.jsonl"},
	}
	for _, tt := range tests {
		t.Run(tt.stream, func(t *testing.T) {
			got := StreamFileName(tt.stream)
			if got != tt.file {
				t.Fatalf("StreamFileName(%q) = %q; want %q", tt.stream, got, tt.file)
			}
			if strings.Contains(got, "/") {
				t.Fatalf("file name %q contains a slash", got)
			}
			back, ok := streamFromFileName(got)
			if !ok || back != tt.stream {
				t.Fatalf("streamFromFileName(%q) = %q, %t; want %q", got, back, ok, tt.stream)
			}
		})
	}
}

// TestFileSink_concurrentWriters appends from goroutines through two sink
// instances on one directory (each instance's mutex does not cover the other:
// only the flock does) and expects one valid chain.
func TestFileSink_concurrentWriters(t *testing.T) {
	dir := t.TempDir()
	a, err := NewFileSink(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewFileSink(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		sink := a
		if w%2 == 1 {
			sink = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := sink.Append(context.Background(), event(testStream, w*1000+i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	recs, err := a.Read(context.Background(), testStream)
	if err != nil {
		t.Fatal(err)
	}
	rep := Verify(recs, nil)
	if !rep.OK() || rep.Records != writers*each || rep.Streams[0].HeadSeq != writers*each {
		t.Fatalf("after %d concurrent appends: %d records, first problem %v", writers*each, rep.Records, rep.First)
	}
}

// TestFileSink_failureReturnsError: Append returns an error, and writes nothing,
// when the record cannot be made durable. The executor relies on it to make no
// AWS call.
func TestFileSink_failureReturnsError(t *testing.T) {
	ctx := context.Background()
	t.Run("directory removed", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "audit")
		sink, err := NewFileSink(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := sink.Append(ctx, event(testStream, 1)); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := sink.Append(ctx, event(testStream, 2)); err == nil {
			t.Fatal("Append into a removed directory returned nil")
		}
	})
	t.Run("directory replaced by a file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "audit")
		sink, err := NewFileSink(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := sink.Append(ctx, event(testStream, 1)); err == nil {
			t.Fatal("Append with the directory replaced by a file returned nil")
		}
	})
	t.Run("torn last line", func(t *testing.T) {
		dir := t.TempDir()
		sink, err := NewFileSink(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := sink.Append(ctx, event(testStream, 1)); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, StreamFileName(testStream))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.WriteString(`{"stream":"control/payments","ty`)
		_ = f.Close()
		before, _ := os.ReadFile(p)
		err = sink.Append(ctx, event(testStream, 2))
		if err == nil || !strings.Contains(err.Error(), "incomplete record") {
			t.Fatalf("Append after a torn write = %v; want an 'incomplete record' error", err)
		}
		after, _ := os.ReadFile(p)
		if !bytes.Equal(before, after) {
			t.Fatal("Append changed the file although it failed")
		}
		var ce *CorruptError
		if _, err := sink.Read(ctx, testStream); err == nil || !errorsAs(err, &ce) {
			t.Fatalf("Read of a torn file = %v; want a *CorruptError", err)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		sink, err := NewFileSink(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := sink.Append(cctx, event(testStream, 1)); err == nil {
			t.Fatal("Append with a canceled context returned nil")
		}
	})
}

func TestFileSink_Read_corruptLine(t *testing.T) {
	dir := t.TempDir()
	sink, err := NewFileSink(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		if err := sink.Append(ctx, event(testStream, i)); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, StreamFileName(testStream))
	b, _ := os.ReadFile(p)
	lines := strings.SplitAfter(string(b), "\n")
	lines[1] = `{"stream":"control/payments","extra":true}` + "\n"
	if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = sink.Read(ctx, testStream)
	var ce *CorruptError
	if !errorsAs(err, &ce) || !strings.Contains(ce.Where, "line 2") {
		t.Fatalf("Read = %v; want a *CorruptError at line 2", err)
	}
}
