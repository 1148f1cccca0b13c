// Command benchcheck compares a run of the quick benchmarks with the
// committed baseline and exits 1 on a clear regression (`make
// bench-check`).
//
// Usage:
//
//	benchcheck [-ratio 1.5] [-abs 3] BASELINE CURRENT
//
// Both files are `go test -bench` output. The machine is shared and noisy,
// so the check compares ratios measured inside one run (naive instance /
// fresh-state call per tool, pipeline / fresh-state call) with a tolerance
// of -ratio, and absolute values (every ns/op, req/s and appends/s of the
// baseline) only with the generous factor -abs. See report.DefaultRules.
//
// Refresh the baseline with `make bench-baseline` after a change that
// makes things faster (or knowingly slower), and commit bench/baseline.txt.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/airlock-dev/airlock/bench/report"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ratio := fs.Float64("ratio", report.DefaultRatioFactor, "tolerated worsening of in-run ratios (factor > 1)")
	abs := fs.Float64("abs", report.DefaultAbsoluteFactor, "tolerated worsening of absolute values (factor > 1)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: benchcheck [-ratio F] [-abs F] BASELINE CURRENT")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return 2
	}
	if *ratio <= 1 || *abs <= 1 {
		fmt.Fprintln(stderr, "benchcheck: -ratio and -abs must be greater than 1")
		return 2
	}
	base, err := parseFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "benchcheck:", err)
		return 1
	}
	cur, err := parseFile(fs.Arg(1))
	if err != nil {
		fmt.Fprintln(stderr, "benchcheck:", err)
		return 1
	}
	if len(base.Names()) == 0 {
		fmt.Fprintf(stderr, "benchcheck: no benchmark results in the baseline %s\n", fs.Arg(0))
		return 1
	}
	vs := report.Check(base, cur, report.DefaultRules(base, *ratio, *abs))
	report.WriteVerdicts(stdout, vs)
	if report.Failed(vs) {
		return 1
	}
	return 0
}

func parseFile(path string) (*report.Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return report.Parse(f)
}
