package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/netchange-io/netchange/internal/metrics"
)

// fileExt ends every stream file's name.
const fileExt = ".jsonl"

// FileSink keeps one append-only JSON-lines file per stream in a directory (the
// embedded default sink). Append holds a process-local mutex and an exclusive
// flock on the stream's file, re-reads the file's last record under the lock,
// writes the next record with O_APPEND and fsyncs before returning, so several
// processes sharing the directory keep one valid chain per stream, and a record
// is on disk when Append returns nil.
type FileSink struct {
	dir string
	now func() time.Time
	mu  sync.Mutex
}

// NewFileSink returns a file sink in dir, creating dir (0750) when missing. now
// stamps events whose Time is zero; nil means time.Now.
func NewFileSink(dir string, now func() time.Time) (*FileSink, error) {
	if dir == "" {
		return nil, errors.New("file audit sink: directory is empty; pass --audit-dir")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("file audit sink: create %s: %w", dir, err)
	}
	if now == nil {
		now = time.Now
	}
	return &FileSink{dir: dir, now: now}, nil
}

// Dir is the sink's directory.
func (s *FileSink) Dir() string { return s.dir }

// StreamFileName returns the file name of a stream: "/" becomes "_", and every
// byte outside [A-Za-z0-9.-] (including "_" itself and a leading ".") becomes
// %XX, so control/ns is control_ns.jsonl and names map back one to one.
func StreamFileName(stream string) string {
	var b strings.Builder
	for i := 0; i < len(stream); i++ {
		c := stream[i]
		switch {
		case c == '/':
			b.WriteByte('_')
		case c == '.' && i == 0:
			fmt.Fprintf(&b, "%%%02X", c)
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String() + fileExt
}

// streamFromFileName reverses StreamFileName.
func streamFromFileName(name string) (string, bool) {
	base, ok := strings.CutSuffix(name, fileExt)
	if !ok || base == "" {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(base); i++ {
		switch c := base[i]; c {
		case '_':
			b.WriteByte('/')
		case '%':
			if i+2 >= len(base) {
				return "", false
			}
			v, err := strconv.ParseUint(base[i+1:i+3], 16, 8)
			if err != nil {
				return "", false
			}
			b.WriteByte(byte(v))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func (s *FileSink) path(stream string) string {
	return filepath.Join(s.dir, StreamFileName(stream))
}

// Append writes ev as the next record of its stream and fsyncs the file (and, for
// a new file, the directory) before returning. Any error means the record may not
// be durable and callers must not act on it.
func (s *FileSink) Append(ctx context.Context, ev Event) error {
	err := s.append(ctx, ev)
	result := "ok"
	if err != nil {
		result = "error"
	}
	metrics.AuditAppends.WithLabelValues("file", result).Inc()
	return err
}

func (s *FileSink) append(ctx context.Context, ev Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("append %s to %s: %w", ev.Type, ev.Stream, err)
	}
	if ev.Stream == "" {
		return fmt.Errorf("append %s event: stream is empty; set Event.Stream (e.g. control/<namespace>)", ev.Type)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.path(ev.Stream)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("append %s to %s: open %s: %w (check that the audit directory exists and is writable)", ev.Type, ev.Stream, p, err)
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_EX); err != nil {
		return fmt.Errorf("append %s to %s: lock %s: %w", ev.Type, ev.Stream, p, err)
	}
	defer func() { _ = flock(f, syscall.LOCK_UN) }()
	last, size, err := lastRecord(f)
	if err != nil {
		return fmt.Errorf("append %s to %s: %w", ev.Type, ev.Stream, err)
	}
	if last != nil && last.Stream != ev.Stream {
		return fmt.Errorf("append %s to %s: the last record of %s belongs to stream %q; run `manager audit verify --dir %s`", ev.Type, ev.Stream, p, last.Stream, s.dir)
	}
	rec, err := nextRecord(last, ev, s.now)
	if err != nil {
		return err
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("append %s to %s: encode: %w", ev.Type, ev.Stream, err)
	}
	line = append(line, '\n')
	if _, err := f.Write(line); err != nil {
		return fmt.Errorf("append %s to %s: write %s: %w", ev.Type, ev.Stream, p, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("append %s to %s: fsync %s: %w", ev.Type, ev.Stream, p, err)
	}
	if size == 0 {
		if err := syncDir(s.dir); err != nil {
			return fmt.Errorf("append %s to %s: fsync directory: %w", ev.Type, ev.Stream, err)
		}
	}
	return nil
}

// flock applies a flock(2) operation, retrying on EINTR.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// lastRecord decodes the last line of f (nil for an empty file) and returns the
// file's size. A file that does not end in a newline holds a torn write: Append
// fails closed rather than guess.
func lastRecord(f *os.File) (*Record, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	size := fi.Size()
	if size == 0 {
		return nil, 0, nil
	}
	const chunk = 4 << 10 // a record is typically under 1 KiB; longer ones take more reads
	var tail []byte
	for off := size; off > 0; {
		n := int64(chunk)
		if off < n {
			n = off
		}
		off -= n
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, fmt.Errorf("read %s: %w", f.Name(), err)
		}
		tail = append(buf, tail...)
		if len(tail) > 0 && tail[len(tail)-1] != '\n' {
			return nil, 0, fmt.Errorf("%s ends with an incomplete record (a crash during a write?): run `manager audit verify` and move the partial last line aside before appending again", f.Name())
		}
		if i := bytes.LastIndexByte(tail[:len(tail)-1], '\n'); i >= 0 || off == 0 {
			line := tail[i+1 : len(tail)-1]
			r, err := decodeLine(line)
			if err != nil {
				return nil, 0, fmt.Errorf("last record of %s: %w; run `manager audit verify`", f.Name(), err)
			}
			return r, size, nil
		}
	}
	return nil, 0, fmt.Errorf("read %s: no record found", f.Name())
}

// decodeLine strictly decodes one JSON line into a record.
func decodeLine(line []byte) (*Record, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the record")
	}
	return &r, nil
}

// CorruptError is a stored record that cannot be decoded: the store was damaged
// or tampered with.
type CorruptError struct {
	// Stream is the stream being read.
	Stream string
	// Where locates the record (e.g. "line 7 of control_ns.jsonl").
	Where string
	// Err is the decoding error.
	Err error
}

// Error implements error.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("audit stream %s: %s does not decode: %v (the log was damaged or tampered with)", e.Stream, e.Where, e.Err)
}

// Unwrap returns the decoding error.
func (e *CorruptError) Unwrap() error { return e.Err }

// Read returns every record of stream in file order, under a shared lock (nil and
// no error when the stream has no file). A line that does not decode is a
// *CorruptError.
func (s *FileSink) Read(ctx context.Context, stream string) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := s.path(stream)
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit stream %s: %w", stream, err)
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_SH); err != nil {
		return nil, fmt.Errorf("read audit stream %s: lock %s: %w", stream, p, err)
	}
	defer func() { _ = flock(f, syscall.LOCK_UN) }()
	var out []Record
	br := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if line[len(line)-1] != '\n' {
				return out, &CorruptError{Stream: stream, Where: fmt.Sprintf("line %d of %s", n, filepath.Base(p)), Err: errors.New("incomplete last line")}
			}
			r, derr := decodeLine(line[:len(line)-1])
			if derr != nil {
				return out, &CorruptError{Stream: stream, Where: fmt.Sprintf("line %d of %s", n, filepath.Base(p)), Err: derr}
			}
			out = append(out, *r)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read audit stream %s: %w", stream, err)
		}
	}
}

// Streams lists the streams that have a file in the directory, sorted.
func (s *FileSink) Streams(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list audit streams in %s: %w", s.dir, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if st, ok := streamFromFileName(e.Name()); ok {
			out = append(out, st)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Close releases nothing: the sink holds no open files between calls.
func (s *FileSink) Close() error { return nil }
