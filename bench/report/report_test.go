package report

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/airlock-dev/airlock/bench
cpu: Oxide Virtual Turin-like Processor
BenchmarkTool/tool=go-echo/mode=reused-2    2295    439865 ns/op    146.8 p50-us    270628 B/op    125 allocs/op
BenchmarkTool/tool=go-echo/mode=naive-2      100  10000000 ns/op   6711 p50-us
BenchmarkTool/tool=go-echo/mode=fresh-2      100    200000 ns/op     90 p50-us
--- BENCH: BenchmarkAuditVerify1M-2
    audit_test.go:253: building the 1M-entry audit fixture
BenchmarkPipelineBreakdown-2   50   300000 ns/op   0.25 pipeline-ms   0.2 fresh-ms   1.25 pipeline/fresh
BenchmarkPipelineParallel-2   500   300000 ns/op   60 fresh-us/op   120 pipeline-us/op   2 pipeline/fresh
BenchmarkHTTPIntents/mode=presigned/agents=8-2   1000   400000 ns/op   700 cpu-us/req   2500 req/s   0 failed   3 p50-ms   9.5 p99-ms   20 p999-ms
BenchmarkRestart10Plugins-2   3   900000000 ns/op   800 open-ms
BenchmarkAuditAppends/db=sqlite/appenders=8-2   3104   1169904 ns/op   854.8 appends/s
PASS
ok  	github.com/airlock-dev/airlock/bench	18.002s
`

func mustParse(t *testing.T, text string) *Set {
	t.Helper()
	s, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		ok    bool
		bench string
		iters int64
		vals  map[string]float64
	}{
		{"standard line", "BenchmarkX-2   100   123.5 ns/op   16 B/op   1 allocs/op", true, "BenchmarkX", 100,
			map[string]float64{"ns/op": 123.5, "B/op": 16, "allocs/op": 1}},
		{"sub-benchmark with custom metrics", "BenchmarkTool/tool=go-echo/mode=fresh-8 5 9 ns/op 3.5 p50-us", true,
			"BenchmarkTool/tool=go-echo/mode=fresh", 5, map[string]float64{"ns/op": 9, "p50-us": 3.5}},
		{"GOMAXPROCS=1 has no suffix", "BenchmarkX 1 5 ns/op", true, "BenchmarkX", 1, map[string]float64{"ns/op": 5}},
		{"a dash inside a name is kept", "BenchmarkAudit/db=pg-x 1 5 ns/op", true, "BenchmarkAudit/db=pg-x", 1, map[string]float64{"ns/op": 5}},
		{"a numeric sub-name keeps its own dash-free part", "BenchmarkPut/10k-2 20 5 ns/op", true, "BenchmarkPut/10k", 20, map[string]float64{"ns/op": 5}},
		{"name line without results", "BenchmarkX-2", false, "", 0, nil},
		{"skip notice", "--- SKIP: BenchmarkX", false, "", 0, nil},
		{"odd number of fields", "BenchmarkX-2 100 5 ns/op 7", false, "", 0, nil},
		{"iterations not a number", "BenchmarkX-2 many 5 ns/op", false, "", 0, nil},
		{"zero iterations", "BenchmarkX-2 0 5 ns/op", false, "", 0, nil},
		{"value not a number", "BenchmarkX-2 1 fast ns/op", false, "", 0, nil},
		{"NaN value", "BenchmarkX-2 1 NaN ns/op", false, "", 0, nil},
		{"not a benchmark", "ok  pkg 1.0s", false, "", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := ParseLine(tt.line)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if r.Name != tt.bench || r.Iterations != tt.iters || len(r.Values) != len(tt.vals) {
				t.Fatalf("got %+v", r)
			}
			for u, v := range tt.vals {
				if r.Values[u] != v {
					t.Errorf("%s = %v, want %v", u, r.Values[u], v)
				}
			}
		})
	}
}

func TestParseKeepsOrderAndTakesMedian(t *testing.T) {
	s := mustParse(t, "BenchmarkB-2 1 30 ns/op\nBenchmarkA-2 1 5 ns/op\nBenchmarkB-2 1 10 ns/op\nnoise\nBenchmarkB-2 1 20 ns/op 7 x/s\n")
	if got := strings.Join(s.Names(), ","); got != "BenchmarkB,BenchmarkA" {
		t.Errorf("names %s", got)
	}
	if v, _ := s.Value("BenchmarkB", "ns/op"); v != 20 {
		t.Errorf("median of 30, 10, 20 = %v, want 20", v)
	}
	if v, ok := s.Value("BenchmarkB", "x/s"); !ok || v != 7 {
		t.Errorf("a unit in one run only: %v %v", v, ok)
	}
	s = mustParse(t, "BenchmarkA 1 10 ns/op\nBenchmarkA 1 20 ns/op\n")
	if v, _ := s.Value("BenchmarkA", "ns/op"); v != 15 {
		t.Errorf("median of an even count = %v, want 15", v)
	}
	if _, ok := s.Value("BenchmarkMissing", "ns/op"); ok {
		t.Error("a missing benchmark has a value")
	}
}

func TestCheckDecisions(t *testing.T) {
	base := mustParse(t, sample)
	lower := Rule{Name: "time", Num: Ref{"BenchmarkRestart10Plugins", "ns/op"}, Better: Lower, Factor: 3}
	higher := Rule{Name: "tput", Num: Ref{HTTPBench(HTTPPresigned, 8), "req/s"}, Better: Higher, Factor: 3}
	ratio := Rule{Name: "naive/fresh", Num: Ref{ToolBench("go-echo", "naive"), "ns/op"},
		Den: Ref{ToolBench("go-echo", "fresh"), "ns/op"}, Better: Higher, Factor: 1.5}
	tests := []struct {
		name string
		cur  string
		rule Rule
		want Status
	}{
		{"time 2.9× the baseline passes", "BenchmarkRestart10Plugins 1 2.6e9 ns/op", lower, Pass},
		{"time 3.1× the baseline fails", "BenchmarkRestart10Plugins 1 2.8e9 ns/op", lower, Fail},
		{"the median of the runs counts, not the worst", "BenchmarkRestart10Plugins 1 9e9 ns/op\nBenchmarkRestart10Plugins 1 1e9 ns/op\nBenchmarkRestart10Plugins 1 1e9 ns/op", lower, Pass},
		{"faster is fine", "BenchmarkRestart10Plugins 1 1 ns/op", lower, Pass},
		{"throughput a third of the baseline is still ok", "BenchmarkHTTPIntents/mode=presigned/agents=8 1 1 ns/op 834 req/s", higher, Pass},
		{"throughput under a third fails", "BenchmarkHTTPIntents/mode=presigned/agents=8 1 1 ns/op 800 req/s", higher, Fail},
		{"ratio kept although everything is 10× slower", ToolBench("go-echo", "naive") + " 1 1e8 ns/op\n" + ToolBench("go-echo", "fresh") + " 1 2e6 ns/op", ratio, Pass},
		{"ratio halved fails although fresh is within 3×", ToolBench("go-echo", "naive") + " 1 1e7 ns/op\n" + ToolBench("go-echo", "fresh") + " 1 4e5 ns/op", ratio, Fail},
		{"missing from the run fails", "BenchmarkOther 1 1 ns/op", lower, Fail},
		{"missing den fails", ToolBench("go-echo", "naive") + " 1 1e7 ns/op", ratio, Fail},
		{"zero den fails", ToolBench("go-echo", "naive") + " 1 1e7 ns/op\n" + ToolBench("go-echo", "fresh") + " 1 0 ns/op", ratio, Fail},
		{"optional and missing is skipped", "BenchmarkOther 1 1 ns/op", Rule{Num: Ref{"BenchmarkTool/tool=as-echo/mode=fresh", "ns/op"}, Better: Lower, Factor: 3, Optional: true}, Skip},
		{"not in the baseline is skipped", "BenchmarkNew 1 1 ns/op", Rule{Num: Ref{"BenchmarkNew", "ns/op"}, Better: Lower, Factor: 3}, Skip},
		{"a factor of 1 or less is a broken rule", "BenchmarkRestart10Plugins 1 1 ns/op", Rule{Num: lower.Num, Factor: 1}, Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := Check(base, mustParse(t, tt.cur), []Rule{tt.rule})
			if len(vs) != 1 || vs[0].Status != tt.want {
				t.Fatalf("verdicts %+v, want %s", vs, tt.want)
			}
			if Failed(vs) != (tt.want == Fail) {
				t.Errorf("Failed = %v", Failed(vs))
			}
		})
	}
}

func TestDefaultRules(t *testing.T) {
	base := mustParse(t, sample+"BenchmarkTool/tool=as-echo/mode=naive 1 100 ns/op\nBenchmarkTool/tool=as-echo/mode=fresh 1 50 ns/op\n")
	rules := DefaultRules(base, 1.5, 3)
	byName := map[string]Rule{}
	for _, r := range rules {
		byName[r.Name+" "+r.Num.Unit] = r
	}
	checks := []struct {
		key      string
		better   Better
		factor   float64
		optional bool
	}{
		{"naive/fresh go-echo (medians) p50-us", Higher, 1.5, false},
		{"naive/fresh as-echo (medians) p50-us", Higher, 1.5, true},
		{"pipeline/fresh (interleaved) pipeline/fresh", Lower, 1.5, false},
		{"BenchmarkRestart10Plugins ns/op", Lower, 3, false},
		{HTTPBench(HTTPPresigned, 8) + " req/s", Higher, 3, false},
		{AppendBench("sqlite", 8) + " appends/s", Higher, 3, false},
		{"BenchmarkTool/tool=as-echo/mode=fresh ns/op", Lower, 3, true},
	}
	for _, c := range checks {
		r, ok := byName[c.key]
		if !ok {
			t.Errorf("no rule %q", c.key)
			continue
		}
		if r.Better != c.better || r.Factor != c.factor || r.Optional != c.optional {
			t.Errorf("rule %q = %+v", c.key, r)
		}
	}
	if _, ok := byName["naive/fresh go-trivial (medians) p50-us"]; ok {
		t.Error("rule for a tool missing from the baseline")
	}
	for _, r := range rules {
		if r.Num.Unit == "p99-ms" || r.Num.Unit == "B/op" {
			t.Errorf("noisy or irrelevant unit checked: %+v", r)
		}
	}
	// The baseline passes against itself.
	if vs := Check(base, base, rules); Failed(vs) {
		var buf bytes.Buffer
		WriteVerdicts(&buf, vs)
		t.Errorf("baseline fails against itself:\n%s", buf.String())
	}
}

func TestTargets(t *testing.T) {
	got := map[string]Target{}
	for _, tg := range Targets(mustParse(t, sample)) {
		got[tg.Want+" "+tg.Name] = tg
	}
	want := []struct {
		want     string
		value    float64
		met      bool
		measured bool
	}{
		{"≥ 40× fresh-state call vs naive fresh instance, go-echo (naive/fresh)", 50, true, true},
		{"≤ 100 µs fresh-state call median, go-echo (small JSON)", 90, true, true},
		{"≤ 1.5× full pipeline vs fresh-state call (interleaved)", 1.25, true, true},
		{"≤ 1.5× full pipeline vs fresh-state call, amortised at 8 agents", 2, false, true},
		{"≥ 2000 req/s signed intents over HTTP, 8 agents (pre-signed: the host's capacity)", 2500, true, true},
		{"≤ 10 ms p99 latency over HTTP, 8 agents (pre-signed)", 9.5, true, true},
		{"≤ 1 s restart with 10 installed plugins, ready to serve", 900, true, true},
	}
	for _, w := range want {
		g := got[w.want]
		if g.Measured != w.measured || g.Met != w.met || g.Got != w.value {
			t.Errorf("target %s: %+v, want value %v met %v", w.want, g, w.value, w.met)
		}
	}
	for _, tg := range Targets(mustParse(t, "BenchmarkRestart10Plugins 1 1.2e9 ns/op")) {
		if tg.Want == "≤ 1 s" && (tg.Met || !tg.Measured) {
			t.Errorf("1.2 s restart: %+v", tg)
		}
		if tg.Want == "≥ 40×" && (tg.Met || tg.Measured) {
			t.Errorf("unmeasured target: %+v", tg)
		}
	}
}

func TestSummary(t *testing.T) {
	var buf bytes.Buffer
	Summary(&buf, mustParse(t, sample+"BenchmarkPut/1k-2 20 1000 ns/op 5 p50-ns\n"))
	out := buf.String()
	for _, want := range []string{
		"| go-echo | 440 µs | 10 ms | 200 µs | 90 µs | 50× | 0.455× |",
		"| go-trivial | not run |",
		"| interleaved: pipeline/fresh | 1.25× |",
		"| 8 | 2500 | 3 ms | 9.5 ms | 20 ms | 700 µs | 0 |",
		"| 8 agents at once: pipeline/fresh | 2× |",
		"| sqlite | 8 | 854.8 | 1.17 ms |",
		"| Open to first successful intent | 900 ms |",
		"| BenchmarkPut/1k | 1 µs/op, 5 ns p50 |",
		"| signed intents over HTTP, 8 agents (pre-signed: the host's capacity) | ≥ 2000 req/s | 2500 req/s | yes |",
		"| fresh-state call vs naive fresh instance, go-echo (naive/fresh) | ≥ 40× | 50× | yes |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "## Pipeline and its parts\n\n| measure | value |\n|---|---|\n| pipeline (") {
		t.Error("a pipeline row for a benchmark that did not run")
	}
}

func TestFormatUnit(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{2500, "ns/op", "2.5 µs/op"},
		{485916, "p50-ns", "486 µs p50"},
		{90, "p50-us", "90 µs p50"},
		{105.7, "p99-ms", "106 ms p99"},
		{28.26, "heap-MiB", "28.26 heap-MiB"},
		{2500, "req/s", "2500 req/s"},
	} {
		if got := formatUnit(c.v, c.unit); got != c.want {
			t.Errorf("formatUnit(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for ns, want := range map[float64]string{0: "0 ns", 999: "999 ns", 1500: "1.5 µs", 2.5e6: "2.5 ms", 1.95e9: "1.95 s"} {
		if got := Duration(ns); got != want {
			t.Errorf("Duration(%v) = %q, want %q", ns, got, want)
		}
	}
}

// FuzzParse checks that no input makes Parse fail or panic, and that every
// result it keeps has a name, positive iterations and finite values.
func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("BenchmarkX-2 1 5 ns/op")
	f.Add("Benchmark 1 1 1 1")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range s.Names() {
			if !strings.HasPrefix(n, "Benchmark") {
				t.Errorf("name %q", n)
			}
			for _, r := range s.runs[n] {
				if r.Iterations <= 0 || len(r.Values) == 0 {
					t.Errorf("result %+v", r)
				}
			}
		}
	})
}
