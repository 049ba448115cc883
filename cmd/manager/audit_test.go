package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/netchange-io/netchange/internal/audit"
	"github.com/netchange-io/netchange/internal/audit/pgtest"
	"github.com/netchange-io/netchange/internal/verdict"
)

const cliStream = "control/payments"

// writeKeys writes a key pair into dir and returns the private key and the public key's path.
func writeKeys(t *testing.T, dir string) (privPath, pubPath string) {
	t.Helper()
	if err := writeKeyPair(dir); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "ed25519.key"), filepath.Join(dir, "ed25519.pub")
}

// fillTrail appends five events, a checkpoint signed with the key at privPath, and one more event.
func fillTrail(t *testing.T, sink audit.Sink, privPath string) {
	t.Helper()
	ctx := context.Background()
	priv, err := verdict.LoadPrivateKey(privPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 6; i++ {
		if i == 6 {
			if err := audit.Checkpoint(ctx, sink, cliStream, priv, ""); err != nil {
				t.Fatal(err)
			}
		}
		ev := audit.Event{Stream: cliStream, Type: audit.EventActionApplied, Actor: "executor",
			Request: audit.RequestRef{Namespace: "payments", Name: "block-range", Generation: 1},
			Data:    json.RawMessage(fmt.Sprintf(`{"index":%d}`, i))}
		if err := sink.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Append(ctx, audit.Event{Stream: "auditor/control/payments", Type: audit.EventVerdict, Actor: "auditor"}); err != nil {
		t.Fatal(err)
	}
}

// fileLines returns the stream file's lines (with newlines).
func fileLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	return lines[:len(lines)-1]
}

func TestAuditMain_verifyFile(t *testing.T) {
	keys := t.TempDir()
	privPath, pubPath := writeKeys(t, filepath.Join(keys, "a"))
	_, otherPub := writeKeys(t, filepath.Join(keys, "b"))
	tests := []struct {
		name     string
		tamper   func(lines []string) []string
		pubKeys  string
		wantCode int
		wantOut  []string
	}{
		{name: "intact", pubKeys: pubPath, wantCode: 0, wantOut: []string{"control/payments", "intact", "result: intact (8 records in 2 streams, 1 checkpoints)"}},
		{name: "intact without keys", wantCode: 0, wantOut: []string{"not checked", "pass --public-keys"}},
		{name: "edited", pubKeys: pubPath, wantCode: 1,
			tamper:  func(l []string) []string { l[2] = strings.Replace(l[2], `"executor"`, `"mallory"`, 1); return l },
			wantOut: []string{"TAMPERED: edited at seq 3", "FIRST BAD RECORD: control/payments: record seq 3", "TAMPERING DETECTED"}},
		{name: "dropped", pubKeys: pubPath, wantCode: 1,
			tamper:  func(l []string) []string { return append(l[:1:1], l[2:]...) },
			wantOut: []string{"TAMPERED: dropped at seq 3"}},
		{name: "reordered", pubKeys: pubPath, wantCode: 1,
			tamper:  func(l []string) []string { l[1], l[2] = l[2], l[1]; return l },
			wantOut: []string{"TAMPERED: reordered at seq 3"}},
		{name: "inserted", pubKeys: pubPath, wantCode: 1,
			tamper:  func(l []string) []string { return append(l[:3:3], l[2:]...) },
			wantOut: []string{"TAMPERED: inserted at seq 3"}},
		{name: "garbage line", pubKeys: pubPath, wantCode: 1,
			tamper:  func(l []string) []string { l[3] = "{not json}\n"; return l },
			wantOut: []string{"undecodable", "line 4"}},
		{name: "checkpoint by an untrusted key", pubKeys: otherPub, wantCode: 1,
			wantOut: []string{"TAMPERED: checkpoint-key-unknown at seq 6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			sink, err := audit.NewFileSink(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			fillTrail(t, sink, privPath)
			if tt.tamper != nil {
				p := filepath.Join(dir, audit.StreamFileName(cliStream))
				if err := os.WriteFile(p, []byte(strings.Join(tt.tamper(fileLines(t, p)), "")), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"verify", "--dir", dir}
			if tt.pubKeys != "" {
				args = append(args, "--public-keys", tt.pubKeys)
			}
			var out, errOut bytes.Buffer
			code := auditMain(args, &out, &errOut)
			if code != tt.wantCode {
				t.Fatalf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out.String(), errOut.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Fatalf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestAuditMain_usage(t *testing.T) {
	tests := [][]string{
		{},
		{"frobnicate"},
		{"verify"},
		{"verify", "--dir", "x", "--postgres-dsn", "y"},
		{"verify", "--dir", filepath.Join(t.TempDir(), "missing")},
		{"show", "--dir", t.TempDir()},
	}
	for _, args := range tests {
		var out, errOut bytes.Buffer
		if code := auditMain(args, &out, &errOut); code != 2 {
			t.Fatalf("manager audit %v: exit %d; want 2 (usage)", args, code)
		}
	}
}

func TestAuditMain_show(t *testing.T) {
	dir := t.TempDir()
	privPath, _ := writeKeys(t, t.TempDir())
	sink, err := audit.NewFileSink(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	fillTrail(t, sink, privPath)
	var out, errOut bytes.Buffer
	if code := auditMain([]string{"show", "--dir", dir, "--stream", cliStream}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 8 || !strings.HasPrefix(lines[0], "SEQ") || !strings.Contains(lines[6], "Checkpoint") || !strings.Contains(lines[1], "payments/block-range (gen 1)") {
		t.Fatalf("show output:\n%s", out.String())
	}
}

func TestAuditMain_verifyPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	privPath, pubPath := writeKeys(t, t.TempDir())
	ctx := context.Background()
	sink, err := audit.NewPostgresSink(ctx, srv.DSN, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	fillTrail(t, sink, privPath)
	var out, errOut bytes.Buffer
	if code := auditMain([]string{"verify", "--postgres-dsn", srv.DSN, "--public-keys", pubPath}, &out, &errOut); code != 0 {
		t.Fatalf("intact: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	conn, err := pgx.Connect(ctx, srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DELETE FROM netchange_audit WHERE seq = 2"); err == nil {
		t.Fatal("the database accepted a DELETE on the audit table")
	}
	for _, s := range []string{
		"ALTER TABLE netchange_audit DISABLE TRIGGER netchange_audit_no_update_delete",
		"DELETE FROM netchange_audit WHERE stream = 'control/payments' AND seq = 2",
		"ALTER TABLE netchange_audit ENABLE ALWAYS TRIGGER netchange_audit_no_update_delete",
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	out.Reset()
	if code := auditMain([]string{"verify", "--postgres-dsn", srv.DSN, "--public-keys", pubPath, "--stream", cliStream}, &out, &errOut); code != 1 {
		t.Fatalf("after a superuser deleted seq 2: exit %d; want 1\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "TAMPERED: dropped at seq 3") {
		t.Fatalf("output:\n%s", out.String())
	}
}

// TestAuditBinary_verify builds the manager binary and runs `manager audit verify`
// as an operator would: exit 0 on an intact trail, 1 after an edit.
func TestAuditBinary_verify(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "manager")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	dir := t.TempDir()
	privPath, pubPath := writeKeys(t, t.TempDir())
	sink, err := audit.NewFileSink(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	fillTrail(t, sink, privPath)
	run := func() (int, string) {
		cmd := exec.Command(bin, "audit", "verify", "--dir", dir, "--public-keys", pubPath)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := run(); code != 0 {
		t.Fatalf("intact trail: exit %d\n%s", code, out)
	}
	p := filepath.Join(dir, audit.StreamFileName(cliStream))
	lines := fileLines(t, p)
	lines[4] = strings.Replace(lines[4], `{"index":5}`, `{"index":50}`, 1)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o640); err != nil {
		t.Fatal(err)
	}
	code, out := run()
	if code != 1 || !strings.Contains(out, "TAMPERED: edited at seq 5") {
		t.Fatalf("edited trail: exit %d; want 1 and the edit at seq 5\n%s", code, out)
	}
}
