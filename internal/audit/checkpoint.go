package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/netchange-io/netchange/internal/metrics"
	"github.com/netchange-io/netchange/internal/verdict"
)

// CheckpointDomain starts the bytes a checkpoint signature covers, so it can never
// be confused with a signature over other netchange data (e.g. a verdict).
const CheckpointDomain = "netchange.io/audit-checkpoint/v1\n"

// CheckpointData is the Data of an EventCheckpoint record: a signature over a
// stream's head at the time of the checkpoint.
type CheckpointData struct {
	// Stream is the stream signed.
	Stream string `json:"stream"`
	// HeadSeq is the sequence number of the head record signed.
	HeadSeq int64 `json:"headSeq"`
	// HeadHash is that record's Hash.
	HeadHash string `json:"headHash"`
	// KeyID identifies the signing key (verdict.KeyID of its public key).
	KeyID string `json:"keyID"`
	// Signature is the base64 ed25519 signature over SignedBytes.
	Signature string `json:"signature"`
}

// checkpointStatement is exactly what is signed, in this field order.
type checkpointStatement struct {
	Stream   string `json:"stream"`
	HeadSeq  int64  `json:"headSeq"`
	HeadHash string `json:"headHash"`
	KeyID    string `json:"keyID"`
}

// SignedBytes returns the bytes the signature covers: CheckpointDomain followed by
// the compact JSON of stream, headSeq, headHash and keyID, in that order.
func (c *CheckpointData) SignedBytes() []byte {
	b, _ := json.Marshal(checkpointStatement{Stream: c.Stream, HeadSeq: c.HeadSeq, HeadHash: c.HeadHash, KeyID: c.KeyID})
	return append([]byte(CheckpointDomain), b...)
}

// verifySignature checks the signature with pub.
func (c *CheckpointData) verifySignature(pub ed25519.PublicKey) error {
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", err)
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, c.SignedBytes(), sig) {
		return errors.New("ed25519 verification failed")
	}
	return nil
}

// DecodeCheckpoint strictly decodes a checkpoint record's Data.
func DecodeCheckpoint(data json.RawMessage) (*CheckpointData, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cd CheckpointData
	if err := dec.Decode(&cd); err != nil {
		return nil, fmt.Errorf("checkpoint data does not decode: %w", err)
	}
	if cd.HeadSeq < 1 || cd.HeadHash == "" || cd.KeyID == "" || cd.Signature == "" {
		return nil, errors.New("checkpoint data lacks headSeq, headHash, keyID or signature")
	}
	return &cd, nil
}

// SignCheckpoint returns checkpoint data for a stream's head signed with priv.
// An empty keyID becomes verdict.KeyID(priv's public key), the ID under which
// verdict.LoadPublicKeys indexes that key for verifiers.
func SignCheckpoint(stream string, head Record, priv ed25519.PrivateKey, keyID string) (*CheckpointData, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign checkpoint of %s: not an ed25519 private key", stream)
	}
	if keyID == "" {
		keyID = verdict.KeyID(priv.Public().(ed25519.PublicKey))
	}
	cd := &CheckpointData{Stream: stream, HeadSeq: head.Seq, HeadHash: head.Hash, KeyID: keyID}
	cd.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, cd.SignedBytes()))
	return cd, nil
}

// ErrNothingToCheckpoint is returned by Checkpoint for an empty stream.
var ErrNothingToCheckpoint = errors.New("stream is empty: nothing to checkpoint")

// Checkpoint reads stream from sink, verifies its chain (it never signs a damaged
// chain: that would vouch for the damage) and appends an EventCheckpoint record
// signing the head with priv under keyID (see SignCheckpoint), acted by actor
// "auditor", stamped by the sink's clock.
func Checkpoint(ctx context.Context, sink Sink, stream string, priv ed25519.PrivateKey, keyID string) error {
	return checkpointAt(ctx, sink, stream, priv, keyID, time.Time{})
}

func checkpointAt(ctx context.Context, sink Sink, stream string, priv ed25519.PrivateKey, keyID string, now time.Time) error {
	recs, err := sink.Read(ctx, stream)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", stream, err)
	}
	return signHead(ctx, sink, stream, recs, priv, keyID, now)
}

// signHead verifies recs (the whole stream as just read) and appends a checkpoint
// of its last record.
func signHead(ctx context.Context, sink Sink, stream string, recs []Record, priv ed25519.PrivateKey, keyID string, now time.Time) error {
	if len(recs) == 0 {
		return fmt.Errorf("checkpoint %s: %w", stream, ErrNothingToCheckpoint)
	}
	if rep := Verify(recs, nil); !rep.OK() {
		return fmt.Errorf("checkpoint %s: refusing to sign a damaged chain (%s); run `manager audit verify` and investigate", stream, rep.First)
	}
	cd, err := SignCheckpoint(stream, recs[len(recs)-1], priv, keyID)
	if err != nil {
		return err
	}
	data, err := json.Marshal(cd)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", stream, err)
	}
	ev := Event{Stream: stream, Type: EventCheckpoint, Actor: "auditor", Data: data, Time: now}
	if err := sink.Append(ctx, ev); err != nil {
		return fmt.Errorf("checkpoint %s: %w", stream, err)
	}
	return nil
}

// Checkpointer periodically signs the head of every stream of a sink whose last
// record is not already a checkpoint. It is a controller-runtime Runnable that
// runs only on the elected leader.
type Checkpointer struct {
	sink     Sink
	key      ed25519.PrivateKey
	keyID    string
	interval time.Duration
	clock    clock.WithTicker
}

// NewCheckpointer returns a Checkpointer signing with key under keyID ("" means
// verdict.KeyID of its public key) every interval, timed by clk (nil: real clock).
func NewCheckpointer(sink Sink, key ed25519.PrivateKey, keyID string, interval time.Duration, clk clock.WithTicker) *Checkpointer {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if keyID == "" && len(key) == ed25519.PrivateKeySize {
		keyID = verdict.KeyID(key.Public().(ed25519.PublicKey))
	}
	return &Checkpointer{sink: sink, key: key, keyID: keyID, interval: interval, clock: clk}
}

// NeedLeaderElection makes only the leader sign checkpoints.
func (c *Checkpointer) NeedLeaderElection() bool { return true }

// Start signs checkpoints every interval until ctx ends. Failures are logged and
// counted (netchange_audit_checkpoints_total{result="error"}); they do not stop it.
func (c *Checkpointer) Start(ctx context.Context) error {
	if c.interval <= 0 {
		return fmt.Errorf("audit checkpointer: interval must be positive, got %s", c.interval)
	}
	log := ctrl.LoggerFrom(ctx).WithName("audit-checkpointer")
	t := c.clock.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			if err := c.RunOnce(ctx); err != nil {
				log.Error(err, "sign audit checkpoints")
			}
		}
	}
}

// RunOnce signs a checkpoint for every stream whose last record is not a
// checkpoint. It tries every stream and returns the errors joined.
func (c *Checkpointer) RunOnce(ctx context.Context) error {
	streams, err := c.sink.Streams(ctx)
	if err != nil {
		metrics.AuditCheckpoints.WithLabelValues("error").Inc()
		return fmt.Errorf("list audit streams: %w", err)
	}
	var errs []error
	for _, s := range streams {
		recs, err := c.sink.Read(ctx, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", s, err))
			metrics.AuditCheckpoints.WithLabelValues("error").Inc()
			continue
		}
		if len(recs) == 0 || recs[len(recs)-1].Type == EventCheckpoint {
			continue
		}
		if err := signHead(ctx, c.sink, s, recs, c.key, c.keyID, c.clock.Now()); err != nil {
			errs = append(errs, err)
			metrics.AuditCheckpoints.WithLabelValues("error").Inc()
			continue
		}
		metrics.AuditCheckpoints.WithLabelValues("ok").Inc()
	}
	return errors.Join(errs...)
}
