package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/netchange-io/netchange/internal/verdict"
)

func init() {
	subcommands["keygen"] = keygen
}

// keygen writes a new auditor signing key pair: DIR/ed25519.key (PKCS#8 PEM,
// mode 0600) and DIR/ed25519.pub (PKIX PEM). It refuses to overwrite a key.
func keygen(args []string) int {
	fset := flag.NewFlagSet("manager keygen", flag.ContinueOnError)
	outDir := fset.String("out-dir", ".", "directory to write ed25519.key and ed25519.pub into")
	fset.Usage = func() {
		fmt.Fprintf(fset.Output(), "usage: manager keygen --out-dir DIR\n\nWrites a new ed25519 verdict signing key (ed25519.key) and its public key (ed25519.pub).\n")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return 2
	}
	if err := writeKeyPair(*outDir); err != nil {
		fmt.Fprintf(os.Stderr, "manager keygen: %v\n", err)
		return 1
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(*outDir, "ed25519.key"), filepath.Join(*outDir, "ed25519.pub"))
	return 0
}

func writeKeyPair(dir string) error {
	keyPath, pubPath := filepath.Join(dir, "ed25519.key"), filepath.Join(dir, "ed25519.pub")
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists: move it away or choose another --out-dir", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("check %s: %w", p, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	privPEM, pubPEM, err := verdict.GenerateKey()
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, privPEM, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", keyPath, err)
	}
	if err := os.WriteFile(pubPath, pubPEM, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", pubPath, err)
	}
	return nil
}
