package runtime

import (
	"context"
	_ "embed"
	"testing"
)

// ctoolWasm is testdata/c/ctool.c built with clang (`make testdata-c`).
//
//go:embed testdata/c/ctool.wasm
var ctoolWasm []byte

// rusttoolWasm is testdata/rust/rusttool.rs built with rustc
// (`make testdata-rust`).
//
//go:embed testdata/rust/rusttool.wasm
var rusttoolWasm []byte

// Tools written in C and in Rust against the Extism ABI (no SDK, no libc or
// std) load, take the fresh-state path (their mutable globals, such as
// Rust's stack pointer, are exported by the rewrite, and their code passes
// the table scan), answer, and start every call from the snapshot: a static
// counter is 1 on every call, and a byte a call leaves in a static buffer
// is gone at the next.
func TestToolsInOtherLanguagesRunInFreshState(t *testing.T) {
	requireFresh(t)
	for lang, wasm := range map[string][]byte{"c": ctoolWasm, "rust": rusttoolWasm} {
		t.Run(lang, func(t *testing.T) { testOtherLanguageTool(t, wasm) })
	}
}

func testOtherLanguageTool(t *testing.T, wasm []byte) {
	e, _ := fixture(t)
	ctx := context.Background()
	m, err := e.Load(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	if p := m.freshPool(ctx, freshPages, callTimeout); p == nil {
		t.Fatal("the tool does not take the fresh-state path")
	}
	call := func(export, in string) string {
		t.Helper()
		out, err := e.Invoke(ctx, m, Call{Export: export, Input: []byte(in), Limits: Limits{MemoryPages: freshPages, Timeout: callTimeout}})
		if err != nil {
			t.Fatalf("%s: %v", export, err)
		}
		return string(out)
	}
	if got := call("echo", `{"message":"not from Go"}`); got != `{"message":"not from Go"}` {
		t.Fatalf("echo = %q", got)
	}
	for i := range 500 {
		if got := call("count", `{}`); got != `{"calls":1,"scratch":0}` {
			t.Fatalf("call %d of count = %s: state of an earlier call survived", i, got)
		}
	}
}
