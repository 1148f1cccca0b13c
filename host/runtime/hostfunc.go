package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/airlock-dev/airlock/abi"
	extism "github.com/extism/go-sdk"
)

// MaxHostRequestBytes caps the request a guest may pass to a host function.
// A larger request is answered with code "too_large" and never copied.
const MaxHostRequestBytes = 1 << 20

// HostHandler serves Airlock host functions (abi.Functions, import module
// abi.HostModule) for ONE invocation. Its methods are called from the
// goroutine running the guest, one at a time.
type HostHandler interface {
	// Allowed reports whether this invocation may call fn.
	Allowed(fn abi.Function) bool
	// Call gets a private copy of the guest's request bytes and returns the
	// JSON response bytes to write back into guest memory (an
	// abi.ErrorResponse JSON on failure).
	Call(ctx context.Context, fn abi.Function, req []byte) []byte
	// Denied is told when the guest calls a function that Allowed refused
	// (for the audit log).
	Denied(ctx context.Context, fn abi.Function)
}

// handlerKey is the context key under which Invoke passes the call's
// HostHandler to the host functions (Extism hands them the call's context).
type handlerKey struct{}

// hostFunctions defines every abi.Function as (i64) -> i64 in abi.HostModule.
// The functions are linked into every module; which of them do anything is
// decided per call by the HostHandler found in the context.
func (e *Engine) hostFunctions() []extism.HostFunction {
	fns := make([]extism.HostFunction, 0, len(abi.Functions))
	for _, fn := range abi.Functions {
		hf := extism.NewHostFunctionWithStack(fn.String(),
			func(ctx context.Context, p *extism.CurrentPlugin, stack []uint64) {
				mem := sdkBlocks{ctx: ctx, p: p}
				resp := serveHostCall(ctx, mem, fn, stack[0])
				off, err := mem.writeBlock(resp)
				if err != nil {
					// The guest's Extism memory is exhausted: end the call.
					panic(fmt.Errorf("runtime: writing %s response: %w", fn, err))
				}
				stack[0] = off
			},
			[]extism.ValueType{extism.ValueTypeI64},
			[]extism.ValueType{extism.ValueTypeI64})
		hf.SetNamespace(abi.HostModule)
		fns = append(fns, hf)
	}
	return fns
}

// blockMemory is the Extism memory of one call, as the host functions see
// it: the go-sdk's kernel memory on the fallback path, the call's arena on
// the fresh-state path.
type blockMemory interface {
	// blockLength is the length of the block starting at offset (0 if there
	// is none).
	blockLength(offset uint64) (uint64, error)
	// readBlock returns a view of n bytes at offset.
	readBlock(offset, n uint64) ([]byte, bool)
	// writeBlock allocates a block holding b and returns its offset.
	writeBlock(b []byte) (uint64, error)
}

// sdkBlocks is the blockMemory of a go-sdk plugin instance.
type sdkBlocks struct {
	ctx context.Context
	p   *extism.CurrentPlugin
}

func (s sdkBlocks) blockLength(offset uint64) (uint64, error) {
	return s.p.LengthWithContext(s.ctx, offset)
}

func (s sdkBlocks) readBlock(offset, n uint64) ([]byte, bool) {
	if offset > math.MaxUint32 || n > math.MaxUint32 {
		return nil, false
	}
	return s.p.Memory().Read(uint32(offset), uint32(n))
}

func (s sdkBlocks) writeBlock(b []byte) (uint64, error) { return s.p.WriteBytes(b) }

// serveHostCall answers one guest call of fn whose request is the Extism
// memory block at offset.
func serveHostCall(ctx context.Context, p blockMemory, fn abi.Function, offset uint64) []byte {
	h, ok := ctx.Value(handlerKey{}).(HostHandler)
	if !ok || h == nil {
		return errorResponse(abi.CodeUnavailable, "host function "+fn.String()+" unavailable")
	}
	if !h.Allowed(fn) {
		h.Denied(ctx, fn)
		return errorResponse(abi.CodeForbidden, "host function "+fn.String()+" not granted")
	}
	req, code := readRequest(p, offset)
	if code != "" {
		return errorResponse(code, "request to "+fn.String()+" "+requestProblem(code))
	}
	resp := h.Call(ctx, fn, req)
	if resp == nil {
		return errorResponse(abi.CodeUnavailable, "host function "+fn.String()+" gave no answer")
	}
	return resp
}

// readRequest copies the guest's request block out of Extism memory. The
// copy is private: the guest cannot change it after this returns.
func readRequest(p blockMemory, offset uint64) ([]byte, abi.Code) {
	if offset == 0 || offset > math.MaxUint32 {
		return nil, abi.CodeBadRequest
	}
	n, err := p.blockLength(offset)
	if err != nil || n == 0 {
		return nil, abi.CodeBadRequest
	}
	if n > MaxHostRequestBytes {
		return nil, abi.CodeTooLarge
	}
	view, ok := p.readBlock(offset, n)
	if !ok {
		return nil, abi.CodeBadRequest
	}
	return bytes.Clone(view), ""
}

func requestProblem(code abi.Code) string {
	if code == abi.CodeTooLarge {
		return fmt.Sprintf("over %d bytes", MaxHostRequestBytes)
	}
	return "is not a valid memory block"
}

// errorResponse encodes {"error": {"code", "message"}}.
func errorResponse(code abi.Code, msg string) []byte {
	b, err := json.Marshal(abi.ErrorResponse{Error: &abi.Error{Code: code, Message: msg}})
	if err != nil {
		// Cannot happen: both fields are strings.
		panic(err)
	}
	return b
}
