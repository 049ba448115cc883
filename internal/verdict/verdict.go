// Package verdict signs and checks the auditor's verdicts (DESIGN §6.4, §7).
//
// The auditor signs a v1alpha1.VerdictStatement with an ed25519 key; the executor
// checks the signature against its trusted public keys and checks that the
// statement is bound to the request, generation and plan it is about to execute.
package verdict

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// DomainPrefix starts the canonical encoding of every statement, so a verdict
// signature can never be confused with a signature over any other netchange data.
const DomainPrefix = "netchange.io/verdict/v1\n"

// KeyID returns the identifier of a public key: "ed25519:" followed by the first
// 16 hex characters of the SHA-256 of the raw 32-byte key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:])[:16]
}

// canonicalStatement fixes the field order and the time format of the signed bytes.
type canonicalStatement struct {
	Cluster       string `json:"cluster"`
	Namespace     string `json:"namespace"`
	Name          string `json:"name"`
	RequestUID    string `json:"requestUID"`
	Generation    int64  `json:"generation"`
	PlanDigest    string `json:"planDigest"`
	Decision      string `json:"decision"`
	PolicyVersion string `json:"policyVersion"`
	ExpiresAt     string `json:"expiresAt"`
	Nonce         string `json:"nonce"`
	KeyID         string `json:"keyID"`
}

// Canonical returns the bytes that are signed for st: DomainPrefix followed by a
// compact JSON object with exactly the keys cluster, namespace, name, requestUID,
// generation, planDigest, decision, policyVersion, expiresAt, nonce and keyID, in
// that order. expiresAt is RFC 3339 in UTC with whole seconds (the precision a
// Kubernetes metav1.Time keeps), so a statement read back from the API server
// encodes to the same bytes. Strings are JSON-escaped by encoding/json.
func Canonical(st *v1.VerdictStatement) ([]byte, error) {
	if st == nil {
		return nil, fmt.Errorf("canonical verdict: statement is nil")
	}
	c := canonicalStatement{
		Cluster:       st.Cluster,
		Namespace:     st.Namespace,
		Name:          st.Name,
		RequestUID:    st.RequestUID,
		Generation:    st.Generation,
		PlanDigest:    st.PlanDigest,
		Decision:      string(st.Decision),
		PolicyVersion: st.PolicyVersion,
		ExpiresAt:     st.ExpiresAt.UTC().Format(time.RFC3339),
		Nonce:         st.Nonce,
		KeyID:         st.KeyID,
	}
	var buf bytes.Buffer
	buf.WriteString(DomainPrefix)
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("canonical verdict: encode: %w", err)
	}
	// json.Encoder ends with a newline; drop it so the encoding is exactly the object.
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Sign sets st.KeyID from priv, truncates st.ExpiresAt to whole seconds and
// returns the statement with its base64 (standard encoding) ed25519 signature
// over Canonical(st).
func Sign(st v1.VerdictStatement, priv ed25519.PrivateKey) (*v1.SignedVerdict, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign verdict: private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	pub, ok := priv.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("sign verdict: private key has no ed25519 public key")
	}
	st.KeyID = KeyID(pub)
	st.ExpiresAt = metav1.NewTime(st.ExpiresAt.UTC().Truncate(time.Second))
	msg, err := Canonical(&st)
	if err != nil {
		return nil, fmt.Errorf("sign verdict for %s/%s: %w", st.Namespace, st.Name, err)
	}
	sig := ed25519.Sign(priv, msg)
	return &v1.SignedVerdict{Statement: st, Signature: base64.StdEncoding.EncodeToString(sig)}, nil
}

// NewNonce returns 128 random bits as 32 hex characters.
func NewNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("verdict nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// KeySet maps key IDs (see KeyID) to trusted public keys.
type KeySet map[string]ed25519.PublicKey

// Add adds pub to the set under KeyID(pub).
func (ks KeySet) Add(pub ed25519.PublicKey) { ks[KeyID(pub)] = pub }

// LoadPublicKeys reads PEM "PUBLIC KEY" (PKIX) ed25519 keys from each path. A
// path that is a directory contributes every *.pub and *.pem file in it (not
// recursively). A file may hold several PEM blocks. It fails when a file holds a
// block that is not an ed25519 public key, or when no key at all is found.
func LoadPublicKeys(paths ...string) (KeySet, error) {
	ks := KeySet{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("load verdict public keys: %w", err)
		}
		files := []string{p}
		if fi.IsDir() {
			files = nil
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, fmt.Errorf("load verdict public keys from %s: %w", p, err)
			}
			for _, e := range entries {
				n := e.Name()
				if e.IsDir() || !(strings.HasSuffix(n, ".pub") || strings.HasSuffix(n, ".pem")) {
					continue
				}
				files = append(files, filepath.Join(p, n))
			}
			sort.Strings(files)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("load verdict public key: %w", err)
			}
			keys, err := ParsePublicKeys(data)
			if err != nil {
				return nil, fmt.Errorf("load verdict public key %s: %w", f, err)
			}
			for _, k := range keys {
				ks.Add(k)
			}
		}
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("load verdict public keys: no ed25519 PUBLIC KEY found in %s; pass the auditor's ed25519.pub", strings.Join(paths, ", "))
	}
	return ks, nil
}

// ParsePublicKeys parses every PEM "PUBLIC KEY" block of data as an ed25519 key.
func ParsePublicKeys(data []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("PEM block %q is not a PUBLIC KEY", block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKIX public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key is %T, want ed25519", k)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no PEM PUBLIC KEY block")
	}
	return keys, nil
}

// LoadPrivateKey reads a PEM "PRIVATE KEY" (PKCS#8) ed25519 key from path.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load verdict signing key: %w", err)
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("load verdict signing key %s: %w", path, err)
	}
	return k, nil
}

// ParsePrivateKey parses a PEM "PRIVATE KEY" (PKCS#8) ed25519 key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM block: want a PRIVATE KEY (PKCS#8), e.g. from `manager keygen`")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("PEM block %q is not a PRIVATE KEY (PKCS#8)", block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#8 private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want ed25519", k)
	}
	return priv, nil
}

// GenerateKey returns a new ed25519 key pair as PEM: the private key as
// "PRIVATE KEY" (PKCS#8) and the public key as "PUBLIC KEY" (PKIX).
func GenerateKey() (privPEM, pubPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("encode private key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}

// Binding is what a verdict must be bound to for the executor to act on it.
type Binding struct {
	// Cluster is the control cluster's name as the auditor knows it.
	Cluster string
	// Namespace is the request's namespace.
	Namespace string
	// Name is the request's name.
	Name string
	// RequestUID is the request's uid.
	RequestUID string
	// Generation is the request's current generation.
	Generation int64
	// PlanDigest is the digest of the plan about to be executed.
	PlanDigest string
}

// Reasons a verdict check fails (Error.Reason).
const (
	// Malformed means the verdict is missing, incomplete or not decodable.
	Malformed = "Malformed"
	// UnknownKey means the verdict names a key that is not trusted.
	UnknownKey = "UnknownKey"
	// SignatureInvalid means the signature does not verify.
	SignatureInvalid = "SignatureInvalid"
	// RequestMismatch means the verdict is for another cluster, namespace, name or uid.
	RequestMismatch = "RequestMismatch"
	// GenerationMismatch means the verdict is for another generation of the request.
	GenerationMismatch = "GenerationMismatch"
	// DigestMismatch means the verdict is for another plan.
	DigestMismatch = "DigestMismatch"
	// Expired means the verdict's expiry has passed.
	Expired = "Expired"
	// NotApproved means the verdict is valid but its decision is not Approve.
	NotApproved = "NotApproved"
)

// Error is why a verdict does not authorise execution.
type Error struct {
	// Reason is one of the reason constants of this package.
	Reason string
	// Message says what is wrong and what to do.
	Message string
}

// Error implements error.
func (e *Error) Error() string { return e.Reason + ": " + e.Message }

func fail(reason, format string, args ...any) error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Check returns nil when sv is a verdict, signed by a key in keys, that approves
// exactly the request and plan in want and has not expired at now. Otherwise it
// returns an *Error; checks run in this order: malformed, unknown key, signature,
// binding (request, then generation, then digest), decision, expiry.
func Check(sv *v1.SignedVerdict, keys KeySet, want Binding, now time.Time) error {
	if sv == nil {
		return fail(Malformed, "no verdict on the request; wait for the auditor")
	}
	st := &sv.Statement
	if st.KeyID == "" || st.Nonce == "" || st.PlanDigest == "" || st.RequestUID == "" || st.Decision == "" || st.ExpiresAt.IsZero() {
		return fail(Malformed, "verdict statement is incomplete (keyID, nonce, planDigest, requestUID, decision and expiresAt are required)")
	}
	sig, err := base64.StdEncoding.DecodeString(sv.Signature)
	if err != nil {
		return fail(Malformed, "verdict signature is not base64: %v", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return fail(Malformed, "verdict signature has %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	pub, ok := keys[st.KeyID]
	if !ok {
		return fail(UnknownKey, "verdict is signed by key %q, which is not trusted; add the auditor's public key to the executor's keys", st.KeyID)
	}
	msg, err := Canonical(st)
	if err != nil {
		return fail(Malformed, "%v", err)
	}
	if !ed25519.Verify(pub, msg, sig) {
		return fail(SignatureInvalid, "verdict signature does not verify with key %s; the verdict was altered or forged", st.KeyID)
	}
	if st.Cluster != want.Cluster || st.Namespace != want.Namespace || st.Name != want.Name || st.RequestUID != want.RequestUID {
		return fail(RequestMismatch, "verdict is for request %s/%s/%s (uid %s), not %s/%s/%s (uid %s)",
			st.Cluster, st.Namespace, st.Name, st.RequestUID, want.Cluster, want.Namespace, want.Name, want.RequestUID)
	}
	if st.Generation != want.Generation {
		return fail(GenerationMismatch, "verdict is for generation %d, the request is at generation %d; wait for a new verdict", st.Generation, want.Generation)
	}
	if st.PlanDigest != want.PlanDigest {
		return fail(DigestMismatch, "verdict approves plan %s, the current plan is %s; wait for a verdict on the current plan", st.PlanDigest, want.PlanDigest)
	}
	if st.Decision != v1.DecisionApprove {
		return fail(NotApproved, "verdict decision is %s, not Approve", st.Decision)
	}
	if !now.Before(st.ExpiresAt.Time) {
		return fail(Expired, "verdict expired at %s; the auditor issues a new one", st.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}
