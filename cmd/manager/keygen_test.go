package main

import (
	"path/filepath"
	"testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"

	"github.com/netchange-io/netchange/internal/verdict"
)

func TestKeygen_writeKeyPair(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if code := keygen([]string{"--out-dir", dir}); code != 0 {
		t.Fatalf("keygen exit code %d", code)
	}
	priv, err := verdict.LoadPrivateKey(filepath.Join(dir, "ed25519.key"))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := verdict.LoadPublicKeys(filepath.Join(dir, "ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	sv, err := verdict.Sign(v1.VerdictStatement{Cluster: "c", Namespace: "n", Name: "r", RequestUID: "u", Nonce: "x", Decision: v1.DecisionApprove}, priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ks[sv.Statement.KeyID]; !ok {
		t.Fatalf("public key does not match the private key")
	}
	if code := keygen([]string{"--out-dir", dir}); code == 0 {
		t.Fatal("keygen overwrote an existing key")
	}
}
