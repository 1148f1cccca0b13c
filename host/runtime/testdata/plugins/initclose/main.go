//go:build wasip1

// Command initclose is a test tool that cannot take the fresh-state path:
// its initialisation closes standard input (WASI fd_close), host-side state
// a snapshot would not carry. "echo" returns its input message and whether
// standard input is closed, so the fallback path can be checked.
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import (
	"os"

	"github.com/airlock-dev/airlock/sdk/tool"
)

var closeErr = os.Stdin.Close()

type input struct {
	Message string `json:"message"`
}

type output struct {
	Message     string `json:"message"`
	StdinClosed bool   `json:"stdin_closed"`
}

//go:wasmexport echo
func echo() int32 {
	return tool.Handle(func(in input) (output, error) {
		return output{Message: in.Message, StdinClosed: closeErr == nil}, nil
	})
}

func main() {}
