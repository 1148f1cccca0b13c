package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bench.txt")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const baseline = `BenchmarkTool/tool=go-echo/mode=naive-2 100 10000000 ns/op 9000 p50-us
BenchmarkTool/tool=go-echo/mode=fresh-2 100 200000 ns/op 150 p50-us
BenchmarkPipelineBreakdown-2 50 300000 ns/op 1.25 pipeline/fresh
`

func TestRun(t *testing.T) {
	base := write(t, baseline)
	tests := []struct {
		name    string
		args    []string
		code    int
		wantOut string
	}{
		{"same numbers pass", []string{base, write(t, baseline)}, 0, "bench-check: ok"},
		{"everything twice as slow passes", []string{base, write(t, `BenchmarkTool/tool=go-echo/mode=naive-2 100 20000000 ns/op 18000 p50-us
BenchmarkTool/tool=go-echo/mode=fresh-2 100 400000 ns/op 300 p50-us
BenchmarkPipelineBreakdown-2 50 600000 ns/op 1.25 pipeline/fresh
`)}, 0, "bench-check: ok"},
		{"fresh-state lost its edge over naive", []string{base, write(t, `BenchmarkTool/tool=go-echo/mode=naive-2 100 10000000 ns/op 9000 p50-us
BenchmarkTool/tool=go-echo/mode=fresh-2 100 500000 ns/op 400 p50-us
BenchmarkPipelineBreakdown-2 50 300000 ns/op 1.25 pipeline/fresh
`)}, 1, "FAILED"},
		{"pipeline overhead grew", []string{base, write(t, strings.Replace(baseline, "1.25 pipeline/fresh", "2.5 pipeline/fresh", 1))}, 1, "FAIL  BenchmarkPipelineBreakdown pipeline/fresh: baseline 1.25, now 2.5"},
		{"a benchmark went missing", []string{base, write(t, "BenchmarkPipelineBreakdown-2 50 300000 ns/op 1.25 pipeline/fresh\n")}, 1, "missing from this run"},
		{"a looser ratio factor lets it pass", []string{"-ratio", "3", base, write(t, strings.Replace(baseline, "1.25 pipeline/fresh", "2.5 pipeline/fresh", 1))}, 0, "bench-check: ok"},
		{"empty baseline is an error", []string{write(t, "PASS\n"), write(t, baseline)}, 1, ""},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope"), base}, 1, ""},
		{"one argument", []string{base}, 2, ""},
		{"factor of 1", []string{"-abs", "1", base, base}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tt.args, &out, &errb); code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantOut, out.String())
			}
		})
	}
}
