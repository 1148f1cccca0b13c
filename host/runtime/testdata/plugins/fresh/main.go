//go:build wasip1

// Command fresh is a test tool for the fresh-state path: "write" leaves a
// marker everywhere it can, then ends the way its input asks; "probe"
// reports every trace of an earlier call it can find.
//
// A marker is the 64-bit word 0xA1B2C3D4<<32 | n. It exists in linear
// memory only where "write" stores it (the constant lives in the code
// section, which is not in linear memory), so "probe" finds any surviving
// copy by scanning 8-byte words. "write" stores it in a global, in a heap
// object, on its stack and, when asked, in a 4 MiB buffer that makes the
// memory grow; it draws a math/rand value and keeps it, and tries to create
// files. "probe" reads those globals, allocates a 4 MiB buffer of its own
// (fresh memory must read as zeros) and scans it, draws its own random
// value, and looks for the files and for an extra open descriptor.
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import (
	"errors"
	"math/rand"
	"os"
	"time"

	"github.com/airlock-dev/airlock/sdk/tool"
	"github.com/extism/go-pdk"
)

const tag = 0xA1B2C3D4

// bufferSize is the size of the buffers that make the memory grow.
const bufferSize = 4 << 20

var (
	global uint64
	heap   *[4]uint64
	big    []byte
	drawn  int64
	opened *os.File
)

type writeInput struct {
	N    uint64 `json:"n"`
	Grow bool   `json:"grow"`
	// Files makes it try to create files (a WASI call that taints the
	// worker: it is discarded after the call).
	Files bool `json:"files"`
	// End is how the call ends: "" returns normally, "error" returns a
	// tool error, "trap" makes a host function trap, "exit" calls
	// proc_exit, "spin" loops until the deadline.
	End string `json:"end"`
}

type writeOutput struct {
	Rand        int64 `json:"rand"`
	FileCreated bool  `json:"file_created"`
}

func mark(n uint64) uint64 { return tag<<32 | n }

func isMark(v uint64) bool { return v>>32 == tag }

//go:noinline
func onStack(m uint64) uint64 {
	var local [64]uint64
	for i := range local {
		local[i] = m
	}
	return local[len(local)-1]
}

func putWord(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

//go:wasmexport write
func write() int32 {
	var in writeInput
	if err := pdk.InputJSON(&in); err != nil {
		pdk.SetError(err)
		return 1
	}
	m := mark(in.N)
	global = m
	heap = &[4]uint64{m, m, m, onStack(m)}
	if in.Grow {
		big = make([]byte, bufferSize)
		for off := 0; off+8 <= len(big); off += 256 {
			putWord(big[off:], m)
		}
	}
	drawn = rand.Int63()
	created := false
	if !in.Files {
		// skip
	} else if err := os.WriteFile("/tmp/airlock-fresh-marker", []byte("x"), 0o600); err == nil {
		created = true
	}
	if !in.Files {
		// skip
	} else if f, err := os.Create("marker.txt"); err == nil {
		created, opened = true, f
	}
	switch in.End {
	case "error":
		pdk.SetError(errors.New("tool error after writing"))
		return 1
	case "trap":
		pdk.NewHTTPRequest(pdk.MethodGet, "http://127.0.0.1:9/").Send()
	case "exit":
		os.Exit(3)
	case "spin":
		for {
			global++
		}
	}
	pdk.OutputJSON(writeOutput{Rand: drawn, FileCreated: created})
	return 0
}

type probeInput struct {
	// Scan makes it allocate a buffer as large as the one "write" grows
	// the memory with and scan it for markers.
	Scan bool `json:"scan"`
}

type probeOutput struct {
	Global      bool  `json:"global"`
	Heap        bool  `json:"heap"`
	Big         bool  `json:"big"`
	Drawn       int64 `json:"drawn"`
	Found       int   `json:"found"`
	Rand        int64 `json:"rand"`
	FileVisible bool  `json:"file_visible"`
	ExtraFD     bool  `json:"extra_fd"`
	NowUnix     int64 `json:"now_unix"`
}

//go:wasmexport probe
func probe() int32 {
	return tool.Handle(func(in probeInput) (probeOutput, error) {
		out := probeOutput{
			Global:  global != 0,
			Heap:    heap != nil,
			Big:     big != nil,
			Drawn:   drawn,
			Rand:    rand.Int63(),
			NowUnix: time.Now().Unix(),
		}
		if in.Scan {
			fresh := make([]uint64, bufferSize/8)
			for _, v := range fresh {
				if isMark(v) {
					out.Found++
				}
			}
		}
		if _, err := os.Stat("/tmp/airlock-fresh-marker"); err == nil {
			out.FileVisible = true
		}
		if _, err := os.Stat("marker.txt"); err == nil {
			out.FileVisible = true
		}
		if _, err := os.NewFile(3, "fd3").Stat(); err == nil {
			out.ExtraFD = true
		}
		return out, nil
	})
}

func main() {}
