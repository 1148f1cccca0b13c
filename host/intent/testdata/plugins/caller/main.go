//go:build wasip1

// Command caller is a test plugin: "call" makes one nested tool_call and
// returns what came back (or the host's error as the tool error).
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import (
	"encoding/json"

	"github.com/airlock-dev/airlock/sdk/tool"
)

type input struct {
	Tool  string          `json:"tool"`
	Input json.RawMessage `json:"input"`
}

type output struct {
	Output json.RawMessage `json:"output"`
}

//go:wasmexport call
func call() int32 {
	return tool.Handle(func(in input) (output, error) {
		out, err := tool.ToolCall(in.Tool, in.Input)
		if err != nil {
			return output{}, err
		}
		return output{Output: out}, nil
	})
}

func main() {}
