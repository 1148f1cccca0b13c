// Package demo holds the end-to-end walkthrough behind `make demo`
// (run.sh) and the test that keeps it working.
package demo

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/wasmbuild"
)

// TestDemo runs run.sh exactly as `make demo` does, against a freshly built
// binary and freshly built plugins in a scratch directory, and checks that
// every step shows what it claims: the echoed message, a verified receipt, a
// refused unlisted tool, a refused schema-breaking input and a verified
// audit log.
func TestDemo(t *testing.T) {
	root, err := wasmbuild.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	bin := filepath.Join(work, "bin", "airlock")
	goBuild := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/airlock")
	goBuild.Dir = root
	if out, err := goBuild.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The build/plugins layout `make plugins` leaves: NAME/module.wasm and
	// NAME/manifest.json, relative to the directory the script runs in.
	plugins, err := filepath.Glob(filepath.Join(root, "plugins", "*", "manifest.json"))
	if err != nil || len(plugins) == 0 {
		t.Fatalf("no plugins under %s: %v", root, err)
	}
	for _, manifest := range plugins {
		src := filepath.Dir(manifest)
		dst := filepath.Join(work, "build", "plugins", filepath.Base(src))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		rel, err := filepath.Rel(root, src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "module.wasm"), wasmbuild.Build(t, rel), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := os.ReadFile(manifest)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "manifest.json"), m, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	script, err := filepath.Abs("run.sh")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "BIN="+bin, "DEMO_DIR="+filepath.Join(work, "demo"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("run.sh: %v\n%s", err, out.String())
	}

	got := out.String()
	for _, want := range []struct{ step, text string }{
		{"the tool ran and echoed the message", `"message": "hello from a sandboxed tool"`},
		{"the agent verified the host's receipt", "receipt verified"},
		{"a tool the grant does not list was refused", "forbidden"},
		{"input breaking the schema was refused", "schema_violation"},
		{"an MCP client saw the tool's description", "tools/list: echo.echo — Returns the given message unchanged."},
		{"an MCP client called the tool through airlock mcp", `tools/call echo.echo (error: false): {"message":"hello over MCP"}`},
		{"the audit log verified offline", "ok: "},
	} {
		if !strings.Contains(got, want.text) {
			t.Errorf("demo output lacks %q (%s)\n%s", want.text, want.step, got)
		}
	}
	if strings.Contains(got, "TAMPERED") {
		t.Errorf("audit verify found tampering\n%s", got)
	}
}
