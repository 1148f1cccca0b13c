//go:build wasip1

// Command coldecho is plugins/echo without tool.Warm: its JSON codecs are
// built by each call instead of at initialisation. The benchmarks run it
// next to go-echo to show what Warm saves.
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import "github.com/airlock-dev/airlock/sdk/tool"

type input struct {
	Message string `json:"message"`
}

type output struct {
	Message string `json:"message"`
}

//go:wasmexport echo
func echo() int32 {
	return tool.Handle(func(in input) (output, error) {
		return output(in), nil
	})
}

func main() {}
