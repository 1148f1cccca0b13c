//go:build unix

package bench

import (
	"syscall"
	"time"
)

// processCPU is the process's user and system CPU time so far: in the HTTP
// benchmark, the host's and the load generator's together.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
