package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"
	"unsafe"

	"github.com/airlock-dev/airlock/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Import modules of the Extism ABI.
const (
	extismEnvModule = "extism:host/env"
	wasiModule      = "wasi_snapshot_preview1"
)

// maxVarBytes is the size of a call's Extism variable store (the go-sdk's
// default).
const maxVarBytes = 1 << 20

// arenaBase is the first offset the arena hands out: 0 means "no block".
const arenaBase = 8

// callState is everything Extism-side of ONE call on the fresh-state path:
// the Extism memory (an arena of Go bytes, not guest memory), the input,
// output, error and variables. It is created for the call and dropped after
// it, so none of it can reach another call.
type callState struct {
	host   HostHandler
	arena  []byte  // Extism memory; arena[:arenaBase] is never handed out
	limit  uint64  // largest arena size
	peak   uint64  // largest size the arena reached
	blocks []block // allocated blocks, by offset

	inputOff, inputLen   uint64
	outputOff, outputLen uint64
	errorOff             uint64

	vars map[string][]byte

	// init is set while the module's initialisation runs for a snapshot:
	// any use of the Extism or Airlock host functions, or of a WASI function
	// that changes host-side state, sets tainted and the module keeps the
	// fallback path.
	init bool
	// tainted is set when the guest changed host-side state the snapshot
	// does not restore (WASI descriptors, see wasiStateFunctions): the
	// worker is not reused.
	tainted bool
	// taintedBy names the first function that tainted the call.
	taintedBy string
}

type block struct {
	off, n uint64
	free   bool
}

// callStateKey is the context key of the call's *callState.
type callStateKey struct{}

func stateOf(ctx context.Context) *callState {
	cs, ok := ctx.Value(callStateKey{}).(*callState)
	if !ok {
		panic(errors.New("runtime: host function called outside a call"))
	}
	return cs
}

func newCallState(host HostHandler, input []byte, limit uint64) (*callState, error) {
	cs := &callState{host: host, limit: limit}
	cs.arena = make([]byte, arenaBase, arenaBase+len(input)+1024)
	if len(input) > 0 {
		off := cs.alloc(uint64(len(input)))
		if off == 0 {
			return nil, errors.New("input over the memory limit")
		}
		copy(cs.arena[off:], input)
		cs.inputOff, cs.inputLen = off, uint64(len(input))
	}
	return cs, nil
}

// alloc returns the offset of a new block of n bytes, or 0 when n is 0 or
// the arena would pass its limit (what the Extism kernel does when its
// memory cannot grow).
func (cs *callState) alloc(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	off := uint64(len(cs.arena))
	if n > cs.limit || off > cs.limit-n {
		cs.peak = cs.limit // out of Extism memory counts as out of memory
		return 0
	}
	end := off + n
	if end > uint64(cap(cs.arena)) {
		grown := make([]byte, end, max(end, 2*uint64(cap(cs.arena))))
		copy(grown, cs.arena)
		cs.arena = grown
	} else {
		cs.arena = cs.arena[:end]
		clear(cs.arena[off:end]) // bytes of freed blocks handed out again
	}
	cs.peak = max(cs.peak, end)
	cs.blocks = append(cs.blocks, block{off: off, n: n})
	return off
}

func (cs *callState) find(off uint64) int {
	i := sort.Search(len(cs.blocks), func(i int) bool { return cs.blocks[i].off >= off })
	if i < len(cs.blocks) && cs.blocks[i].off == off && !cs.blocks[i].free {
		return i
	}
	return -1
}

// free releases the block at off; freed blocks at the end of the arena are
// given back so a loop of alloc and free does not grow it.
func (cs *callState) free(off uint64) {
	i := cs.find(off)
	if i < 0 {
		return
	}
	cs.blocks[i].free = true
	for len(cs.blocks) > 0 && cs.blocks[len(cs.blocks)-1].free {
		last := cs.blocks[len(cs.blocks)-1]
		cs.blocks = cs.blocks[:len(cs.blocks)-1]
		cs.arena = cs.arena[:last.off]
	}
}

func (cs *callState) length(off uint64) uint64 {
	if i := cs.find(off); i >= 0 {
		return cs.blocks[i].n
	}
	return 0
}

// bytesAt returns arena[off:off+n], or false when that is out of range.
func (cs *callState) bytesAt(off, n uint64) ([]byte, bool) {
	if off > uint64(len(cs.arena)) || n > uint64(len(cs.arena))-off {
		return nil, false
	}
	return cs.arena[off : off+n], true
}

// mustBytes is bytesAt for guest accesses: out of range traps, as an out of
// bounds access to the kernel's memory does.
func (cs *callState) mustBytes(off, n uint64) []byte {
	b, ok := cs.bytesAt(off, n)
	if !ok {
		panic(fmt.Errorf("extism memory access out of bounds: %d+%d", off, n))
	}
	return b
}

// block returns a copy of the block at off (empty when there is none).
func (cs *callState) block(off uint64) []byte {
	b, _ := cs.bytesAt(off, cs.length(off))
	return append([]byte(nil), b...)
}

// output returns the output block, empty if it is out of range (the go-sdk
// reads it the same way).
func (cs *callState) output() []byte {
	b, _ := cs.bytesAt(cs.outputOff, cs.outputLen)
	return append([]byte{}, b...)
}

// errorMessage returns what the guest passed to error_set ("" if nothing).
func (cs *callState) errorMessage() string {
	if cs.errorOff == 0 {
		return ""
	}
	b, _ := cs.bytesAt(cs.errorOff, cs.length(cs.errorOff))
	return string(b)
}

// blockMemory for the Airlock host functions.
func (cs *callState) blockLength(off uint64) (uint64, error) { return cs.length(off), nil }
func (cs *callState) readBlock(off, n uint64) ([]byte, bool) { return cs.bytesAt(off, n) }
func (cs *callState) writeBlock(b []byte) (uint64, error) {
	off := cs.alloc(uint64(len(b)))
	if off == 0 && len(b) > 0 {
		return 0, errors.New("extism memory exhausted")
	}
	copy(cs.arena[off:], b)
	return off, nil
}

// taint marks the call tainted by function name.
func (cs *callState) taint(name string) {
	if !cs.tainted {
		cs.tainted, cs.taintedBy = true, name
	}
}

// taintInit taints an initialisation (only).
func (cs *callState) taintInit(name string) {
	if cs.init {
		cs.taint(name)
	}
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// envFunction is one function of extism:host/env.
type envFunction struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      func(cs *callState, stack []uint64)
}

// envFunctions implement the Extism kernel ABI (extism:host/env, as the
// go-sdk v1.7 defines it) over a callState. Extism's own http_request
// refuses every request, as on the fallback path (no allowed hosts); its
// log functions drop the message.
var envFunctions = []envFunction{
	{"alloc", []api.ValueType{i64}, []api.ValueType{i64}, func(cs *callState, s []uint64) { s[0] = cs.alloc(s[0]) }},
	{"free", []api.ValueType{i64}, nil, func(cs *callState, s []uint64) { cs.free(s[0]) }},
	{"length", []api.ValueType{i64}, []api.ValueType{i64}, func(cs *callState, s []uint64) { s[0] = cs.length(s[0]) }},
	{"length_unsafe", []api.ValueType{i64}, []api.ValueType{i64}, func(cs *callState, s []uint64) { s[0] = cs.length(s[0]) }},
	{"load_u8", []api.ValueType{i64}, []api.ValueType{i32}, func(cs *callState, s []uint64) { s[0] = uint64(cs.mustBytes(s[0], 1)[0]) }},
	{"load_u64", []api.ValueType{i64}, []api.ValueType{i64}, func(cs *callState, s []uint64) { s[0] = le64(cs.mustBytes(s[0], 8)) }},
	{"store_u8", []api.ValueType{i64, i32}, nil, func(cs *callState, s []uint64) { cs.mustBytes(s[0], 1)[0] = byte(s[1]) }},
	{"store_u64", []api.ValueType{i64, i64}, nil, func(cs *callState, s []uint64) { put64(cs.mustBytes(s[0], 8), s[1]) }},
	{"input_offset", nil, []api.ValueType{i64}, func(cs *callState, s []uint64) { s[0] = cs.inputOff }},
	{"input_length", nil, []api.ValueType{i64}, func(cs *callState, s []uint64) { s[0] = cs.inputLen }},
	{"input_load_u8", []api.ValueType{i64}, []api.ValueType{i32}, func(cs *callState, s []uint64) {
		s[0] = uint64(cs.mustBytes(cs.inputOff+s[0], 1)[0])
	}},
	{"input_load_u64", []api.ValueType{i64}, []api.ValueType{i64}, func(cs *callState, s []uint64) {
		s[0] = le64(cs.mustBytes(cs.inputOff+s[0], 8))
	}},
	{"input_set", []api.ValueType{i64, i64}, nil, func(cs *callState, s []uint64) { cs.inputOff, cs.inputLen = s[0], s[1] }},
	{"output_set", []api.ValueType{i64, i64}, nil, func(cs *callState, s []uint64) { cs.outputOff, cs.outputLen = s[0], s[1] }},
	{"output_offset", nil, []api.ValueType{i64}, func(cs *callState, s []uint64) { s[0] = cs.outputOff }},
	{"output_length", nil, []api.ValueType{i64}, func(cs *callState, s []uint64) { s[0] = cs.outputLen }},
	{"error_set", []api.ValueType{i64}, nil, func(cs *callState, s []uint64) { cs.errorOff = s[0] }},
	{"error_get", nil, []api.ValueType{i64}, func(cs *callState, s []uint64) { s[0] = cs.errorOff }},
	{"memory_bytes", nil, []api.ValueType{i64}, func(cs *callState, s []uint64) { s[0] = uint64(len(cs.arena)) }},
	{"reset", nil, nil, func(cs *callState, _ []uint64) {
		cs.arena, cs.blocks = cs.arena[:arenaBase], nil
		cs.inputOff, cs.inputLen, cs.outputOff, cs.outputLen, cs.errorOff = 0, 0, 0, 0, 0
	}},
	{"config_get", []api.ValueType{i64}, []api.ValueType{i64}, func(_ *callState, s []uint64) { s[0] = 0 }},
	{"var_get", []api.ValueType{i64}, []api.ValueType{i64}, func(cs *callState, s []uint64) {
		name := cs.block(s[0])
		cs.free(s[0])
		v, ok := cs.vars[string(name)]
		if !ok {
			s[0] = 0
			return
		}
		off, err := cs.writeBlock(v)
		if err != nil {
			panic(fmt.Errorf("failed to write var value to memory: %w", err))
		}
		s[0] = off
	}},
	{"var_set", []api.ValueType{i64, i64}, nil, func(cs *callState, s []uint64) {
		name := string(cs.block(s[0]))
		cs.free(s[0])
		if s[1] == 0 {
			delete(cs.vars, name)
			return
		}
		value := cs.block(s[1])
		cs.free(s[1])
		const entry = int(unsafe.Sizeof([]byte{}) + unsafe.Sizeof(""))
		size := entry + len(name) + len(value)
		for k, v := range cs.vars {
			size += entry + len(k) + len(v)
		}
		if size >= maxVarBytes {
			panic(errors.New("variable store is full"))
		}
		if cs.vars == nil {
			cs.vars = map[string][]byte{}
		}
		cs.vars[name] = value
	}},
	{"http_request", []api.ValueType{i64, i64}, []api.ValueType{i64}, func(cs *callState, s []uint64) {
		raw := cs.block(s[0])
		cs.free(s[0])
		var req struct {
			URL string `json:"url"`
		}
		if err := json.Unmarshal(raw, &req); err != nil {
			panic(fmt.Errorf("invalid http request: %w", err))
		}
		if _, err := url.Parse(req.URL); err != nil {
			panic(fmt.Errorf("invalid url: %w", err))
		}
		panic(fmt.Errorf("HTTP request to '%v' is not allowed", req.URL))
	}},
	{"http_status_code", nil, []api.ValueType{i32}, func(_ *callState, s []uint64) { s[0] = 0 }},
	{"http_headers", nil, []api.ValueType{i64}, func(_ *callState, s []uint64) { s[0] = 0 }},
	{"get_log_level", nil, []api.ValueType{i32}, func(_ *callState, s []uint64) { s[0] = uint64(math.MaxInt32) }},
	{"log_trace", []api.ValueType{i64}, nil, func(cs *callState, s []uint64) { cs.free(s[0]) }},
	{"log_debug", []api.ValueType{i64}, nil, func(cs *callState, s []uint64) { cs.free(s[0]) }},
	{"log_info", []api.ValueType{i64}, nil, func(cs *callState, s []uint64) { cs.free(s[0]) }},
	{"log_warn", []api.ValueType{i64}, nil, func(cs *callState, s []uint64) { cs.free(s[0]) }},
	{"log_error", []api.ValueType{i64}, nil, func(cs *callState, s []uint64) { cs.free(s[0]) }},
}

// envHarmlessDuringInit are the env functions an initialisation may call
// without its snapshot depending on call state.
var envHarmlessDuringInit = map[string]bool{"get_log_level": true}

// instantiateEnv defines extism:host/env in rt.
func instantiateEnv(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(extismEnvModule)
	for _, f := range envFunctions {
		harmless := envHarmlessDuringInit[f.name]
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
			cs := stateOf(ctx)
			if !harmless {
				cs.taintInit(f.name)
			}
			f.fn(cs, stack)
		}), f.params, f.results).Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// instantiateUser defines Airlock's host functions (abi.HostModule) in rt,
// served by the call's HostHandler through its callState.
func instantiateUser(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.HostModule)
	for _, fn := range abi.Functions {
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
			cs := stateOf(ctx)
			cs.taintInit(fn.String())
			resp := serveHostCall(ctx, cs, fn, stack[0])
			off, err := cs.writeBlock(resp)
			if err != nil {
				panic(fmt.Errorf("runtime: writing %s response: %w", fn, err))
			}
			stack[0] = off
		}), []api.ValueType{i64}, []api.ValueType{i64}).Export(fn.String())
	}
	_, err := b.Instantiate(ctx)
	return err
}

// envKnown reports whether the fresh-state host implements the function
// import mod.name.
func envKnown(mod, name string) bool {
	switch mod {
	case extismEnvModule:
		for _, f := range envFunctions {
			if f.name == name {
				return true
			}
		}
		return false
	case abi.HostModule:
		for _, fn := range abi.Functions {
			if fn.String() == name {
				return true
			}
		}
		return false
	case wasiModule:
		return !strings.ContainsRune(name, 0)
	}
	return false
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func put64(b []byte, v uint64) {
	_ = b[7]
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}
