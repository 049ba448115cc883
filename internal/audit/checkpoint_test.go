package audit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestCheckpoint_refusesDamagedChain(t *testing.T) {
	priv, _ := testKey(1)
	m := newMemSink()
	ctx := context.Background()
	if err := Checkpoint(ctx, m, testStream, priv, ""); !errors.Is(err, ErrNothingToCheckpoint) {
		t.Fatalf("checkpoint of an empty stream = %v; want ErrNothingToCheckpoint", err)
	}
	for i := 1; i <= 3; i++ {
		if err := m.Append(ctx, event(testStream, i)); err != nil {
			t.Fatal(err)
		}
	}
	m.streams[testStream][1].Actor = "mallory"
	err := Checkpoint(ctx, m, testStream, priv, "")
	if err == nil || !strings.Contains(err.Error(), "refusing to sign a damaged chain") {
		t.Fatalf("checkpoint of an edited stream = %v; want a refusal", err)
	}
	if n := len(m.streams[testStream]); n != 3 {
		t.Fatalf("a refused checkpoint appended a record (%d records)", n)
	}
}

func TestCheckpointer_RunOnce(t *testing.T) {
	priv, _ := testKey(1)
	m := newMemSink()
	ctx := context.Background()
	for _, s := range []string{"auditor/control/a", "auditor/control/b"} {
		if err := m.Append(ctx, event(s, 1)); err != nil {
			t.Fatal(err)
		}
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	cp := NewCheckpointer(m, priv, "", time.Minute, clk)
	if err := cp.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	// A stream whose head is already a checkpoint is not signed again.
	if err := cp.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	all, _ := ReadAll(ctx, m)
	rep := Verify(all, trustedKeys())
	if !rep.OK() || rep.Checkpoints != 2 || rep.Records != 4 {
		t.Fatalf("after two rounds: %+v (first problem %v); want one verified checkpoint per stream", rep, rep.First)
	}
	for _, sr := range rep.Streams {
		if sr.LastCheckpoint == nil || !sr.LastCheckpoint.Verified || sr.Unsigned != 1 {
			t.Fatalf("stream %s: last checkpoint %+v, unsigned %d", sr.Stream, sr.LastCheckpoint, sr.Unsigned)
		}
	}
	last := all[len(all)-1]
	if !last.Time.Equal(clk.Now()) || last.Actor != "auditor" {
		t.Fatalf("checkpoint record time %s actor %s; want the injected clock's %s and actor auditor", last.Time, last.Actor, clk.Now())
	}
	m.fail = errors.New("disk full")
	if err := m.Append(ctx, Event{Stream: "auditor/control/c", Type: EventVerdict, Actor: "auditor"}); err == nil {
		t.Fatal("memSink ignores fail")
	}
	m.fail = nil
	if err := m.Append(ctx, event("auditor/control/a", 2)); err != nil {
		t.Fatal(err)
	}
	m.fail = errors.New("disk full")
	if err := cp.RunOnce(ctx); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("RunOnce with a failing sink = %v; want the sink's error", err)
	}
}

func TestCheckpointer_Start(t *testing.T) {
	priv, _ := testKey(1)
	m := newMemSink()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Append(ctx, event(testStream, 1)); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	cp := NewCheckpointer(m, priv, "", time.Minute, clk)
	if !cp.NeedLeaderElection() {
		t.Fatal("checkpointer must run on the leader only")
	}
	done := make(chan error, 1)
	go func() { done <- cp.Start(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if clk.HasWaiters() {
			clk.Step(time.Minute)
		}
		recs, _ := m.Read(ctx, testStream)
		if len(recs) == 2 && recs[1].Type == EventCheckpoint {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after the interval elapsed on the injected clock (%d records)", len(recs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Start returned %v after cancel", err)
	}
}
