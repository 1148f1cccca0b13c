//go:build wasip1

// Command trivial is the smallest possible tool, for benchmarks: "run"
// ignores its input and returns "ok" through the Extism PDK, with no JSON
// and no allocation of its own.
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import "github.com/extism/go-pdk"

//go:wasmexport run
func run() int32 {
	pdk.OutputString("ok")
	return 0
}

func main() {}
