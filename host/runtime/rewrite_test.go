package runtime

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Hand-built modules for the rewriter (binary format, section by section).
var (
	wasmHeader = "\x00asm\x01\x00\x00\x00"
	secType    = "\x01\x04\x01\x60\x00\x00"                             // () -> ()
	secFunc    = "\x03\x02\x01\x00"                                     // one function of type 0
	secMemory  = "\x05\x03\x01\x00\x01"                                 // one memory, min 1 page
	secGlobals = "\x06\x0b\x02\x7f\x01\x41\x05\x0b\x7e\x00\x42\x07\x0b" // mut i32 = 5, const i64 = 7
	secCode    = "\x0a\x04\x01\x02\x00\x0b"                             // empty body
	secCustomA = "\x00\x03\x01ax"                                       // custom sections
	secCustomB = "\x00\x03\x01bx"
	secCustomC = "\x00\x03\x01cx"
	// exportFunc exports function 0 as "f".
	secExportFunc = "\x07\x05\x01\x01f\x00\x00"
)

func wasmOf(sections ...string) []byte {
	b := []byte(wasmHeader)
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

// instantiateBare compiles and instantiates wasm (no imports) with wazero.
func instantiateBare(t *testing.T, wasm []byte) api.Module {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	t.Cleanup(func() { _ = rt.Close(ctx) })
	mod, err := rt.Instantiate(ctx, wasm)
	if err != nil {
		t.Fatalf("rewritten module does not instantiate: %v", err)
	}
	return mod
}

func TestExportMutableGlobals(t *testing.T) {
	tests := []struct {
		name string
		wasm []byte
	}{
		{name: "no export section", wasm: wasmOf(secType, secFunc, secMemory, secGlobals, secCode)},
		{name: "existing export section", wasm: wasmOf(secType, secFunc, secMemory, secGlobals, secExportFunc, secCode)},
		{name: "custom sections around", wasm: wasmOf(secCustomA, secType, secFunc, secMemory, secGlobals, secCustomB, secCode, secCustomC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, layout, err := exportMutableGlobals(tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if len(layout.globals) != 1 || layout.globals[0] != 0 || layout.problem() != "" {
				t.Fatalf("layout = %+v, want the mutable global 0 and no problem", layout)
			}
			mod := instantiateBare(t, out)
			g, ok := mod.ExportedGlobal("__airlock_global_0").(api.MutableGlobal)
			if !ok || g.Get() != 5 {
				t.Fatalf("global 0 not exported as a mutable global of value 5: %v", g)
			}
			if mod.ExportedGlobal("__airlock_global_1") != nil {
				t.Fatal("the immutable global was exported")
			}
			if bytes.Contains(tt.wasm, []byte(secExportFunc)) && mod.ExportedFunction("f") == nil {
				t.Fatal("the module's own export was lost")
			}
			again, _, err := exportMutableGlobals(out)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("rewrite is not idempotent: %v", err)
			}
		})
	}
}

func TestExportMutableGlobalsOfTestPlugins(t *testing.T) {
	e, _ := fixture(t)
	for name, wasm := range shared.wasm {
		t.Run(name, func(t *testing.T) {
			out, layout, err := exportMutableGlobals(wasm)
			if err != nil {
				t.Fatal(err)
			}
			if len(layout.globals) == 0 || layout.problem() != "" {
				t.Fatalf("layout = %+v", layout)
			}
			info, err := e.Inspect(context.Background(), out)
			if err != nil {
				t.Fatalf("rewritten module does not validate: %v", err)
			}
			orig, err := e.Inspect(context.Background(), wasm)
			if err != nil {
				t.Fatal(err)
			}
			if len(info.Imports) != len(orig.Imports) || len(info.Exports) != len(orig.Exports) {
				t.Fatalf("rewrite changed the function imports or exports: %+v vs %+v", info, orig)
			}
			again, _, err := exportMutableGlobals(out)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("rewrite is not idempotent: %v", err)
			}
		})
	}
}

func TestExportMutableGlobalsRefuses(t *testing.T) {
	tests := []struct {
		name string
		wasm []byte
	}{
		{name: "empty", wasm: nil},
		{name: "not wasm", wasm: []byte("#!/bin/sh\n")},
		{name: "truncated global section", wasm: wasmOf(secType, secFunc, secMemory, secGlobals[:6])},
		{name: "trailing bytes in the global section", wasm: wasmOf(secType, secFunc, secMemory,
			"\x06\x0c\x02\x7f\x01\x41\x05\x0b\x7e\x00\x42\x07\x0b\x00", secCode)},
		{name: "reserved name on a function", wasm: wasmOf(secType, secFunc, secMemory, secGlobals,
			"\x07\x16\x01\x12__airlock_global_0\x00\x00", secCode)},
		{name: "reserved name on the wrong global", wasm: wasmOf(secType, secFunc, secMemory, secGlobals,
			"\x07\x16\x01\x12__airlock_global_0\x03\x01", secCode)},
		{name: "reserved name on an immutable global", wasm: wasmOf(secType, secFunc, secMemory, secGlobals,
			"\x07\x16\x01\x12__airlock_global_1\x03\x01", secCode)},
		{name: "non-canonical reserved name", wasm: wasmOf(secType, secFunc, secMemory, secGlobals,
			"\x07\x17\x01\x13__airlock_global_00\x03\x00", secCode)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := exportMutableGlobals(tt.wasm); !errors.Is(err, errRewrite) {
				t.Fatalf("error = %v, want errRewrite", err)
			}
		})
	}
}

func TestExportMutableGlobalsReportsProblems(t *testing.T) {
	tests := []struct {
		name, want string
		wasm       []byte
	}{
		{name: "imported global", want: "imports a global", wasm: wasmOf(secType,
			"\x02\x0a\x01\x03env\x01g\x03\x7f\x00", secFunc, secMemory, secGlobals, secCode)},
		{name: "no memory", want: "does not define exactly one memory", wasm: wasmOf(secType, secFunc, secGlobals, secCode)},
		{name: "passive data segment", want: "has a passive data segment", wasm: wasmOf(secType, secFunc, secMemory, secGlobals,
			"\x0c\x01\x01", secCode, "\x0b\x04\x01\x01\x01x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, layout, err := exportMutableGlobals(tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if layout.problem() != tt.want {
				t.Fatalf("problem = %q, want %q", layout.problem(), tt.want)
			}
		})
	}
	// With an imported global first, the defined mutable global is index 1.
	out, layout, err := exportMutableGlobals(tests[0].wasm)
	if err != nil || len(layout.globals) != 1 || layout.globals[0] != 1 {
		t.Fatalf("layout = %+v, %v", layout, err)
	}
	if !bytes.Contains(out, []byte("__airlock_global_1\x03\x01")) {
		t.Fatal("global 1 not exported as __airlock_global_1")
	}
}

func FuzzExportMutableGlobals(f *testing.F) {
	f.Add([]byte{})
	f.Add(wasmOf(secType, secFunc, secMemory, secGlobals, secCode))
	f.Add(wasmOf(secCustomA, secType, secFunc, secMemory, secGlobals, secExportFunc, secCode))
	f.Add(wasmOf(secType, "\x02\x0a\x01\x03env\x01g\x03\x7f\x01", secFunc, secMemory, secGlobals, secCode))
	// code the table scan walks: a block, table.set, SIMD, a prefixed op
	f.Add(wasmOf(secType, secFunc, "\x04\x04\x01\x70\x00\x01", secMemory,
		codeOf("\x02\x40\x41\x00\xd0\x70\x26\x00\x0b\xfd\x0c"+strings.Repeat("\x01", 16)+"\x1a\xd0\x70\x41\x01\xfc\x0f\x00\x1a\x0b")))
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	f.Cleanup(func() { _ = rt.Close(ctx) })
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, layout, err := exportMutableGlobals(wasm)
		if err != nil {
			if !errors.Is(err, errRewrite) {
				t.Fatalf("error %v does not wrap errRewrite", err)
			}
			return
		}
		if layout == nil {
			t.Fatal("nil layout without error")
		}
		problem := layout.problem() // the table scan, on the same untrusted bytes
		again, _, err := exportMutableGlobals(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %v", err)
		}
		// A module wazero accepts stays one it accepts.
		if cm, err := rt.CompileModule(ctx, wasm); err == nil {
			_ = cm.Close(ctx)
			// The table scan reads every instruction of a module wazero
			// accepts (its default features): if it lost its place in
			// the code it would stop on an instruction it does not know.
			if strings.HasPrefix(problem, "has code the table scan cannot read") {
				t.Fatalf("valid module: %s", problem)
			}
			cm2, err := rt.CompileModule(ctx, out)
			if err != nil {
				t.Fatalf("valid module rewritten into an invalid one: %v", err)
			}
			_ = cm2.Close(ctx)
		}
	})
}
