package report

import (
	"fmt"
	"strings"
)

// Better says which way a value improves.
type Better int

const (
	// Lower values are better (times, ratios of a cost to a reference).
	Lower Better = iota
	// Higher values are better (throughputs, speed-ups).
	Higher
)

// Ref names one value: a benchmark and a unit.
type Ref struct {
	Bench string
	Unit  string
}

func (r Ref) String() string { return r.Bench + " " + r.Unit }

// Rule compares one quantity of the current run with the same quantity of
// the baseline. The quantity is Num, or Num/Den when Den is set (a ratio
// taken inside one run). The check fails when the quantity got worse than
// the baseline by more than Factor: above Factor×baseline for Lower, below
// baseline/Factor for Higher. A Rule whose values are missing from the
// current run fails, unless it is Optional (a tool that needs npm, a
// database that needs a server); missing from the baseline, it is skipped.
type Rule struct {
	Name     string
	Num      Ref
	Den      Ref // zero: Num alone
	Better   Better
	Factor   float64 // > 1
	Optional bool
}

// value returns the rule's quantity in s.
func (r Rule) value(s *Set) (float64, error) {
	n, ok := s.Value(r.Num.Bench, r.Num.Unit)
	if !ok {
		return 0, fmt.Errorf("no %s", r.Num)
	}
	if r.Den == (Ref{}) {
		return n, nil
	}
	d, ok := s.Value(r.Den.Bench, r.Den.Unit)
	if !ok {
		return 0, fmt.Errorf("no %s", r.Den)
	}
	if d == 0 {
		return 0, fmt.Errorf("%s is 0", r.Den)
	}
	return n / d, nil
}

// Status is the outcome of one rule.
type Status string

// Statuses of a Verdict.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Verdict is the outcome of one rule.
type Verdict struct {
	Rule      Rule
	Base, Cur float64
	Status    Status
	Detail    string
}

// Check applies every rule to the baseline and the current run.
func Check(base, cur *Set, rules []Rule) []Verdict {
	out := make([]Verdict, 0, len(rules))
	for _, r := range rules {
		v := Verdict{Rule: r}
		if r.Factor <= 1 {
			v.Status, v.Detail = Fail, fmt.Sprintf("rule has factor %g, want > 1", r.Factor)
			out = append(out, v)
			continue
		}
		b, errB := r.value(base)
		c, errC := r.value(cur)
		v.Base, v.Cur = b, c
		switch {
		case errC != nil && r.Optional:
			v.Status, v.Detail = Skip, "optional, missing from this run: "+errC.Error()
		case errC != nil:
			v.Status, v.Detail = Fail, "missing from this run: "+errC.Error()
		case errB != nil:
			v.Status, v.Detail = Skip, "not in the baseline (refresh it with `make bench-baseline`): "+errB.Error()
		case r.Better == Lower && c > b*r.Factor:
			v.Status, v.Detail = Fail, fmt.Sprintf("%.3g× the baseline, limit %g×", c/b, r.Factor)
		case r.Better == Higher && c*r.Factor < b:
			v.Status, v.Detail = Fail, fmt.Sprintf("%.3g× the baseline, limit 1/%g", c/b, r.Factor)
		default:
			v.Status = Pass
			if b != 0 {
				v.Detail = fmt.Sprintf("%.3g× the baseline", c/b)
			}
		}
		out = append(out, v)
	}
	return out
}

// Failed reports whether any verdict failed.
func Failed(vs []Verdict) bool {
	for _, v := range vs {
		if v.Status == Fail {
			return true
		}
	}
	return false
}

// Default factors of [DefaultRules].
const (
	// DefaultAbsoluteFactor bounds absolute values (times, throughputs):
	// the machine is shared, so only a threefold change counts.
	DefaultAbsoluteFactor = 3
	// DefaultRatioFactor bounds ratios measured inside one run.
	DefaultRatioFactor = 1.5
)

// Benchmark names the rules and the summary know.
const (
	BenchTool              = "BenchmarkTool"
	BenchPipeline          = "BenchmarkPipeline"
	BenchPipelineBreakdown = "BenchmarkPipelineBreakdown"
	BenchPipelineParallel  = "BenchmarkPipelineParallel"
	BenchHTTP              = "BenchmarkHTTPIntents"
	BenchAuditAppends      = "BenchmarkAuditAppends"
	BenchAuditVerify1M     = "BenchmarkAuditVerify1M"
	BenchAuditOpen1M       = "BenchmarkAuditOpen1M"
	BenchAuditRebuild1M    = "BenchmarkAuditRebuild1M"
	BenchAuditProof        = "BenchmarkAuditProof"
	BenchRestart           = "BenchmarkRestart10Plugins"
)

// ToolBench names the BenchmarkTool result of tool ("go-echo") in mode
// ("reused", "naive" or "fresh").
func ToolBench(tool, mode string) string {
	return BenchTool + "/tool=" + tool + "/mode=" + mode
}

// The load generator modes of BenchmarkHTTPIntents: agents that sign and
// verify inline through sdk/client, or pre-signed requests whose receipts
// are verified after the timing (the host's capacity).
const (
	HTTPAgent     = "agent"
	HTTPPresigned = "presigned"
)

// HTTPBench names the BenchmarkHTTPIntents result for a load generator
// mode and n agents.
func HTTPBench(mode string, agents int) string {
	return fmt.Sprintf("%s/mode=%s/agents=%d", BenchHTTP, mode, agents)
}

// AppendBench names the BenchmarkAuditAppends result of db with n appenders.
func AppendBench(db string, appenders int) string {
	return fmt.Sprintf("%s/db=%s/appenders=%d", BenchAuditAppends, db, appenders)
}

// Tools are the BenchmarkTool tools, in table order.
var Tools = []string{"go-trivial", "go-echo", "go-echo-cold", "as-echo"}

// DefaultRules are the checks of `make bench-check`:
//
//   - the ratios naive/fresh (per tool, of the medians, which a few slow
//     outliers do not move; Higher) and pipeline/fresh (interleaved; Lower)
//     may not worsen by more than ratioFactor;
//   - every ns/op of the baseline, and the throughputs (req/s,
//     appends/s), may not worsen by more than absFactor.
//
// Rules for benchmarks missing from the baseline are skipped, so the
// absolute rules are derived from it. Rules on the AssemblyScript tool and
// on PostgreSQL are optional (see [Optional]).
func DefaultRules(base *Set, ratioFactor, absFactor float64) []Rule {
	var rules []Rule
	for _, t := range Tools {
		if !base.Has(ToolBench(t, "fresh")) {
			continue
		}
		rules = append(rules, Rule{
			Name:   "naive/fresh " + t + " (medians)",
			Num:    Ref{ToolBench(t, "naive"), "p50-us"},
			Den:    Ref{ToolBench(t, "fresh"), "p50-us"},
			Better: Higher, Factor: ratioFactor,
			Optional: Optional(ToolBench(t, "fresh")),
		})
	}
	if base.Has(BenchPipelineBreakdown) {
		rules = append(rules, Rule{
			Name:   "pipeline/fresh (interleaved)",
			Num:    Ref{BenchPipelineBreakdown, "pipeline/fresh"},
			Better: Lower, Factor: ratioFactor,
		})
	}
	for _, name := range base.Names() {
		for _, u := range base.Units(name) {
			switch {
			case u == "ns/op":
				rules = append(rules, Rule{Name: name, Num: Ref{name, u}, Better: Lower, Factor: absFactor, Optional: Optional(name)})
			case strings.HasSuffix(u, "/s"):
				rules = append(rules, Rule{Name: name, Num: Ref{name, u}, Better: Higher, Factor: absFactor, Optional: Optional(name)})
			}
		}
	}
	return rules
}

// Optional reports whether a benchmark may be missing from a run without
// failing the check: the AssemblyScript tool (built only where npm is
// available) and the PostgreSQL variants (run only when a server is named).
func Optional(bench string) bool {
	return strings.HasPrefix(bench, BenchTool+"/tool=as-") || strings.Contains(bench, "/db=postgres")
}
