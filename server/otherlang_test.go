package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/internal/wasmbuild"
)

// toolManifest describes host/runtime/testdata/c/ctool.wasm and
// host/runtime/testdata/rust/rusttool.wasm, which export the same tools.
const toolManifest = `{
  "name": "NAME", "version": "1.0.0", "publisher": "", "module_sha256": "", "abi": "airlock/v1",
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

// Tools written in C and in Rust (Extism ABI, no SDK) are packed, signed,
// installed and called like any other: the import policy accepts their
// kernel imports, the schemas are enforced, and every call starts from
// fresh state.
func TestToolsInOtherLanguagesThroughTheHost(t *testing.T) {
	root, err := wasmbuild.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t)
	g := h.Grant(t, nil)
	for name, file := range map[string]string{"ctool": "c/ctool.wasm", "rusttool": "rust/rusttool.wasm"} {
		t.Run(name, func(t *testing.T) {
			module, err := os.ReadFile(filepath.Join(root, "host", "runtime", "testdata", filepath.FromSlash(file)))
			if err != nil {
				t.Fatal(err)
			}
			b, err := bundle.Build([]byte(strings.Replace(toolManifest, "NAME", name, 1)), module, h.PublisherKey())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.Operator().Install(context.Background(), hosttest.DefaultRealm, hosttest.BundleBytes(t, b)); err != nil {
				t.Fatalf("install: %v", err)
			}
			if out := wantOutput(t, invoke(t, h.Agent(), name+"/echo", `{"message":"not from Go"}`, g)); string(out) != `{"message":"not from Go"}` {
				t.Fatalf("%s/echo = %s", name, out)
			}
			if resp := invoke(t, h.Agent(), name+"/echo", `{"message":1}`, g); resp.Status != 422 {
				t.Fatalf("schema-breaking input: %d %s", resp.Status, resp.Body)
			}
			for i := range 50 {
				if out := wantOutput(t, invoke(t, h.Agent(), name+"/count", `{}`, g)); string(out) != `{"calls":1,"scratch":0}` {
					t.Fatalf("intent %d: %s/count = %s: an earlier call's state survived", i, name, out)
				}
			}
		})
	}
}
