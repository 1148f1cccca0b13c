// Package proccpu reads the CPU time the process has used, for benchmarks
// that report CPU per operation next to wall time (several goroutines, or
// a host and its load generator, share the cores).
package proccpu
