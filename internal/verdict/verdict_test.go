package verdict

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testKey(t *testing.T) (ed25519.PrivateKey, KeySet) {
	t.Helper()
	privPEM, pubPEM, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ed25519.key"), privPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ed25519.pub"), pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	priv, err := LoadPrivateKey(filepath.Join(dir, "ed25519.key"))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := LoadPublicKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	return priv, ks
}

func statement() v1.VerdictStatement {
	return v1.VerdictStatement{
		Cluster: "control", Namespace: "netops", Name: "block-scanner", RequestUID: "uid-1",
		Generation: 1, PlanDigest: digest, Decision: v1.DecisionApprove,
		PolicyVersion: "default@1/abcdef012345", ExpiresAt: metav1.NewTime(t0.Add(15 * time.Minute)),
		Nonce: "00112233445566778899aabbccddeeff",
	}
}

func binding() Binding {
	return Binding{Cluster: "control", Namespace: "netops", Name: "block-scanner", RequestUID: "uid-1", Generation: 1, PlanDigest: digest}
}

func TestVerdict_Check(t *testing.T) {
	priv, keys := testKey(t)
	otherPriv, _ := testKey(t)
	sign := func(mut func(*v1.VerdictStatement)) *v1.SignedVerdict {
		st := statement()
		if mut != nil {
			mut(&st)
		}
		sv, err := Sign(st, priv)
		if err != nil {
			t.Fatal(err)
		}
		return sv
	}
	tests := []struct {
		name   string
		sv     func() *v1.SignedVerdict
		want   func(*Binding)
		now    time.Time
		reason string
	}{
		{name: "valid", sv: func() *v1.SignedVerdict { return sign(nil) }, now: t0},
		{name: "nil verdict", sv: func() *v1.SignedVerdict { return nil }, now: t0, reason: Malformed},
		{name: "malformed base64", sv: func() *v1.SignedVerdict { s := sign(nil); s.Signature = "!!not base64!!"; return s }, now: t0, reason: Malformed},
		{name: "short signature", sv: func() *v1.SignedVerdict {
			s := sign(nil)
			s.Signature = base64.StdEncoding.EncodeToString([]byte("short"))
			return s
		}, now: t0, reason: Malformed},
		{name: "missing nonce", sv: func() *v1.SignedVerdict { s := sign(nil); s.Statement.Nonce = ""; return s }, now: t0, reason: Malformed},
		{name: "unknown key", sv: func() *v1.SignedVerdict {
			s, err := Sign(statement(), otherPriv)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, now: t0, reason: UnknownKey},
		{name: "forged signature", sv: func() *v1.SignedVerdict {
			s := sign(nil)
			forged, err := Sign(statement(), otherPriv)
			if err != nil {
				t.Fatal(err)
			}
			s.Signature = forged.Signature
			return s
		}, now: t0, reason: SignatureInvalid},
		{name: "statement altered after signing (decision)", sv: func() *v1.SignedVerdict {
			s := sign(func(st *v1.VerdictStatement) { st.Decision = v1.DecisionVeto })
			s.Statement.Decision = v1.DecisionApprove
			return s
		}, now: t0, reason: SignatureInvalid},
		{name: "one byte of the digest changed", sv: func() *v1.SignedVerdict {
			return sign(func(st *v1.VerdictStatement) { st.PlanDigest = digest[:len(digest)-1] + "0" })
		}, now: t0, reason: DigestMismatch},
		{name: "digest altered after signing", sv: func() *v1.SignedVerdict {
			s := sign(nil)
			s.Statement.PlanDigest = digest[:len(digest)-1] + "0"
			return s
		}, now: t0, reason: SignatureInvalid},
		{name: "other request uid", sv: func() *v1.SignedVerdict { return sign(nil) }, want: func(b *Binding) { b.RequestUID = "uid-2" }, now: t0, reason: RequestMismatch},
		{name: "other namespace", sv: func() *v1.SignedVerdict { return sign(nil) }, want: func(b *Binding) { b.Namespace = "other" }, now: t0, reason: RequestMismatch},
		{name: "other name", sv: func() *v1.SignedVerdict { return sign(nil) }, want: func(b *Binding) { b.Name = "other" }, now: t0, reason: RequestMismatch},
		{name: "other cluster", sv: func() *v1.SignedVerdict { return sign(nil) }, want: func(b *Binding) { b.Cluster = "control-2" }, now: t0, reason: RequestMismatch},
		{name: "older generation", sv: func() *v1.SignedVerdict { return sign(nil) }, want: func(b *Binding) { b.Generation = 2 }, now: t0, reason: GenerationMismatch},
		{name: "veto decision", sv: func() *v1.SignedVerdict {
			return sign(func(st *v1.VerdictStatement) { st.Decision = v1.DecisionVeto })
		}, now: t0, reason: NotApproved},
		{name: "expired", sv: func() *v1.SignedVerdict { return sign(nil) }, now: t0.Add(15 * time.Minute), reason: Expired},
		{name: "one second before expiry", sv: func() *v1.SignedVerdict { return sign(nil) }, now: t0.Add(15*time.Minute - time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := binding()
			if tt.want != nil {
				tt.want(&want)
			}
			err := Check(tt.sv(), keys, want, tt.now)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("Check = %v, want *Error with reason %s", err, tt.reason)
			}
			if ve.Reason != tt.reason {
				t.Fatalf("Check reason = %s (%s), want %s", ve.Reason, ve.Message, tt.reason)
			}
		})
	}
}

func TestVerdict_Canonical(t *testing.T) {
	st := statement()
	st.KeyID = "ed25519:0011223344556677"
	got, err := Canonical(&st)
	if err != nil {
		t.Fatal(err)
	}
	want := DomainPrefix + `{"cluster":"control","namespace":"netops","name":"block-scanner","requestUID":"uid-1","generation":1,` +
		`"planDigest":"` + digest + `","decision":"Approve","policyVersion":"default@1/abcdef012345",` +
		`"expiresAt":"2026-11-03T10:15:00Z","nonce":"00112233445566778899aabbccddeeff","keyID":"ed25519:0011223344556677"}`
	if string(got) != want {
		t.Fatalf("Canonical =\n%s\nwant\n%s", got, want)
	}
	// Sub-second precision and time zones do not change the bytes (a metav1.Time read back
	// from the API server has whole seconds in UTC).
	st2 := st
	st2.ExpiresAt = metav1.NewTime(t0.Add(15*time.Minute + 300*time.Millisecond).In(time.FixedZone("X", 3600)))
	got2, _ := Canonical(&st2)
	if string(got2) != want {
		t.Fatalf("Canonical with sub-second local time =\n%s\nwant\n%s", got2, want)
	}
	if _, err := Canonical(nil); err == nil {
		t.Fatal("Canonical(nil) succeeded")
	}
}

func TestVerdict_Sign(t *testing.T) {
	priv, keys := testKey(t)
	st := statement()
	st.ExpiresAt = metav1.NewTime(t0.Add(time.Minute + 700*time.Millisecond))
	sv, err := Sign(st, priv)
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	if sv.Statement.KeyID != KeyID(pub) || !strings.HasPrefix(sv.Statement.KeyID, "ed25519:") || len(sv.Statement.KeyID) != len("ed25519:")+16 {
		t.Fatalf("KeyID = %q, want ed25519:<16 hex> of the key", sv.Statement.KeyID)
	}
	if sv.Statement.ExpiresAt.Nanosecond() != 0 {
		t.Fatalf("ExpiresAt not truncated to seconds: %v", sv.Statement.ExpiresAt)
	}
	if _, ok := keys[sv.Statement.KeyID]; !ok {
		t.Fatalf("signing key %s not in loaded key set", sv.Statement.KeyID)
	}
	if _, err := Sign(st, ed25519.PrivateKey([]byte("short"))); err == nil {
		t.Fatal("Sign with a short key succeeded")
	}
}

func TestVerdict_LoadKeys(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadPublicKeys(dir); err == nil {
		t.Fatal("LoadPublicKeys of an empty directory succeeded")
	}
	privPEM, pubPEM, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, pub2, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("a.pub", pubPEM)
	write("b.pem", pub2)
	write("ignored.txt", []byte("not a key"))
	ks, err := LoadPublicKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 {
		t.Fatalf("loaded %d keys, want 2", len(ks))
	}
	keyPath := filepath.Join(t.TempDir(), "k.key")
	if err := os.WriteFile(keyPath, privPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPublicKeys(keyPath); err == nil {
		t.Fatal("LoadPublicKeys accepted a private key file")
	}
	if _, err := LoadPrivateKey(write("c.pub2", pubPEM)); err == nil {
		t.Fatal("LoadPrivateKey accepted a public key")
	}
	if _, err := LoadPrivateKey(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("LoadPrivateKey of a missing file succeeded")
	}
}

func TestVerdict_NewNonce(t *testing.T) {
	a, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewNonce()
	if len(a) != 32 || a == b {
		t.Fatalf("nonces %q, %q: want 32 hex chars, distinct", a, b)
	}
}
