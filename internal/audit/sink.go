package audit

import (
	"context"
	"time"
)

// Sink is a durable store of hash-chained audit records.
type Sink interface {
	Appender
	// Read returns every record of stream in stored order (none, no error, for an
	// unknown stream). A stored record that cannot be decoded is a *CorruptError.
	Read(ctx context.Context, stream string) ([]Record, error)
	// Streams lists the streams that hold records, sorted.
	Streams(ctx context.Context) ([]string, error)
	// Close releases the sink's resources.
	Close() error
}

// Open returns the PostgreSQL sink when dsn is not empty, else the file sink in
// dir. Events with a zero Time are stamped with time.Now.
func Open(ctx context.Context, dir, dsn string) (Sink, error) {
	return OpenWithClock(ctx, dir, dsn, time.Now)
}

// OpenWithClock is Open with the clock that stamps events whose Time is zero.
func OpenWithClock(ctx context.Context, dir, dsn string, now func() time.Time) (Sink, error) {
	if dsn != "" {
		return NewPostgresSink(ctx, dsn, now)
	}
	return NewFileSink(dir, now)
}

// ReadAll reads every stream of sink and returns the records of all of them.
func ReadAll(ctx context.Context, sink Sink) ([]Record, error) {
	streams, err := sink.Streams(ctx)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, s := range streams {
		recs, err := sink.Read(ctx, s)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}
