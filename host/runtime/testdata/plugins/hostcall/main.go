//go:build wasip1

// Command hostcall is a test tool that calls the log host function directly
// and returns the host's raw answer.
//
// After the call it overwrites its request block in Extism memory, so a host
// that kept a view of guest memory instead of a copy would see the change.
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import (
	"encoding/json"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/sdk/tool"
	"github.com/extism/go-pdk"
)

//go:wasmimport extism:host/user log
func hostLog(uint64) uint64

type input struct {
	Message string `json:"message"`
}

type output struct {
	Answer string `json:"answer"`
}

//go:wasmexport hostcall
func hostcall() int32 {
	return tool.Handle(func(in input) (output, error) {
		req, err := json.Marshal(abi.LogRequest{Level: abi.LogInfo, Message: in.Message})
		if err != nil {
			return output{}, err
		}
		mem := pdk.AllocateBytes(req)
		off := hostLog(mem.Offset())
		for i := range req {
			req[i] = 'X'
		}
		mem.Store(req)
		answer := pdk.FindMemory(off)
		return output{Answer: string(answer.ReadBytes())}, nil
	})
}

func main() {}
