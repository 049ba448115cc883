// Package pgtest starts a throwaway PostgreSQL server for a test, through the
// project's hack/postgres.sh (which installs PostgreSQL 15 when it is missing).
package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running PostgreSQL server on a loopback port.
type Server struct {
	// DSN connects to the server's postgres database as the superuser postgres.
	DSN string
	// DataDir is the server's data directory.
	DataDir string
	script  string
	stopped bool
}

// script returns the path of hack/postgres.sh.
func script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "hack", "postgres.sh")
}

// Start starts a server for the test and stops it (by its PID file) when the test
// ends. The binaries come from NETCHANGE_PG_BIN, else from `hack/postgres.sh bin`.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := StartServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Logf("stop PostgreSQL: %v", err)
		}
		_ = os.RemoveAll(filepath.Dir(s.DataDir))
	})
	return s
}

// StartServer starts a server in a new temporary directory. Stop it with Stop.
func StartServer() (*Server, error) {
	// The postgres user must reach the data directory: a world-traversable
	// parent in the system temp directory, not the test's private TempDir.
	parent, err := os.MkdirTemp("", "netchange-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: temp dir: %w", err)
	}
	if err := os.Chmod(parent, 0o755); err != nil {
		return nil, fmt.Errorf("pgtest: chmod %s: %w", parent, err)
	}
	s := &Server{DataDir: filepath.Join(parent, "data"), script: script()}
	cmd := exec.Command("bash", s.script, "start", s.DataDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pgtest: hack/postgres.sh start %s: %w", s.DataDir, err)
	}
	s.DSN = strings.TrimSpace(string(out))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.DSN)
		if err == nil {
			_ = conn.Close(ctx)
			return s, nil
		}
		if ctx.Err() != nil {
			_ = s.Stop()
			return nil, fmt.Errorf("pgtest: server at %s does not accept connections: %w", s.DSN, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the server (exactly the one of DataDir, by its PID file).
func (s *Server) Stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	cmd := exec.Command("bash", s.script, "stop", s.DataDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: hack/postgres.sh stop %s: %w: %s", s.DataDir, err, out)
	}
	return nil
}

// Exec runs SQL statements as the superuser, for tests that tamper with the table.
func (s *Server) Exec(t testing.TB, sql string, args ...any) error {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.DSN)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// NewDatabase creates a fresh database on the server and returns its DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d", time.Now().UnixNano())
	if err := s.Exec(t, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	cfg, err := pgx.ParseConfig(s.DSN)
	if err != nil {
		t.Fatalf("pgtest: parse DSN: %v", err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
}
