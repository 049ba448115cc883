package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ZeroHash is the PrevHash of the first record of every stream: 64 zeros.
var ZeroHash = strings.Repeat("0", 64)

// Record is one link of a stream's hash chain: the event, its position in the
// stream (Seq, from 1), the Hash of the record before it (PrevHash) and its own
// Hash, a hex SHA-256 over the canonical encoding of everything but Hash.
type Record struct {
	Event
	// Seq is the record's position in its stream, starting at 1, without gaps.
	Seq int64 `json:"seq"`
	// PrevHash is the Hash of record Seq-1, or ZeroHash for Seq 1.
	PrevHash string `json:"prevHash"`
	// Hash is the hex SHA-256 of the record's canonical encoding (see ComputeHash).
	Hash string `json:"hash"`
}

// canonicalRecord fixes the field order and formats of the hashed bytes.
// encoding/json writes struct fields in declaration order, so equal records
// encode byte-identically.
type canonicalRecord struct {
	Version  int             `json:"v"`
	Stream   string          `json:"stream"`
	Seq      int64           `json:"seq"`
	Type     EventType       `json:"type"`
	Actor    string          `json:"actor"`
	Request  RequestRef      `json:"request"`
	Data     json.RawMessage `json:"data,omitempty"`
	Time     string          `json:"time"`
	PrevHash string          `json:"prevHash"`
}

// Canonical returns the bytes Hash covers: a compact JSON object with the keys
// v, stream, seq, type, actor, request, data (omitted when empty), time (RFC 3339
// in UTC with nanoseconds) and prevHash, in that order.
func (r *Record) Canonical() ([]byte, error) {
	data, err := normalizeData(r.Data)
	if err != nil {
		return nil, fmt.Errorf("canonical record %s/%d: %w", r.Stream, r.Seq, err)
	}
	c := canonicalRecord{
		Version:  1,
		Stream:   r.Stream,
		Seq:      r.Seq,
		Type:     r.Type,
		Actor:    r.Actor,
		Request:  r.Request,
		Data:     data,
		Time:     r.Time.UTC().Format(time.RFC3339Nano),
		PrevHash: r.PrevHash,
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("canonical record %s/%d: %w", r.Stream, r.Seq, err)
	}
	return b, nil
}

// ComputeHash returns the hex SHA-256 of the record's canonical encoding. A record
// is intact when ComputeHash() == Hash.
func (r *Record) ComputeHash() (string, error) {
	b, err := r.Canonical()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// normalizeData compacts event data so that a record read back from any sink
// hashes like the one written; "null" and empty data are no data.
func normalizeData(d json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(d)) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, d); err != nil {
		return nil, fmt.Errorf("event data is not valid JSON: %w", err)
	}
	if buf.String() == "null" {
		return nil, nil
	}
	return buf.Bytes(), nil
}

// nextRecord builds the record that follows prev (nil for an empty stream) for ev,
// stamping ev.Time with now() when it is zero. Times are kept in UTC with
// microsecond precision, the precision PostgreSQL stores.
func nextRecord(prev *Record, ev Event, now func() time.Time) (Record, error) {
	if ev.Stream == "" {
		return Record{}, fmt.Errorf("append %s event: stream is empty; set Event.Stream (e.g. control/<namespace>)", ev.Type)
	}
	if ev.Type == "" {
		return Record{}, fmt.Errorf("append to %s: event type is empty", ev.Stream)
	}
	data, err := normalizeData(ev.Data)
	if err != nil {
		return Record{}, fmt.Errorf("append %s to %s: %w", ev.Type, ev.Stream, err)
	}
	ev.Data = data
	if ev.Time.IsZero() {
		ev.Time = now()
	}
	ev.Time = ev.Time.UTC().Truncate(time.Microsecond)
	r := Record{Event: ev, Seq: 1, PrevHash: ZeroHash}
	if prev != nil {
		r.Seq = prev.Seq + 1
		r.PrevHash = prev.Hash
	}
	if r.Hash, err = r.ComputeHash(); err != nil {
		return Record{}, err
	}
	return r, nil
}
