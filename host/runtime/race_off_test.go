//go:build !race

package runtime

// isolationCycles is the number of write/probe cycles of
// TestFreshStateIsolation.
const isolationCycles = 2000
