package runtime

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// A module compiled once is known to the next engine on the same cache dir:
// it loads without inspection and its first call works; a damaged entry is
// ignored; a module that does not compile is never remembered.
func TestInfoCacheAcrossRestarts(t *testing.T) {
	fixture(t) // builds the test plugins
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *Engine {
		e, err := New(ctx, Config{CacheDir: dir, MaxTimeout: hostMaxTimeout})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close(ctx) })
		return e
	}
	wasm := shared.wasm["echo"]

	first := open()
	m1, err := first.Load(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	entry := first.infoPath(m1.SHA256())
	if _, err := os.Stat(entry); err != nil {
		t.Fatalf("no info cache entry after a successful load: %v", err)
	}
	if fi, err := os.Stat(filepath.Dir(entry)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("info cache dir mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}

	second := open()
	if _, ok := second.cachedInfo(m1.SHA256()); !ok {
		t.Fatal("the next engine does not find the entry")
	}
	m2, err := second.Load(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	if len(m2.compiled) != 0 {
		t.Fatal("a known module was compiled up front")
	}
	out, err := second.Invoke(ctx, m2, Call{Export: "echo", Input: []byte(`{"message":"after restart"}`), Limits: Limits{Timeout: callTimeout}})
	if err != nil {
		t.Fatalf("first call after a restart: %v", err)
	}
	var got struct{ Message string }
	if err := json.Unmarshal(out, &got); err != nil || got.Message != "after restart" {
		t.Fatalf("output %s, %v", out, err)
	}
	if _, err := second.Invoke(ctx, m2, Call{Export: "no_such_export"}); err == nil {
		t.Fatal("an export the module lacks was callable after a restart")
	}

	if err := os.WriteFile(entry, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	third := open()
	if _, ok := third.cachedInfo(m1.SHA256()); ok {
		t.Fatal("a damaged entry was believed")
	}
	if _, err := third.Load(ctx, wasm); err != nil {
		t.Fatalf("load past a damaged entry: %v", err)
	}

	if _, err := third.Load(ctx, []byte("\x00asm\x01\x00\x00\x00garbage")); err == nil {
		t.Fatal("garbage loaded")
	}
	entries, err := os.ReadDir(filepath.Dir(entry))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d info cache entries, want only the echo module's", len(entries))
	}
}
