package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadScript(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(`[{"kind":"reply","content":{"actions":[]}},{"kind":"status","code":500}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	steps, err := readScript(good)
	if err != nil || len(steps) != 2 || steps[0].Content != `{"actions":[]}` {
		t.Fatalf("steps = %+v, %v", steps, err)
	}
	for name, body := range map[string]string{"empty.json": `[]`, "bad.json": `{"kind":"reply"}`, "kind.json": `[{"kind":"boom"}]`} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := readScript(p); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := readScript(""); err == nil {
		t.Error("missing --script accepted")
	}
}
