package audit

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/netchange-io/netchange/internal/audit/pgtest"
)

var (
	pgOnce   sync.Once
	pgServer *pgtest.Server
	pgErr    error
)

// sharedPG starts one PostgreSQL server for the package's tests (stopped in TestMain).
func sharedPG(t *testing.T) *pgtest.Server {
	t.Helper()
	pgOnce.Do(func() { pgServer, pgErr = pgtest.StartServer() })
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	return pgServer
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pgServer != nil {
		if err := pgServer.Stop(); err != nil {
			code = 1
		}
		_ = os.RemoveAll(strings.TrimSuffix(pgServer.DataDir, "/data"))
	}
	os.Exit(code)
}

// newPGSink returns a PostgreSQL sink on a fresh database and that database's DSN.
func newPGSink(t *testing.T) (*PostgresSink, string) {
	t.Helper()
	dsn := sharedPG(t).NewDatabase(t)
	sink, err := NewPostgresSink(context.Background(), dsn, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	return sink, dsn
}

// pgConn connects to dsn as the superuser.
func pgConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// pgRewrite replaces the stream's rows with recs, as a superuser who disabled the
// append-only trigger would.
func pgRewrite(t *testing.T, dsn string, recs []Record) {
	t.Helper()
	ctx := context.Background()
	conn := pgConn(t, dsn)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	stmts := []string{
		"ALTER TABLE netchange_audit DISABLE TRIGGER netchange_audit_no_update_delete",
		"DELETE FROM netchange_audit WHERE stream = '" + testStream + "'",
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	for _, r := range recs {
		var data *string
		if len(r.Data) > 0 {
			d := string(r.Data)
			data = &d
		}
		if _, err := tx.Exec(ctx, `INSERT INTO netchange_audit
			(stream, seq, type, actor, req_cluster, req_namespace, req_name, req_uid, req_generation, data, time, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			r.Stream, r.Seq, string(r.Type), r.Actor, r.Request.Cluster, r.Request.Namespace, r.Request.Name,
			r.Request.UID, r.Request.Generation, data, r.Time, r.PrevHash, r.Hash); err != nil {
			t.Fatalf("insert tampered seq %d: %v", r.Seq, err)
		}
	}
	if _, err := tx.Exec(ctx, "ALTER TABLE netchange_audit ENABLE ALWAYS TRIGGER netchange_audit_no_update_delete"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresSink_tampering(t *testing.T) {
	priv, _ := testKey(1)
	for _, tc := range tamperCases() {
		if tc.fileOnly {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			sink, dsn := newPGSink(t)
			fillStream(t, sink, priv)
			ctx := context.Background()
			recs, err := sink.Read(ctx, testStream)
			if err != nil {
				t.Fatal(err)
			}
			if rep := Verify(recs, trustedKeys()); !rep.OK() || rep.Records != 7 {
				t.Fatalf("intact PostgreSQL stream: %+v", rep)
			}
			pgRewrite(t, dsn, tc.tamper(t, recs))
			tampered, err := sink.Read(ctx, testStream)
			if err != nil {
				t.Fatal(err)
			}
			checkDetected(t, tc, tampered)
		})
	}
}

// TestPostgresSink_appendOnly: the database itself refuses UPDATE, DELETE and
// TRUNCATE on the audit table, also for a superuser in replica mode.
func TestPostgresSink_appendOnly(t *testing.T) {
	sink, dsn := newPGSink(t)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		if err := sink.Append(ctx, event(testStream, i)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		replica bool
		sql     string
	}{
		{name: "update", sql: "UPDATE netchange_audit SET actor = 'mallory' WHERE seq = 2"},
		{name: "delete", sql: "DELETE FROM netchange_audit WHERE seq = 3"},
		{name: "delete all", sql: "DELETE FROM netchange_audit"},
		{name: "truncate", sql: "TRUNCATE netchange_audit"},
		{name: "update in replica mode", replica: true, sql: "UPDATE netchange_audit SET actor = 'mallory' WHERE seq = 2"},
		{name: "delete in replica mode", replica: true, sql: "DELETE FROM netchange_audit WHERE seq = 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := pgConn(t, dsn)
			if tt.replica {
				if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
					t.Fatal(err)
				}
			}
			_, err := conn.Exec(ctx, tt.sql)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				t.Fatalf("%s: err = %v; want the database to refuse it", tt.sql, err)
			}
			if pgErr.Code != "42501" || !strings.Contains(pgErr.Message, "append-only") {
				t.Fatalf("%s refused with %s %q; want 42501 and an append-only message", tt.sql, pgErr.Code, pgErr.Message)
			}
		})
	}
	recs, err := sink.Read(ctx, testStream)
	if err != nil {
		t.Fatal(err)
	}
	if rep := Verify(recs, nil); !rep.OK() || rep.Records != 3 {
		t.Fatalf("after refused changes: %+v", rep)
	}
}

// TestPostgresSink_concurrentWriters appends from several sinks (connections) at
// once and expects one valid chain per stream.
func TestPostgresSink_concurrentWriters(t *testing.T) {
	first, dsn := newPGSink(t)
	const writers, each = 6, 15
	streams := []string{testStream, "control/other"}
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		sink, err := NewPostgresSink(context.Background(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sink.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := sink.Append(context.Background(), event(streams[i%2], w*1000+i)); err != nil {
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
	all, err := ReadAll(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	rep := Verify(all, nil)
	if !rep.OK() || rep.Records != writers*each || len(rep.Streams) != 2 {
		t.Fatalf("after %d concurrent appends: %d records in %d streams, first problem %v", writers*each, rep.Records, len(rep.Streams), rep.First)
	}
}

// TestPostgresSink_failureReturnsError: with the server stopped, Append returns an
// error (the executor then makes no AWS call); after a restart it works again.
func TestPostgresSink_failureReturnsError(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	sink, err := NewPostgresSink(ctx, srv.DSN, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Append(ctx, event(testStream, 1)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Append(ctx, event(testStream, 2)); err == nil {
		t.Fatal("Append with PostgreSQL stopped returned nil")
	}
	if err := sink.Append(ctx, event(testStream, 3)); err == nil {
		t.Fatal("second Append with PostgreSQL stopped returned nil")
	}
	if _, err := NewPostgresSink(ctx, srv.DSN, nil); err == nil {
		t.Fatal("NewPostgresSink with PostgreSQL stopped returned nil")
	}
}

// TestPostgresSink_refusesUnprotectedTable: a sink does not start on a table
// whose append-only trigger an administrator disabled.
func TestPostgresSink_refusesUnprotectedTable(t *testing.T) {
	_, dsn := newPGSink(t)
	conn := pgConn(t, dsn)
	if _, err := conn.Exec(context.Background(), "ALTER TABLE netchange_audit DISABLE TRIGGER netchange_audit_no_update_delete"); err != nil {
		t.Fatal(err)
	}
	// The sink re-creates the trigger (it owns the table here) and starts.
	s, err := NewPostgresSink(context.Background(), dsn, nil)
	if err != nil {
		t.Fatalf("sink with table-owner rights could not restore the trigger: %v", err)
	}
	_ = s.Close()
	var enabled string
	if err := conn.QueryRow(context.Background(), "SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'netchange_audit_no_update_delete'").Scan(&enabled); err != nil {
		t.Fatal(err)
	}
	if enabled != "A" {
		t.Fatalf("trigger state after sink start = %q; want A (always)", enabled)
	}
	// A role that may only read and insert cannot restore it: the sink refuses to start.
	if _, err := conn.Exec(context.Background(), "ALTER TABLE netchange_audit DISABLE TRIGGER netchange_audit_no_update_delete"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"CREATE ROLE netchange_writer LOGIN",
		"GRANT SELECT, INSERT ON netchange_audit TO netchange_writer",
	} {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "REVOKE ALL ON netchange_audit FROM netchange_writer")
		_, _ = conn.Exec(context.Background(), "DROP ROLE netchange_writer")
	})
	writerDSN := strings.Replace(dsn, "postgres://postgres@", "postgres://netchange_writer@", 1)
	if _, err := NewPostgresSink(context.Background(), writerDSN, nil); err == nil {
		t.Fatal("sink started on a table whose append-only trigger is disabled")
	}
	if _, err := conn.Exec(context.Background(), "ALTER TABLE netchange_audit ENABLE ALWAYS TRIGGER netchange_audit_no_update_delete"); err != nil {
		t.Fatal(err)
	}
	w, err := NewPostgresSink(context.Background(), writerDSN, nil)
	if err != nil {
		t.Fatalf("least-privilege sink on a protected table: %v", err)
	}
	defer w.Close()
	if err := w.Append(context.Background(), event(testStream, 1)); err != nil {
		t.Fatalf("least-privilege append: %v", err)
	}
}
