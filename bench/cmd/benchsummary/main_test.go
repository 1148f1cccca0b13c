package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	in := "BenchmarkTool/tool=go-echo/mode=naive-2 100 10000000 ns/op\nBenchmarkTool/tool=go-echo/mode=fresh-2 100 200000 ns/op\n"
	var out, errb bytes.Buffer
	if code := run(nil, strings.NewReader(in), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "| go-echo | — | 10 ms | 200 µs | — | 50× | — |") {
		t.Errorf("summary:\n%s", out.String())
	}

	p := filepath.Join(t.TempDir(), "b.txt")
	if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{p}, strings.NewReader(""), &out, &errb); code != 0 || !strings.Contains(out.String(), "50×") {
		t.Errorf("from a file: exit %d\n%s", code, out.String())
	}
	if code := run(nil, strings.NewReader("PASS\n"), &out, &errb); code != 1 {
		t.Errorf("no results: exit %d, want 1", code)
	}
	if code := run([]string{filepath.Join(t.TempDir(), "nope")}, nil, &out, &errb); code != 1 {
		t.Errorf("missing file: exit %d, want 1", code)
	}
}
