package main

import (
	"context"
	"fmt"
	"io"

	"github.com/netchange-io/netchange/internal/audit"
)

// auditSink is an audit appender that must be closed.
type auditSink interface {
	audit.Appender
	io.Closer
}

// openAudit opens the PostgreSQL sink when dsn is set, else the file sink in dir.
// TRANSITIONAL: replaced by the audit trail work (internal/audit sinks).
func openAudit(ctx context.Context, dir, dsn string) (auditSink, error) {
	return nil, fmt.Errorf("audit sinks are not built yet (dir %q, dsn set: %t)", dir, dsn != "")
}
