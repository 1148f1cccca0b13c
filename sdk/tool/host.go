//go:build wasip1

package tool

import (
	"encoding/json"
	"fmt"

	"github.com/airlock-dev/airlock/abi"
	"github.com/extism/go-pdk"
)

// Each Airlock host function is its own import so that the linker drops the
// ones a tool never calls (see the package doc's Security paragraph). The
// names must match abi.Functions; a test in this package checks them.

//go:wasmimport extism:host/user log
func hostLog(uint64) uint64

//go:wasmimport extism:host/user http_request
func hostHTTPRequest(uint64) uint64

//go:wasmimport extism:host/user fs_read
func hostFSRead(uint64) uint64

//go:wasmimport extism:host/user fs_write
func hostFSWrite(uint64) uint64

//go:wasmimport extism:host/user fs_list
func hostFSList(uint64) uint64

//go:wasmimport extism:host/user memory_put
func hostMemoryPut(uint64) uint64

//go:wasmimport extism:host/user memory_query
func hostMemoryQuery(uint64) uint64

//go:wasmimport extism:host/user memory_delete
func hostMemoryDelete(uint64) uint64

//go:wasmimport extism:host/user mail_send
func hostMailSend(uint64) uint64

//go:wasmimport extism:host/user tool_call
func hostToolCall(uint64) uint64

//go:wasmimport extism:host/user secret_present
func hostSecretPresent(uint64) uint64

// HostError is returned when the host answers a host function call with
// {"error": {"code", "message"}}, for example code "forbidden" when the
// caller's grant does not allow the function.
type HostError struct {
	Code    abi.Code
	Message string
}

// Error implements error.
func (e *HostError) Error() string {
	return fmt.Sprintf("host: %s: %s", e.Code, e.Message)
}

// call sends req as JSON to the host function fn and decodes its answer into
// resp (which may be nil when the answer carries nothing).
func call(name abi.Function, fn func(uint64) uint64, req, resp any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: encoding request: %w", name, err)
	}
	in := pdk.AllocateBytes(b)
	off := fn(in.Offset())
	in.Free()

	out := pdk.FindMemory(off)
	data := out.ReadBytes()
	if off != 0 {
		out.Free()
	}

	var env struct {
		Error *abi.Error `json:"error"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("%s: decoding answer: %w", name, err)
	}
	if env.Error != nil {
		return &HostError{Code: env.Error.Code, Message: env.Error.Message}
	}
	if resp == nil {
		return nil
	}
	if err := json.Unmarshal(data, resp); err != nil {
		return fmt.Errorf("%s: decoding answer: %w", name, err)
	}
	return nil
}

// Log writes message to the host's log at level (abi.LogDebug, LogInfo,
// LogWarn or LogError). The host caps the rate and size of log messages;
// Log drops any error, as there is nowhere to report it.
func Log(level, message string) {
	_ = call(abi.FuncLog, hostLog, abi.LogRequest{Level: level, Message: message}, nil)
}

// HTTPRequest sends req through the host's HTTP client (capability "http").
// The host enforces the grant's host allowlist and may inject credentials
// the tool never sees.
func HTTPRequest(req abi.HTTPRequest) (*abi.HTTPResponse, error) {
	var resp abi.HTTPResponse
	if err := call(abi.FuncHTTPRequest, hostHTTPRequest, req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// FSRead returns the contents of the file at path under the grant's read
// roots (capability "fs").
func FSRead(path string) ([]byte, error) {
	var resp abi.FSReadResponse
	if err := call(abi.FuncFSRead, hostFSRead, abi.FSReadRequest{Path: path}, &resp); err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// FSWrite writes data to the file at path under the grant's write roots
// (capability "fs").
func FSWrite(path string, data []byte) error {
	return call(abi.FuncFSWrite, hostFSWrite, abi.FSWriteRequest{Path: path, Data: data}, nil)
}

// FSList lists the directory at path under the grant's read roots
// (capability "fs").
func FSList(path string) ([]abi.FSEntry, error) {
	var resp abi.FSListResponse
	if err := call(abi.FuncFSList, hostFSList, abi.FSListRequest{Path: path}, &resp); err != nil {
		return nil, err
	}
	return resp.Entries, nil
}

// MemoryPut stores docs in the calling agent's memory (capability "memory").
func MemoryPut(docs []abi.Document) error {
	return call(abi.FuncMemoryPut, hostMemoryPut, abi.MemoryPutRequest{Documents: docs}, nil)
}

// MemoryQuery searches the calling agent's memory (capability "memory").
func MemoryQuery(q abi.MemoryQueryRequest) ([]abi.MemoryResult, error) {
	var resp abi.MemoryQueryResponse
	if err := call(abi.FuncMemoryQuery, hostMemoryQuery, q, &resp); err != nil {
		return nil, err
	}
	return resp.Results, nil
}

// MemoryDelete removes documents by id from the calling agent's memory
// (capability "memory").
func MemoryDelete(ids []string) error {
	return call(abi.FuncMemoryDelete, hostMemoryDelete, abi.MemoryDeleteRequest{IDs: ids}, nil)
}

// MailSend sends a mail to recipients the grant allows (capability "mail").
func MailSend(m abi.MailSendRequest) error {
	return call(abi.FuncMailSend, hostMailSend, m, nil)
}

// ToolCall invokes another tool under the caller's grant (capability
// "call") and returns its raw JSON output. input is encoded as JSON.
func ToolCall(tool string, input any) (json.RawMessage, error) {
	in, err := json.Marshal(input)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding input: %w", abi.FuncToolCall, err)
	}
	var resp abi.ToolCallResponse
	if err := call(abi.FuncToolCall, hostToolCall, abi.ToolCallRequest{Tool: tool, Input: in}, &resp); err != nil {
		return nil, err
	}
	return resp.Output, nil
}

// SecretPresent reports whether the secret name exists for this tool
// (capability "secrets"). Secret values never enter the sandbox.
func SecretPresent(name string) (bool, error) {
	var resp abi.SecretPresentResponse
	if err := call(abi.FuncSecretPresent, hostSecretPresent, abi.SecretPresentRequest{Name: name}, &resp); err != nil {
		return false, err
	}
	return resp.Present, nil
}
