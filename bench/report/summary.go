package report

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Target is one of issue 7's performance targets, evaluated on a run.
type Target struct {
	Name     string  // what is measured
	Want     string  // the target, e.g. "≥ 40×"
	Got      float64 // the measured value, in Unit
	Unit     string
	Measured bool // false when the run lacks the benchmark
	Met      bool
}

// target is a Target's definition: how to get the value and the bound.
type target struct {
	name, want, unit string
	value            func(*Set) (float64, bool)
	met              func(float64) bool
}

func ratioOf(num, den Ref) func(*Set) (float64, bool) {
	return func(s *Set) (float64, bool) {
		v, err := Rule{Num: num, Den: den}.value(s)
		return v, err == nil
	}
}

func valueOf(r Ref) func(*Set) (float64, bool) {
	return func(s *Set) (float64, bool) { return s.Value(r.Bench, r.Unit) }
}

// targets are issue 7's targets.
var targets = []target{
	{"fresh-state call vs naive fresh instance, go-echo (naive/fresh)", "≥ 40×", "×",
		ratioOf(Ref{ToolBench("go-echo", "naive"), "ns/op"}, Ref{ToolBench("go-echo", "fresh"), "ns/op"}),
		func(v float64) bool { return v >= 40 }},
	{"fresh-state call median, go-echo (small JSON)", "≤ 100 µs", "µs",
		valueOf(Ref{ToolBench("go-echo", "fresh"), "p50-us"}),
		func(v float64) bool { return v <= 100 }},
	{"full pipeline vs fresh-state call (interleaved)", "≤ 1.5×", "×",
		valueOf(Ref{BenchPipelineBreakdown, "pipeline/fresh"}),
		func(v float64) bool { return v <= 1.5 }},
	{"full pipeline vs fresh-state call, amortised at 8 agents", "≤ 1.5×", "×",
		valueOf(Ref{BenchPipelineParallel, "pipeline/fresh"}),
		func(v float64) bool { return v <= 1.5 }},
	{"signed intents over HTTP, 8 agents (pre-signed: the host's capacity)", "≥ 2000 req/s", "req/s",
		valueOf(Ref{HTTPBench(HTTPPresigned, 8), "req/s"}),
		func(v float64) bool { return v >= 2000 }},
	{"p99 latency over HTTP, 8 agents (pre-signed)", "≤ 10 ms", "ms",
		valueOf(Ref{HTTPBench(HTTPPresigned, 8), "p99-ms"}),
		func(v float64) bool { return v <= 10 }},
	{"signed intents over HTTP, 8 sdk/client agents (their Ed25519 on the same 2 cores)", "≥ 2000 req/s", "req/s",
		valueOf(Ref{HTTPBench(HTTPAgent, 8), "req/s"}),
		func(v float64) bool { return v >= 2000 }},
	{"p99 latency over HTTP, 8 sdk/client agents", "≤ 10 ms", "ms",
		valueOf(Ref{HTTPBench(HTTPAgent, 8), "p99-ms"}),
		func(v float64) bool { return v <= 10 }},
	{"restart with 10 installed plugins, ready to serve", "≤ 1 s", "ms",
		func(s *Set) (float64, bool) {
			v, ok := s.Value(BenchRestart, "ns/op")
			return v / 1e6, ok
		},
		func(v float64) bool { return v <= 1000 }},
}

// Targets evaluates issue 7's targets on s.
func Targets(s *Set) []Target {
	out := make([]Target, 0, len(targets))
	for _, t := range targets {
		v, ok := t.value(s)
		out = append(out, Target{Name: t.name, Want: t.want, Unit: t.unit, Got: v, Measured: ok, Met: ok && t.met(v)})
	}
	return out
}

// Duration formats nanoseconds with a unit that keeps 3 significant digits.
func Duration(ns float64) string {
	switch a := math.Abs(ns); {
	case a >= 1e9:
		return fmt.Sprintf("%.3g s", ns/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	}
	return fmt.Sprintf("%.3g ns", ns)
}

// table writes a Markdown table.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// section writes title and the tables that have rows, or nothing when
// none has.
func section(w io.Writer, title string, tables ...*table) {
	has := false
	for _, t := range tables {
		has = has || len(t.rows) > 0
	}
	if !has {
		return
	}
	fmt.Fprintf(w, "## %s\n\n", title)
	for _, t := range tables {
		t.write(w)
	}
}

func (t *table) write(w io.Writer) {
	if len(t.rows) == 0 {
		return
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(t.head, " | "))
	seps := make([]string, len(t.head))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	fmt.Fprintln(w)
}

// cell formats the value of (bench, unit) with f, or "—" when missing.
func (s *Set) cell(bench, unit string, f func(float64) string) string {
	v, ok := s.Value(bench, unit)
	if !ok {
		return "—"
	}
	return f(v)
}

func ratio(v float64) string { return fmt.Sprintf("%.3g×", v) }
func num(v float64) string {
	if math.Abs(v) >= 1000 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.4g", v)
}
func ms(v float64) string { return Duration(v * 1e6) }
func us(v float64) string { return Duration(v * 1e3) }

// ratioCell is num/den of two ns/op values, or "—".
func (s *Set) ratioCell(num, den string) string {
	v, ok := ratioOf(Ref{num, "ns/op"}, Ref{den, "ns/op"})(s)
	if !ok {
		return "—"
	}
	return ratio(v)
}

// Summary writes the tables of BENCHMARKS.md for s, in Markdown: tools
// (with the naive/fresh and fresh/reused ratios), pipeline, HTTP, audit,
// restart, any other benchmark, and issue 7's targets.
func Summary(w io.Writer, s *Set) {
	known := map[string]bool{}
	mark := func(names ...string) {
		for _, n := range names {
			known[n] = true
		}
	}

	tt := table{head: []string{"tool", "reused (not isolated)", "naive fresh instance", "fresh-state (Engine.Invoke)", "fresh-state p50", "naive/fresh", "fresh/reused"}}
	for _, tool := range Tools {
		r, n, f := ToolBench(tool, "reused"), ToolBench(tool, "naive"), ToolBench(tool, "fresh")
		mark(r, n, f)
		if !s.Has(r) && !s.Has(n) && !s.Has(f) {
			tt.add(tool, "not run", "", "", "", "", "")
			continue
		}
		tt.add(tool, s.cell(r, "ns/op", Duration), s.cell(n, "ns/op", Duration), s.cell(f, "ns/op", Duration),
			s.cell(f, "p50-us", us), s.ratioCell(n, f), s.ratioCell(f, r))
	}
	section(w, "Tools: one call (mean ns/op; fresh-state p50 is the median)", &tt)

	pt := table{head: []string{"measure", "value"}}
	mark(BenchPipeline, BenchPipelineBreakdown, BenchPipelineParallel)
	if s.Has(BenchPipeline) {
		pt.add("pipeline (intent.Service.Invoke, proof verified)", s.cell(BenchPipeline, "ns/op", Duration))
		pt.add("pipeline / fresh-state go-echo (separate benchmarks)", s.ratioCell(BenchPipeline, ToolBench("go-echo", "fresh")))
	}
	if s.Has(BenchPipelineBreakdown) {
		pt.add("interleaved: pipeline", s.cell(BenchPipelineBreakdown, "pipeline-ms", ms))
		pt.add("interleaved: fresh-state call", s.cell(BenchPipelineBreakdown, "fresh-ms", ms))
		pt.add("interleaved: 2 audit appends", s.cell(BenchPipelineBreakdown, "2appends-ms", ms))
		pt.add("interleaved: pipeline/fresh", s.cell(BenchPipelineBreakdown, "pipeline/fresh", ratio))
	}
	if s.Has(BenchPipelineParallel) {
		pt.add("8 agents at once, per intent: pipeline", s.cell(BenchPipelineParallel, "pipeline-us/op", us))
		pt.add("8 agents at once, per call: fresh-state call", s.cell(BenchPipelineParallel, "fresh-us/op", us))
		pt.add("8 agents at once: pipeline/fresh", s.cell(BenchPipelineParallel, "pipeline/fresh", ratio))
	}
	for _, p := range []string{"BenchmarkAuditAppend", "BenchmarkProofVerify", "BenchmarkGrantVerify", "BenchmarkSignRequest"} {
		mark(p)
		if s.Has(p) {
			pt.add(strings.TrimPrefix(p, "Benchmark"), s.cell(p, "ns/op", Duration))
		}
	}
	section(w, "Pipeline and its parts", &pt)

	ht := table{head: []string{"load generator", "agents", "req/s", "p50", "p99", "p999", "CPU per request (host + load generator)", "failed"}}
	for _, mode := range []string{HTTPPresigned, HTTPAgent} {
		for _, n := range []int{8, 32} {
			b := HTTPBench(mode, n)
			mark(b)
			if !s.Has(b) {
				continue
			}
			ht.add(mode, fmt.Sprint(n), s.cell(b, "req/s", num), s.cell(b, "p50-ms", ms), s.cell(b, "p99-ms", ms),
				s.cell(b, "p999-ms", ms), s.cell(b, "cpu-us/req", us), s.cell(b, "failed", num))
		}
	}
	section(w, "Signed intents over HTTP (loopback, closed loop)", &ht)

	at := table{head: []string{"durable appends", "appenders", "appends/s", "per append"}}
	for _, db := range []string{"sqlite", "postgres"} {
		for _, n := range []int{1, 8, 32} {
			b := AppendBench(db, n)
			mark(b)
			if s.Has(b) {
				at.add(db, fmt.Sprint(n), s.cell(b, "appends/s", num), s.cell(b, "ns/op", Duration))
			}
		}
	}
	vt := table{head: []string{"1M-entry log", "time"}}
	mark(BenchAuditVerify1M, BenchAuditOpen1M, BenchAuditRebuild1M)
	if s.Has(BenchAuditVerify1M) || s.Has(BenchAuditOpen1M) || s.Has(BenchAuditRebuild1M) {
		vt.add("audit.Verify", s.cell(BenchAuditVerify1M, "ns/op", Duration))
		vt.add("audit.Open (from the head stored with the last checkpoint)", s.cell(BenchAuditOpen1M, "ns/op", Duration))
		vt.add("audit.Open, no usable stored head (rebuilt from every entry)", s.cell(BenchAuditRebuild1M, "ns/op", Duration))
	}
	prt := table{head: []string{"tree size", "proof", "hashes", "bytes", "build", "verify"}}
	for _, size := range []string{"1k", "100k", "1M"} {
		for _, kind := range []string{"inclusion", "consistency"} {
			base := fmt.Sprintf("%s/size=%s/%s/", BenchAuditProof, size, kind)
			mark(base+"build", base+"verify")
			if !s.Has(base + "build") {
				continue
			}
			prt.add(size, kind, s.cell(base+"build", "hashes", num), s.cell(base+"build", "proof-bytes", num),
				s.cell(base+"build", "ns/op", Duration), s.cell(base+"verify", "ns/op", Duration))
		}
	}
	section(w, "Audit log", &at, &vt, &prt)

	mark(BenchRestart)
	rt := table{head: []string{"measure", "time"}}
	if s.Has(BenchRestart) {
		rt.add("node.Open, 10 plugins installed", s.cell(BenchRestart, "open-ms", ms))
		rt.add("Open to first successful intent", s.cell(BenchRestart, "ns/op", Duration))
	}
	section(w, "Restart", &rt)

	var other table
	other.head = []string{"benchmark", "values"}
	for _, n := range s.Names() {
		if known[n] {
			continue
		}
		var vals []string
		for _, u := range s.Units(n) {
			v, _ := s.Value(n, u)
			vals = append(vals, formatUnit(v, u))
		}
		other.add(n, strings.Join(vals, ", "))
	}
	section(w, "Other benchmarks", &other)

	tg := table{head: []string{"target", "want", "measured", "met"}}
	for _, t := range Targets(s) {
		got, met := "not measured", "—"
		if t.Measured {
			got = fmt.Sprintf("%.4g %s", t.Got, t.Unit)
			if t.Unit == "×" {
				got = ratio(t.Got)
			}
			met = "no"
			if t.Met {
				met = "yes"
			}
		}
		tg.add(t.Name, t.Want, got, met)
	}
	section(w, "Issue 7 targets", &tg)
}

// WriteVerdicts writes one line per verdict and a last line saying whether
// the check passed.
func WriteVerdicts(w io.Writer, vs []Verdict) {
	for _, v := range vs {
		q := v.Rule.Num.String()
		if v.Rule.Den != (Ref{}) {
			q = v.Rule.Name + " = " + q + " / " + v.Rule.Den.String()
		}
		fmt.Fprintf(w, "%s  %s: baseline %.4g, now %.4g: %s\n", v.Status, q, v.Base, v.Cur, v.Detail)
	}
	if Failed(vs) {
		fmt.Fprintln(w, "bench-check: FAILED (a clear regression against bench/baseline.txt; see the FAIL lines)")
		return
	}
	fmt.Fprintln(w, "bench-check: ok")
}

// formatUnit formats a value of a benchmark's own unit: times as durations
// ("p50-ns" 485916 → "486 µs p50"), anything else as number and unit.
func formatUnit(v float64, unit string) string {
	if unit == "ns/op" {
		return Duration(v) + "/op"
	}
	for suffix, scale := range map[string]float64{"-ns": 1, "-us": 1e3, "-ms": 1e6} {
		if name, ok := strings.CutSuffix(unit, suffix); ok {
			return Duration(v*scale) + " " + name
		}
	}
	return num(v) + " " + unit
}
