// Command benchsummary reads `go test -bench` output (files named on the
// command line, or standard input) and prints Airlock's benchmark summary
// in Markdown: per-area tables with times and ratios, and issue 7's
// targets with whether each is met. `make bench` runs it on its own output.
//
// Usage:
//
//	benchsummary [FILE...]
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/airlock-dev/airlock/bench/report"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprintln(stderr, "usage: benchsummary [FILE...]  (go test -bench output; standard input when none)")
		return 2
	}
	var readers []io.Reader
	for _, a := range args {
		f, err := os.Open(a)
		if err != nil {
			fmt.Fprintln(stderr, "benchsummary:", err)
			return 1
		}
		defer f.Close()
		readers = append(readers, f)
	}
	if len(readers) == 0 {
		readers = append(readers, stdin)
	}
	s, err := report.Parse(io.MultiReader(readers...))
	if err != nil {
		fmt.Fprintln(stderr, "benchsummary:", err)
		return 1
	}
	if len(s.Names()) == 0 {
		fmt.Fprintln(stderr, "benchsummary: no benchmark results in the input")
		return 1
	}
	report.Summary(stdout, s)
	return 0
}
