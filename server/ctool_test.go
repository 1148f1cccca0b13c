package server_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/internal/wasmbuild"
)

// ctoolManifest describes host/runtime/testdata/c/ctool.wasm.
const ctoolManifest = `{
  "name": "ctool", "version": "1.0.0", "publisher": "", "module_sha256": "", "abi": "airlock/v1",
  "tools": [
    {"name": "echo", "description": "Returns its input unchanged (C).",
     "input_schema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"], "additionalProperties": false},
     "output_schema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
     "capabilities": [], "approval": false},
    {"name": "count", "description": "A static counter and a byte left by the previous call (C).",
     "input_schema": {"type": "object"},
     "output_schema": {"type": "object", "properties": {"calls": {"type": "integer"}, "scratch": {"type": "integer"}}, "required": ["calls", "scratch"]},
     "capabilities": [], "approval": false}
  ],
  "secrets": [], "limits": {"memory_mb": 16, "timeout_ms": 2000}
}`

// A tool written in C (Extism ABI, no SDK, no libc) is packed, signed,
// installed and called like any other: the import policy accepts its
// kernel imports, the schemas are enforced, and every call starts from
// fresh state.
func TestCToolThroughTheHost(t *testing.T) {
	root, err := wasmbuild.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	module, err := os.ReadFile(filepath.Join(root, "host", "runtime", "testdata", "c", "ctool.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t)
	b, err := bundle.Build([]byte(ctoolManifest), module, h.PublisherKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Operator().Install(context.Background(), hosttest.DefaultRealm, hosttest.BundleBytes(t, b)); err != nil {
		t.Fatalf("install: %v", err)
	}
	g := h.Grant(t, nil)
	if out := wantOutput(t, invoke(t, h.Agent(), "ctool/echo", `{"message":"written in C"}`, g)); string(out) != `{"message":"written in C"}` {
		t.Fatalf("ctool/echo = %s", out)
	}
	if resp := invoke(t, h.Agent(), "ctool/echo", `{"message":1}`, g); resp.Status != 422 {
		t.Fatalf("schema-breaking input: %d %s", resp.Status, resp.Body)
	}
	for i := range 50 {
		if out := wantOutput(t, invoke(t, h.Agent(), "ctool/count", `{}`, g)); string(out) != `{"calls":1,"scratch":0}` {
			t.Fatalf("intent %d: ctool/count = %s: an earlier call's state survived", i, out)
		}
	}
}
