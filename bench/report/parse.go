// Package report reads the output of `go test -bench` and turns it into
// Airlock's benchmark summary (BENCHMARKS.md's tables, ratios and issue 7
// targets) and into a regression check against a committed baseline.
//
// The commands bench/cmd/benchsummary (end of `make bench`) and
// bench/cmd/benchcheck (`make bench-check`) are thin wrappers around
// [Parse], [Summary] and [Check].
//
// # Robustness
//
// The machine the benchmarks run on is shared and noisy. [Check] therefore
// compares ratios measured inside one run (a naive instance against the
// fresh-state call, the pipeline against the bare tool run), which hold up
// when the whole machine is slower, and compares absolute values only with
// a generous factor ([DefaultAbsoluteFactor]).
package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Result is one benchmark result line: the benchmark's name without the
// -GOMAXPROCS suffix, its iteration count, and each value by unit
// ("ns/op", "B/op", "allocs/op" and the benchmark's own metrics such as
// "req/s" or "p99-ms").
type Result struct {
	Name       string
	Iterations int64
	Values     map[string]float64
}

// Set is the results of one or more `go test -bench` outputs, in order of
// first appearance. A benchmark run several times (-count) has several
// results; [Set.Value] is their median.
type Set struct {
	order []string
	runs  map[string][]Result
}

// maxLine bounds one line of input.
const maxLine = 1 << 20

// Parse reads `go test -bench` output and keeps the benchmark result lines.
// Every other line (package headers, PASS, logs, skip notices) is ignored,
// and so is a line that starts like a result but does not parse as one
// (name, iteration count, then value–unit pairs). It fails only when r does.
func Parse(r io.Reader) (*Set, error) {
	s := &Set{runs: map[string][]Result{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		res, ok := ParseLine(sc.Text())
		if !ok {
			continue
		}
		if _, seen := s.runs[res.Name]; !seen {
			s.order = append(s.order, res.Name)
		}
		s.runs[res.Name] = append(s.runs[res.Name], res)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("report: reading benchmark output: %w", err)
	}
	return s, nil
}

// ParseLine parses one benchmark result line such as
//
//	BenchmarkTool/tool=go-echo/mode=fresh-2   100   12931406 ns/op   9967 p50-us
//
// and reports whether it is one.
func ParseLine(line string) (Result, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 || !strings.HasPrefix(f[0], "Benchmark") {
		return Result{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n <= 0 {
		return Result{}, false
	}
	res := Result{Name: trimProcs(f[0]), Iterations: n, Values: make(map[string]float64, (len(f)-2)/2)}
	for i := 2; i < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return Result{}, false
		}
		res.Values[f[i+1]] = v
	}
	return res, true
}

// trimProcs removes the -GOMAXPROCS suffix go test appends to a name when
// GOMAXPROCS is not 1 ("BenchmarkX-2" → "BenchmarkX").
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return name
	}
	for _, c := range name[i+1:] {
		if c < '0' || c > '9' {
			return name
		}
	}
	return name[:i]
}

// Names returns the benchmark names in order of first appearance.
func (s *Set) Names() []string { return slices.Clone(s.order) }

// Has reports whether the set holds a result for name.
func (s *Set) Has(name string) bool { return len(s.runs[name]) > 0 }

// Units returns the units name reported, sorted.
func (s *Set) Units(name string) []string {
	seen := map[string]bool{}
	for _, r := range s.runs[name] {
		for u := range r.Values {
			seen[u] = true
		}
	}
	out := make([]string, 0, len(seen))
	for u := range seen {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// Value returns the median over the runs of name of the value in unit, and
// whether there was any.
func (s *Set) Value(name, unit string) (float64, bool) {
	var vals []float64
	for _, r := range s.runs[name] {
		if v, ok := r.Values[unit]; ok {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return 0, false
	}
	slices.Sort(vals)
	if len(vals)%2 == 1 {
		return vals[len(vals)/2], true
	}
	return (vals[len(vals)/2-1] + vals[len(vals)/2]) / 2, true
}
