//go:build wasip1

// Command isolation is a test tool that reports what it can see of earlier
// calls and of the host, then leaves marks for a later call to find.
//
// "probe" reports a package-level global, a heap value reachable from a
// global, a math/rand value, the wall clock, the environment, the arguments
// and whether the root directory is readable; then it sets the global and the
// heap value. In a fresh instance the global and heap value are always zero,
// the random values differ between calls, the clock is the host's, and the
// sandbox has no environment, arguments or files. It logs through
// tool.Log, so its module imports the log host function and nothing else.
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import (
	"math/rand"
	"os"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/sdk/tool"
)

var (
	global int
	heap   *string
)

type input struct{}

type output struct {
	Global  int    `json:"global"`
	Heap    string `json:"heap"`
	Rand    int64  `json:"rand"`
	NowUnix int64  `json:"now_unix"`
	Env     int    `json:"env"`
	Args    int    `json:"args"`
	RootFS  bool   `json:"root_fs"`
}

//go:wasmexport probe
func probe() int32 {
	return tool.Handle(func(input) (output, error) {
		tool.Log(abi.LogDebug, "probe")
		out := output{
			Global:  global,
			Rand:    rand.Int63(),
			NowUnix: time.Now().Unix(),
			Env:     len(os.Environ()),
			Args:    len(os.Args),
		}
		if heap != nil {
			out.Heap = *heap
		}
		if _, err := os.ReadDir("/"); err == nil {
			out.RootFS = true
		}
		global = 42
		marker := "marker from an earlier call"
		heap = &marker
		return out, nil
	})
}

func main() {}
