package audit

import (
	"crypto/ed25519"
	"fmt"
	"sort"
)

// ProblemKind names a kind of damage Verify finds.
type ProblemKind string

// Problem kinds.
const (
	// ProblemEdited is a record whose content no longer matches its hash.
	ProblemEdited ProblemKind = "edited"
	// ProblemDropped is a missing record: a gap in the sequence, or a record that
	// does not chain to the one before it.
	ProblemDropped ProblemKind = "dropped"
	// ProblemReordered is a record out of its written position.
	ProblemReordered ProblemKind = "reordered"
	// ProblemInserted is a record that was not written in sequence: a duplicate
	// sequence number, or a record slipped in before renumbered ones.
	ProblemInserted ProblemKind = "inserted"
	// ProblemCheckpointSignature is a checkpoint whose signature does not verify.
	ProblemCheckpointSignature ProblemKind = "checkpoint-signature-bad"
	// ProblemCheckpointUnknownKey is a checkpoint signed by a key that is not trusted.
	ProblemCheckpointUnknownKey ProblemKind = "checkpoint-key-unknown"
	// ProblemCheckpointMismatch is a checkpoint whose signed head differs from the
	// chain: the records it covers were rewritten (and re-hashed).
	ProblemCheckpointMismatch ProblemKind = "checkpoint-mismatch"
	// ProblemMalformed is a record that cannot be interpreted (bad checkpoint data).
	ProblemMalformed ProblemKind = "malformed"
)

// Problem is the first bad record of a stream.
type Problem struct {
	// Stream is the stream the record belongs to.
	Stream string
	// Seq is the sequence number the bad record carries.
	Seq int64
	// Index is the record's 0-based position in the stream as read.
	Index int
	// Kind says what is wrong.
	Kind ProblemKind
	// Detail explains it in words.
	Detail string
}

// String renders the problem in one line.
func (p *Problem) String() string {
	return fmt.Sprintf("%s: record seq %d (position %d): %s: %s", p.Stream, p.Seq, p.Index+1, p.Kind, p.Detail)
}

// CheckpointInfo describes a checkpoint found in a stream.
type CheckpointInfo struct {
	// Seq is the checkpoint record's own sequence number.
	Seq int64
	// HeadSeq is the sequence number of the record it signs.
	HeadSeq int64
	// HeadHash is the hash of the record it signs.
	HeadHash string
	// KeyID identifies the signing key.
	KeyID string
	// Verified is true when the signature was checked against a trusted key.
	Verified bool
}

// StreamReport is Verify's result for one stream.
type StreamReport struct {
	// Stream is the stream's name.
	Stream string
	// Records is the number of records read.
	Records int
	// HeadSeq and HeadHash are the last intact record's (0 and "" when none).
	HeadSeq  int64
	HeadHash string
	// Checkpoints is the number of intact checkpoints.
	Checkpoints int
	// LastCheckpoint is the last intact checkpoint, nil when none.
	LastCheckpoint *CheckpointInfo
	// Unsigned is the number of records after the last verified checkpoint's head:
	// records no signature covers yet (a truncated tail cannot be detected there).
	Unsigned int64
	// Problem is the first bad record, nil when the stream is intact.
	Problem *Problem
}

// Report is Verify's result.
type Report struct {
	// Streams are the per-stream results, sorted by stream name.
	Streams []StreamReport
	// First is the first problem of the first damaged stream, nil when all are intact.
	First *Problem
	// Records is the total number of records read.
	Records int
	// Checkpoints is the total number of intact checkpoints.
	Checkpoints int
	// UncheckedSignatures is the number of checkpoints whose signature was not
	// checked because no keys were given.
	UncheckedSignatures int
}

// OK is true when no stream has a problem.
func (r *Report) OK() bool { return r.First == nil }

// Verify checks records (of one or several streams, each in the order read) and
// reports, per stream, the first bad record: edited, dropped, reordered or inserted
// records, and checkpoints whose signed head does not match the chain, whose key
// is not in keys or whose signature is bad. With no keys (nil or empty) checkpoint
// signatures are not checked and are counted in UncheckedSignatures. Verify is pure.
//
// Dropping records at the end of a stream (after the last checkpoint) cannot be
// seen in the records themselves; compare HeadSeq with a checkpoint kept elsewhere.
func Verify(records []Record, keys map[string]ed25519.PublicKey) *Report {
	byStream := map[string][]Record{}
	var names []string
	for _, r := range records {
		if _, ok := byStream[r.Stream]; !ok {
			names = append(names, r.Stream)
		}
		byStream[r.Stream] = append(byStream[r.Stream], r)
	}
	sort.Strings(names)
	rep := &Report{}
	for _, name := range names {
		sr, unchecked := verifyStream(name, byStream[name], keys)
		rep.Streams = append(rep.Streams, sr)
		rep.Records += sr.Records
		rep.Checkpoints += sr.Checkpoints
		rep.UncheckedSignatures += unchecked
		if rep.First == nil && sr.Problem != nil {
			rep.First = sr.Problem
		}
	}
	return rep
}

// verifyStream walks one stream's records in order.
func verifyStream(name string, recs []Record, keys map[string]ed25519.PublicKey) (StreamReport, int) {
	sr := StreamReport{Stream: name, Records: len(recs)}
	unchecked := 0
	hashes := make(map[int64]string, len(recs)) // seq → hash of the intact prefix
	positions := make(map[int64]int, len(recs)) // seq → position in the intact prefix
	prevHash := ZeroHash
	var expected int64 = 1
	var signedHead int64
	fail := func(i int, kind ProblemKind, format string, args ...any) {
		sr.Problem = &Problem{Stream: name, Seq: recs[i].Seq, Index: i, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	}
	for i := range recs {
		r := &recs[i]
		h, err := r.ComputeHash()
		if err != nil {
			fail(i, ProblemMalformed, "%v", err)
			break
		}
		if h != r.Hash {
			kind, detail := classifyHashMismatch(recs, i)
			fail(i, kind, "%s", detail)
			break
		}
		switch {
		case r.Seq < expected:
			fail(i, ProblemInserted, "sequence number %d appears twice (positions %d and %d; expected %d here): a record was inserted", r.Seq, positions[r.Seq]+1, i+1, expected)
		case r.Seq > expected && laterHasSeq(recs, i, expected):
			fail(i, ProblemReordered, "expected seq %d here but found %d; seq %d comes later: records were reordered", expected, r.Seq, expected)
		case r.Seq > expected:
			fail(i, ProblemDropped, "expected seq %d but found %d: %d record(s) dropped", expected, r.Seq, r.Seq-expected)
		case r.PrevHash != prevHash:
			fail(i, ProblemDropped, "prevHash %s does not match the hash %s of the record before it: that record was dropped or replaced", short(r.PrevHash), short(prevHash))
		}
		if sr.Problem != nil {
			break
		}
		if r.Type == EventCheckpoint {
			cp, kind, detail, verified := checkCheckpoint(r, hashes, keys)
			if kind != "" {
				fail(i, kind, "%s", detail)
				break
			}
			if verified {
				signedHead = cp.HeadSeq
			} else {
				unchecked++
			}
			sr.Checkpoints++
			sr.LastCheckpoint = cp
		}
		hashes[r.Seq] = r.Hash
		positions[r.Seq] = i
		prevHash = r.Hash
		sr.HeadSeq, sr.HeadHash = r.Seq, r.Hash
		expected = r.Seq + 1
	}
	sr.Unsigned = sr.HeadSeq - signedHead
	return sr, unchecked
}

// classifyHashMismatch explains why recs[i]'s hash does not match. When only the
// sequence number was changed (the rest hashes to the stored Hash under another
// seq), the record was moved: renumbered up by one after an insertion, down by one
// after a drop, or swapped with another record. Anything else is an edit.
func classifyHashMismatch(recs []Record, i int) (ProblemKind, string) {
	r := recs[i]
	orig, found := originalSeq(r, int64(len(recs))+1)
	if !found {
		return ProblemEdited, fmt.Sprintf("content does not match its hash %s: the record was edited", short(r.Hash))
	}
	if i+1 < len(recs) {
		next := recs[i+1]
		if o, ok := originalSeq(next, int64(len(recs))+1); ok && o == r.Seq && orig == next.Seq {
			return ProblemReordered, fmt.Sprintf("the record written as seq %d now carries seq %d, swapped with seq %d: records were reordered", orig, r.Seq, next.Seq)
		}
	}
	switch orig {
	case r.Seq - 1:
		return ProblemInserted, fmt.Sprintf("the record written as seq %d was renumbered to %d: a record was inserted before it", orig, r.Seq)
	case r.Seq + 1:
		return ProblemDropped, fmt.Sprintf("the record written as seq %d was renumbered to %d: a record before it was dropped", orig, r.Seq)
	default:
		return ProblemReordered, fmt.Sprintf("the record written as seq %d now carries seq %d: records were reordered", orig, r.Seq)
	}
}

// originalSeq finds the sequence number (1..limit, other than r.Seq) under which r
// hashes to r.Hash.
func originalSeq(r Record, limit int64) (int64, bool) {
	for s := int64(1); s <= limit; s++ {
		if s == r.Seq {
			continue
		}
		c := r
		c.Seq = s
		if h, err := c.ComputeHash(); err == nil && h == r.Hash {
			return s, true
		}
	}
	return 0, false
}

// laterHasSeq reports whether a record after position i carries seq.
func laterHasSeq(recs []Record, i int, seq int64) bool {
	for _, r := range recs[i+1:] {
		if r.Seq == seq {
			return true
		}
	}
	return false
}

// checkCheckpoint checks a checkpoint record against the intact prefix's hashes
// and the trusted keys. It returns a problem kind and detail when it is bad.
func checkCheckpoint(r *Record, hashes map[int64]string, keys map[string]ed25519.PublicKey) (*CheckpointInfo, ProblemKind, string, bool) {
	cd, err := DecodeCheckpoint(r.Data)
	if err != nil {
		return nil, ProblemMalformed, err.Error(), false
	}
	info := &CheckpointInfo{Seq: r.Seq, HeadSeq: cd.HeadSeq, HeadHash: cd.HeadHash, KeyID: cd.KeyID}
	if cd.Stream != r.Stream {
		return nil, ProblemMalformed, fmt.Sprintf("checkpoint signs stream %q but is recorded in %q", cd.Stream, r.Stream), false
	}
	have, ok := hashes[cd.HeadSeq]
	if !ok || cd.HeadSeq >= r.Seq {
		return nil, ProblemCheckpointMismatch, fmt.Sprintf("checkpoint signs head seq %d, which is not a record before it", cd.HeadSeq), false
	}
	if have != cd.HeadHash {
		return nil, ProblemCheckpointMismatch, fmt.Sprintf("checkpoint signs seq %d with hash %s but the chain has %s: records up to seq %d were rewritten", cd.HeadSeq, short(cd.HeadHash), short(have), cd.HeadSeq), false
	}
	if len(keys) == 0 {
		return info, "", "", false
	}
	pub, ok := keys[cd.KeyID]
	if !ok {
		return nil, ProblemCheckpointUnknownKey, fmt.Sprintf("checkpoint is signed by key %q, which is not among the trusted public keys", cd.KeyID), false
	}
	if err := cd.verifySignature(pub); err != nil {
		return nil, ProblemCheckpointSignature, fmt.Sprintf("checkpoint signature by key %q does not verify: %v", cd.KeyID, err), false
	}
	info.Verified = true
	return info, "", "", true
}

// short abbreviates a hash for messages.
func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
