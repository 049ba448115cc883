package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/netchange-io/netchange/internal/metrics"
)

// PostgresTable is the audit table's name.
const PostgresTable = "netchange_audit"

// pgLockClass is the first key of the advisory locks that serialise appends to one
// stream (the second is hashtext(stream)); "nc" in ASCII.
const pgLockClass int32 = 0x6e63

// pgSchema creates the append-only table. The triggers refuse UPDATE, DELETE and
// TRUNCATE inside the database itself, for every role including the table owner,
// and are ENABLE ALWAYS so session_replication_role=replica does not bypass them;
// only an explicit ALTER TABLE … DISABLE TRIGGER (owner or superuser) does, which
// is why the sink's role should hold nothing but INSERT and SELECT on the table.
var pgSchema = []string{
	`CREATE TABLE IF NOT EXISTS netchange_audit (
		stream         text        NOT NULL,
		seq            bigint      NOT NULL CHECK (seq >= 1),
		type           text        NOT NULL,
		actor          text        NOT NULL,
		req_cluster    text        NOT NULL DEFAULT '',
		req_namespace  text        NOT NULL DEFAULT '',
		req_name       text        NOT NULL DEFAULT '',
		req_uid        text        NOT NULL DEFAULT '',
		req_generation bigint      NOT NULL DEFAULT 0,
		data           text,
		time           timestamptz NOT NULL,
		prev_hash      text        NOT NULL,
		hash           text        NOT NULL,
		PRIMARY KEY (stream, seq)
	)`,
	`CREATE OR REPLACE FUNCTION netchange_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		RAISE EXCEPTION 'netchange_audit is append-only: % is refused (audit records can never be changed or removed)', TG_OP
			USING ERRCODE = 'insufficient_privilege';
	END
	$$`,
	`CREATE OR REPLACE TRIGGER netchange_audit_no_update_delete BEFORE UPDATE OR DELETE ON netchange_audit
		FOR EACH ROW EXECUTE FUNCTION netchange_audit_refuse()`,
	`CREATE OR REPLACE TRIGGER netchange_audit_no_truncate BEFORE TRUNCATE ON netchange_audit
		FOR EACH STATEMENT EXECUTE FUNCTION netchange_audit_refuse()`,
	`ALTER TABLE netchange_audit ENABLE ALWAYS TRIGGER netchange_audit_no_update_delete`,
	`ALTER TABLE netchange_audit ENABLE ALWAYS TRIGGER netchange_audit_no_truncate`,
	`REVOKE UPDATE, DELETE, TRUNCATE ON netchange_audit FROM PUBLIC`,
}

// pgTriggersQuery counts the enabled append-only triggers.
const pgTriggersQuery = `SELECT count(*) FROM pg_trigger
	WHERE tgrelid = to_regclass('netchange_audit')
	  AND tgname IN ('netchange_audit_no_update_delete', 'netchange_audit_no_truncate')
	  AND tgenabled IN ('O', 'A')`

// PostgresSink stores every stream in one append-only PostgreSQL table,
// netchange_audit, PRIMARY KEY (stream, seq). Append runs in a transaction that
// takes pg_advisory_xact_lock(class, hashtext(stream)), reads the stream's head,
// inserts the next record and commits with synchronous_commit on, so concurrent
// writers (in any process) keep one valid chain, the primary key catches any race,
// and a record is durable when Append returns nil.
//
// The sink creates the table and its triggers when missing. For least privilege,
// create them once as an administrator (run the sink once, or apply the same DDL)
// and give the sink's role only: GRANT SELECT, INSERT ON netchange_audit TO <role>.
// When the table exists the sink runs no DDL; it refuses to start if the
// append-only triggers are missing or disabled.
type PostgresSink struct {
	cfg *pgx.ConnConfig
	now func() time.Time

	mu   sync.Mutex
	conn *pgx.Conn
}

// NewPostgresSink connects to dsn, ensures the table and its triggers, and returns
// the sink. now stamps events whose Time is zero; nil means time.Now.
func NewPostgresSink(ctx context.Context, dsn string, now func() time.Time) (*PostgresSink, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres audit sink: parse DSN: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	s := &PostgresSink{cfg: cfg, now: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.connLocked(ctx)
	if err != nil {
		return nil, err
	}
	if err := ensureSchema(ctx, conn); err != nil {
		_ = conn.Close(ctx)
		s.conn = nil
		return nil, err
	}
	return s, nil
}

// ensureSchema creates the table and triggers when they are missing (under a
// transaction-scoped advisory lock so concurrent starts do not race) and checks
// that the append-only triggers are in force.
func ensureSchema(ctx context.Context, conn *pgx.Conn) error {
	var n int
	if err := conn.QueryRow(ctx, pgTriggersQuery).Scan(&n); err != nil {
		return fmt.Errorf("postgres audit sink: inspect %s: %w", PostgresTable, err)
	}
	if n == 2 {
		return nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres audit sink: begin schema setup: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, 0)", pgLockClass); err != nil {
		return fmt.Errorf("postgres audit sink: lock schema setup: %w", err)
	}
	for _, stmt := range pgSchema {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("postgres audit sink: create %s (needs CREATE on the schema, or have an administrator create it): %w", PostgresTable, err)
		}
	}
	if err := tx.QueryRow(ctx, pgTriggersQuery).Scan(&n); err != nil {
		return fmt.Errorf("postgres audit sink: inspect %s: %w", PostgresTable, err)
	}
	if n != 2 {
		return fmt.Errorf("postgres audit sink: the append-only triggers on %s are missing or disabled; re-enable them (ALTER TABLE %s ENABLE ALWAYS TRIGGER ALL)", PostgresTable, PostgresTable)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres audit sink: commit schema setup: %w", err)
	}
	return nil
}

// connLocked returns the open connection, reconnecting when it was lost. s.mu is held.
func (s *PostgresSink) connLocked(ctx context.Context) (*pgx.Conn, error) {
	if s.conn != nil && !s.conn.IsClosed() {
		return s.conn, nil
	}
	conn, err := pgx.ConnectConfig(ctx, s.cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres audit sink: connect to %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
	}
	s.conn = conn
	return conn, nil
}

// dropConnLocked closes the connection after an error so the next call reconnects.
func (s *PostgresSink) dropConnLocked(ctx context.Context) {
	if s.conn != nil {
		_ = s.conn.Close(ctx)
		s.conn = nil
	}
}

// Append inserts ev as the next record of its stream in a committed transaction
// (synchronous_commit on) before returning. Any error, including a lost
// connection during COMMIT, means the record may not be durable and callers must
// not act on it.
func (s *PostgresSink) Append(ctx context.Context, ev Event) error {
	err := s.append(ctx, ev)
	result := "ok"
	if err != nil {
		result = "error"
	}
	metrics.AuditAppends.WithLabelValues("postgres", result).Inc()
	return err
}

func (s *PostgresSink) append(ctx context.Context, ev Event) error {
	if ev.Stream == "" {
		return fmt.Errorf("append %s event: stream is empty; set Event.Stream (e.g. control/<namespace>)", ev.Type)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.connLocked(ctx)
	if err != nil {
		return fmt.Errorf("append %s to %s: %w", ev.Type, ev.Stream, err)
	}
	if err := appendTx(ctx, conn, ev, s.now); err != nil {
		s.dropConnLocked(ctx)
		return fmt.Errorf("append %s to %s: %w", ev.Type, ev.Stream, err)
	}
	return nil
}

func appendTx(ctx context.Context, conn *pgx.Conn, ev Event, now func() time.Time) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
		return fmt.Errorf("set synchronous_commit: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", pgLockClass, ev.Stream); err != nil {
		return fmt.Errorf("lock stream: %w", err)
	}
	var prev *Record
	var seq int64
	var hash string
	err = tx.QueryRow(ctx, "SELECT seq, hash FROM netchange_audit WHERE stream = $1 ORDER BY seq DESC LIMIT 1", ev.Stream).Scan(&seq, &hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read stream head: %w", err)
	default:
		prev = &Record{Seq: seq, Hash: hash}
	}
	rec, err := nextRecord(prev, ev, now)
	if err != nil {
		return err
	}
	var data *string
	if len(rec.Data) > 0 {
		d := string(rec.Data)
		data = &d
	}
	_, err = tx.Exec(ctx, `INSERT INTO netchange_audit
		(stream, seq, type, actor, req_cluster, req_namespace, req_name, req_uid, req_generation, data, time, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		rec.Stream, rec.Seq, string(rec.Type), rec.Actor, rec.Request.Cluster, rec.Request.Namespace, rec.Request.Name,
		rec.Request.UID, rec.Request.Generation, data, rec.Time, rec.PrevHash, rec.Hash)
	if err != nil {
		return fmt.Errorf("insert seq %d: %w", rec.Seq, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit seq %d: %w", rec.Seq, err)
	}
	return nil
}

// Read returns every record of stream ordered by seq.
func (s *PostgresSink) Read(ctx context.Context, stream string) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.connLocked(ctx)
	if err != nil {
		return nil, fmt.Errorf("read audit stream %s: %w", stream, err)
	}
	rows, err := conn.Query(ctx, `SELECT stream, seq, type, actor, req_cluster, req_namespace, req_name, req_uid,
		req_generation, data, time, prev_hash, hash FROM netchange_audit WHERE stream = $1 ORDER BY seq`, stream)
	if err != nil {
		s.dropConnLocked(ctx)
		return nil, fmt.Errorf("read audit stream %s: %w", stream, err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var typ string
		var data *string
		if err := rows.Scan(&r.Stream, &r.Seq, &typ, &r.Actor, &r.Request.Cluster, &r.Request.Namespace, &r.Request.Name,
			&r.Request.UID, &r.Request.Generation, &data, &r.Time, &r.PrevHash, &r.Hash); err != nil {
			return nil, fmt.Errorf("read audit stream %s: %w", stream, err)
		}
		r.Type = EventType(typ)
		r.Time = r.Time.UTC()
		if data != nil {
			r.Data = []byte(*data)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		s.dropConnLocked(ctx)
		return nil, fmt.Errorf("read audit stream %s: %w", stream, err)
	}
	return out, nil
}

// Streams lists the streams in the table, sorted.
func (s *PostgresSink) Streams(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.connLocked(ctx)
	if err != nil {
		return nil, fmt.Errorf("list audit streams: %w", err)
	}
	rows, err := conn.Query(ctx, "SELECT DISTINCT stream FROM netchange_audit ORDER BY stream")
	if err != nil {
		s.dropConnLocked(ctx)
		return nil, fmt.Errorf("list audit streams: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list audit streams: %w", err)
	}
	return out, nil
}

// Close closes the connection.
func (s *PostgresSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close(context.Background())
	s.conn = nil
	return err
}
