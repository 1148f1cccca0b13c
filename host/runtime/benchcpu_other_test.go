//go:build !unix

package runtime

import "time"

// benchCPU is not measured on this platform.
func benchCPU() time.Duration { return 0 }
