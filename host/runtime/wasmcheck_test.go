package runtime

import (
	"context"
	"errors"
	"testing"
)

// uleb encodes v as unsigned LEB128.
func uleb(v uint64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func section(id byte, content ...[]byte) []byte {
	c := cat(content...)
	return cat([]byte{id}, uleb(uint64(len(c))), c)
}

func module(sections ...[]byte) []byte {
	return cat(append([][]byte{[]byte("\x00asm\x01\x00\x00\x00")}, sections...)...)
}

func str(s string) []byte { return cat(uleb(uint64(len(s))), []byte(s)) }

var (
	typeVoid = section(1, uleb(1), []byte{0x60, 0x00, 0x00})
	funcSec  = section(3, uleb(1), uleb(0))
)

// TestCheckBoundsRefusesAllocationBombs lists modules of a few bytes that
// declare vectors, strings or tables far larger than themselves. Before
// checkBounds, the first one made wazero ask Go for 28 GiB and the host
// process died.
func TestCheckBoundsRefusesAllocationBombs(t *testing.T) {
	e, _ := fixture(t)
	body := func(b ...byte) []byte { return cat(uleb(uint64(len(b))), b) }
	tests := []struct {
		name string
		wasm []byte
	}{
		{name: "2^31 imports in 14 bytes (found by FuzzInspect)", wasm: []byte("\x00asm\x01\x00\x00\x00\x020\xff\xff\xff\x7f")},
		{name: "2^32-1 exports", wasm: module(section(7, uleb(0xffffffff)))},
		{name: "2^32-1 functions", wasm: module(section(3, uleb(0xffffffff), uleb(0)))},
		{name: "4 GiB import name", wasm: module(section(2, uleb(1), uleb(0xffffffff), []byte("env")))},
		{name: "2^32-1 parameters", wasm: module(section(1, uleb(1), []byte{0x60}, uleb(0xffffffff), []byte{0x7f}))},
		{name: "2^32-1 locals in one function", wasm: module(typeVoid, funcSec,
			section(10, uleb(1), body(cat(uleb(1), uleb(0xffffffff), []byte{0x7f, 0x0b})...)))},
		{name: "locals spread over entries past the limit", wasm: module(typeVoid, funcSec,
			section(10, uleb(1), body(cat(uleb(2), uleb(40000), []byte{0x7f}, uleb(40000), []byte{0x7f, 0x0b})...)))},
		{name: "table of 2^27 entries", wasm: module(section(4, uleb(1), []byte{0x70, 0x00}, uleb(1<<27)))},
		{name: "2^32-1 function names", wasm: module(section(0, str("name"), []byte{0x01}, uleb(5), uleb(0xffffffff)))},
		{name: "element segment of 2^32-1 functions", wasm: module(section(9, uleb(1), uleb(1), []byte{0x00}, uleb(0xffffffff)))},
		{name: "data segment longer than the module", wasm: module(section(11, uleb(1), uleb(1), uleb(0xffffffff)))},
		{name: "section size past the end", wasm: cat(module(), []byte{0x01}, uleb(0xffffffff))},
		{name: "overlong LEB128", wasm: module(section(3, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkBounds(tt.wasm); err == nil {
				t.Fatal("checkBounds accepted the module")
			}
			if _, err := e.Inspect(context.Background(), tt.wasm); !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("Inspect error = %v, want ErrInvalidModule", err)
			}
		})
	}
}

// TestCheckBoundsAcceptsValidModules makes sure the check does not refuse
// what wazero runs: every section kind, and the real plugins.
func TestCheckBoundsAcceptsValidModules(t *testing.T) {
	e, _ := fixture(t)
	every := module(
		typeVoid,
		section(2, uleb(1), str("env"), str("g"), []byte{0x03, 0x7f, 0x00}),
		funcSec,
		section(4, uleb(1), []byte{0x70, 0x00, 0x01}),
		section(5, uleb(1), []byte{0x00, 0x01}),
		section(6, uleb(1), []byte{0x7f, 0x00, 0x41, 0x2a, 0x0b}),
		section(7, uleb(1), str("f"), []byte{0x00, 0x00}),
		section(9, uleb(1), uleb(0), []byte{0x41, 0x00, 0x0b}, uleb(1), uleb(0)),
		section(12, uleb(1)),
		section(10, uleb(1), uleb(4), []byte{0x01, 0x01, 0x7f, 0x0b}),
		section(11, uleb(1), uleb(0), []byte{0x41, 0x00, 0x0b}, str("hi")),
		section(0, str("name"), []byte{0x01}, uleb(4), uleb(1), uleb(0), str("f")),
	)
	cases := map[string][]byte{"every section kind": every}
	for name, wasm := range shared.wasm {
		cases["plugin "+name] = wasm
	}
	for name, wasm := range cases {
		t.Run(name, func(t *testing.T) {
			if err := checkBounds(wasm); err != nil {
				t.Fatalf("checkBounds refused a valid module: %v", err)
			}
			if _, err := e.Inspect(context.Background(), wasm); err != nil {
				t.Fatalf("Inspect: %v", err)
			}
		})
	}
}
