package proccpu

import (
	"runtime"
	"testing"
)

func TestUsedGrowsWithWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no getrusage")
	}
	before := Used()
	x := 0
	for i := range 200_000_000 {
		x ^= i
	}
	if after := Used(); after <= before {
		t.Fatalf("CPU time did not grow over a busy loop (%v → %v, %d)", before, after, x)
	}
}
