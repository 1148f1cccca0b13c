//go:build wasip1

// Command echo is the smallest Airlock tool: "echo" returns its input
// message unchanged. It uses no host function and needs no capability, which
// makes it the reference module for round-trip and isolation checks.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o echo.wasm ./plugins/echo
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import "github.com/airlock-dev/airlock/sdk/tool"

type input struct {
	Message string `json:"message"`
}

type output struct {
	Message string `json:"message"`
}

// The JSON codecs of input and output are built while the module
// initialises, so they are in the snapshot every call starts from.
var _ = tool.Warm[input, output]()

//go:wasmexport echo
func echo() int32 {
	return tool.Handle(func(in input) (output, error) {
		return output(in), nil
	})
}

func main() {}
