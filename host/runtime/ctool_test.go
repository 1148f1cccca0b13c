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

// A tool written in C against the Extism ABI (no SDK, no libc) loads, takes
// the fresh-state path (its code passes the table scan: nothing in it can
// change a table), answers, and starts every call from its snapshot: a
// static counter is 1 on every call, and a byte a call leaves in a static
// buffer is gone at the next.
func TestCToolRunsInFreshState(t *testing.T) {
	requireFresh(t)
	e, _ := fixture(t)
	ctx := context.Background()
	m, err := e.Load(ctx, ctoolWasm)
	if err != nil {
		t.Fatal(err)
	}
	if p := m.freshPool(ctx, freshPages, callTimeout); p == nil {
		t.Fatal("the C tool does not take the fresh-state path")
	}
	call := func(export, in string) string {
		t.Helper()
		out, err := e.Invoke(ctx, m, Call{Export: export, Input: []byte(in), Limits: Limits{MemoryPages: freshPages, Timeout: callTimeout}})
		if err != nil {
			t.Fatalf("%s: %v", export, err)
		}
		return string(out)
	}
	if got := call("echo", `{"message":"from C"}`); got != `{"message":"from C"}` {
		t.Fatalf("echo = %q", got)
	}
	for i := range 500 {
		if got := call("count", `{}`); got != `{"calls":1,"scratch":0}` {
			t.Fatalf("call %d of count = %s: state of an earlier call survived", i, got)
		}
	}
}
