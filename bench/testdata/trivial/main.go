//go:build wasip1

// Command trivial is the cheapest possible standard-Go tool, for Airlock's
// benchmarks: "trivial" ignores its input and answers a constant {"ok":true}
// without touching encoding/json. Next to plugins/echo (which decodes and
// encodes a small JSON object), it shows how much of a call is the Go
// runtime's instance cost rather than the tool's work.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o trivial.wasm ./bench/testdata/trivial
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import "github.com/extism/go-pdk"

var answer = []byte(`{"ok":true}`)

//go:wasmexport trivial
func trivial() int32 {
	pdk.Output(answer)
	return 0
}

func main() {}
