//go:build race

package runtime

// isolationCycles is the number of write/probe cycles of
// TestFreshStateIsolation: fewer under the race detector, which slows every
// call down several times.
const isolationCycles = 200
