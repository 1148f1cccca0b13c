//go:build wasip1

package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import (
	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/sdk/tool"
)

// hostMemory is the calling agent's store through the host functions.
type hostMemory struct{}

func (hostMemory) Put(docs []abi.Document) error { return tool.MemoryPut(docs) }

func (hostMemory) Query(q abi.MemoryQueryRequest) ([]abi.MemoryResult, error) {
	return tool.MemoryQuery(q)
}

func (hostMemory) Delete(ids []string) error { return tool.MemoryDelete(ids) }

//go:wasmexport remember
func rememberExport() int32 {
	return tool.Handle(func(in rememberInput) (rememberOutput, error) { return remember(hostMemory{}, in) })
}

//go:wasmexport recall
func recallExport() int32 {
	return tool.Handle(func(in recallInput) (recallOutput, error) { return recall(hostMemory{}, in) })
}

//go:wasmexport forget
func forgetExport() int32 {
	return tool.Handle(func(in forgetInput) (forgetOutput, error) { return forget(hostMemory{}, in) })
}
