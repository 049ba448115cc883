package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/netchange-io/netchange/internal/audit"
	"github.com/netchange-io/netchange/internal/verdict"
)

// auditSink is an audit appender that must be closed.
type auditSink interface {
	audit.Appender
	io.Closer
}

// openAudit opens the PostgreSQL sink when dsn is set, else the file sink in dir.
// The value is an audit.Sink: roles that need Read/Streams (the auditor's
// checkpointer) may type-assert shared.Audit to audit.Sink.
func openAudit(ctx context.Context, dir, dsn string) (auditSink, error) {
	return audit.Open(ctx, dir, dsn)
}

func init() {
	subcommands["audit"] = func(args []string) int { return auditMain(args, os.Stdout, os.Stderr) }
}

const auditUsage = `usage: manager audit verify (--dir DIR | --postgres-dsn DSN) [--public-keys PATHS] [--stream S]
       manager audit show   (--dir DIR | --postgres-dsn DSN) --stream S

verify checks every record's hash, the chain (no record edited, dropped, reordered
or inserted) and the signed checkpoints. It prints a summary per stream and the
first bad record; exit status 0 = intact, 1 = tampering found, 2 = could not check.
show prints a stream's records as a table.
`

// auditMain runs `manager audit ...` and returns the exit code.
func auditMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "show") {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("manager audit "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory of the file audit sink")
	dsn := fs.String("postgres-dsn", "", "PostgreSQL DSN of the audit sink")
	keyPaths := fs.String("public-keys", "", "comma-separated PEM public keys (files or directories) trusted to sign checkpoints")
	stream := fs.String("stream", "", "only this stream (e.g. control/<namespace>)")
	fs.Usage = func() { fmt.Fprint(stderr, auditUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if (*dir == "") == (*dsn == "") {
		fmt.Fprintln(stderr, "manager audit: pass exactly one of --dir and --postgres-dsn")
		return 2
	}
	if verb == "show" && *stream == "" {
		fmt.Fprintln(stderr, "manager audit show: pass --stream (list streams with `manager audit verify`)")
		return 2
	}
	if *dir != "" {
		if fi, err := os.Stat(*dir); err != nil || !fi.IsDir() {
			fmt.Fprintf(stderr, "manager audit: %s is not an audit directory: %v\n", *dir, err)
			return 2
		}
	}
	var keys map[string]ed25519.PublicKey
	if *keyPaths != "" {
		ks, err := verdict.LoadPublicKeys(strings.Split(*keyPaths, ",")...)
		if err != nil {
			fmt.Fprintf(stderr, "manager audit: %v\n", err)
			return 2
		}
		keys = ks
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sink, err := audit.Open(ctx, *dir, *dsn)
	if err != nil {
		fmt.Fprintf(stderr, "manager audit: %v\n", err)
		return 2
	}
	defer sink.Close()
	if verb == "show" {
		return auditShow(ctx, sink, *stream, stdout, stderr)
	}
	return auditVerify(ctx, sink, *stream, keys, stdout, stderr)
}

// auditVerify verifies the sink's streams (or one) and prints the report.
func auditVerify(ctx context.Context, sink audit.Sink, only string, keys map[string]ed25519.PublicKey, stdout, stderr io.Writer) int {
	streams := []string{only}
	if only == "" {
		var err error
		if streams, err = sink.Streams(ctx); err != nil {
			fmt.Fprintf(stderr, "manager audit verify: %v\n", err)
			return 2
		}
	}
	var records []audit.Record
	var corrupt []*audit.CorruptError
	for _, s := range streams {
		recs, err := sink.Read(ctx, s)
		var ce *audit.CorruptError
		switch {
		case errors.As(err, &ce):
			corrupt = append(corrupt, ce)
		case err != nil:
			fmt.Fprintf(stderr, "manager audit verify: %v\n", err)
			return 2
		}
		records = append(records, recs...)
	}
	rep := audit.Verify(records, keys)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tRECORDS\tHEAD\tCHECKPOINTS\tLAST SIGNED HEAD\tUNSIGNED\tSTATUS")
	for _, sr := range rep.Streams {
		signed := "-"
		if cp := sr.LastCheckpoint; cp != nil {
			signed = fmt.Sprintf("seq %d by %s", cp.HeadSeq, cp.KeyID)
			if !cp.Verified {
				signed += " (not checked)"
			}
		}
		status := "intact"
		for _, ce := range corrupt {
			if ce.Stream == sr.Stream {
				status = "TAMPERED: undecodable record after seq " + fmt.Sprint(sr.HeadSeq)
			}
		}
		if sr.Problem != nil {
			status = "TAMPERED: " + string(sr.Problem.Kind) + " at seq " + fmt.Sprint(sr.Problem.Seq)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%s\n", sr.Stream, sr.Records, sr.HeadSeq, sr.Checkpoints, signed, sr.Unsigned, status)
	}
	_ = tw.Flush()
	if len(streams) == 0 || (only != "" && rep.Records == 0 && len(corrupt) == 0) {
		fmt.Fprintln(stdout, "no audit records found")
	}
	if keys == nil && rep.Checkpoints > 0 {
		fmt.Fprintln(stdout, "note: checkpoint signatures were not checked; pass --public-keys with the auditor's public key(s)")
	}
	bad := false
	for _, ce := range corrupt {
		fmt.Fprintf(stdout, "FIRST BAD RECORD: %v\n", ce)
		bad = true
	}
	for _, sr := range rep.Streams {
		if sr.Problem != nil {
			fmt.Fprintf(stdout, "FIRST BAD RECORD: %s\n", sr.Problem)
			bad = true
		}
	}
	if bad {
		fmt.Fprintln(stdout, "result: TAMPERING DETECTED: preserve the audit store as evidence and compare it with a backup or the last signed checkpoint")
		return 1
	}
	fmt.Fprintf(stdout, "result: intact (%d records in %d streams, %d checkpoints)\n", rep.Records, len(rep.Streams), rep.Checkpoints)
	return 0
}

// auditShow prints one stream's records as a table.
func auditShow(ctx context.Context, sink audit.Sink, stream string, stdout, stderr io.Writer) int {
	recs, err := sink.Read(ctx, stream)
	if err != nil {
		fmt.Fprintf(stderr, "manager audit show: %v\n", err)
		if errors.As(err, new(*audit.CorruptError)) {
			return 1
		}
		return 2
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tTYPE\tACTOR\tREQUEST\tDATA\tHASH")
	for _, r := range recs {
		req := "-"
		if r.Request.Name != "" {
			req = fmt.Sprintf("%s/%s (gen %d)", r.Request.Namespace, r.Request.Name, r.Request.Generation)
		}
		data := strings.ReplaceAll(string(r.Data), "\t", " ")
		if len(data) > 80 {
			data = data[:77] + "..."
		}
		if data == "" {
			data = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Format(time.RFC3339), r.Type, r.Actor, req, data, r.Hash[:min(12, len(r.Hash))])
	}
	_ = tw.Flush()
	if len(recs) == 0 {
		fmt.Fprintf(stdout, "stream %s has no records\n", stream)
	}
	return 0
}
