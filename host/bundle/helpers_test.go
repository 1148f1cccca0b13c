package bundle

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/identity"
)

// newKey returns a fresh Ed25519 publisher key.
func newKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testModule stands in for a Wasm module: bundle never runs it.
var testModule = []byte("\x00asm\x01\x00\x00\x00 pretend module")

// templateMap returns a plugin source manifest as a map, for tests to mutate.
func templateMap() map[string]any {
	return map[string]any{
		"name":    "web",
		"version": "1.2.0",
		"abi":     "airlock/v1",
		"tools": []any{
			map[string]any{
				"name":        "fetch",
				"description": "Fetch a URL <as text> & return it",
				"input_schema": map[string]any{
					"type":                 "object",
					"required":             []any{"url"},
					"additionalProperties": false,
					"properties": map[string]any{
						"url":   map[string]any{"type": "string", "format": "uri"},
						"count": map[string]any{"type": "integer", "minimum": 1},
					},
				},
				"output_schema": map[string]any{
					"type":     "object",
					"required": []any{"status"},
					"properties": map[string]any{
						"status": map[string]any{"type": "integer"},
						"token":  map[string]any{"type": "string", "pattern": "^public-"},
					},
				},
				"capabilities": []any{"http", "secrets"},
				"approval":     false,
			},
			map[string]any{
				"name":          "ping",
				"input_schema":  true,
				"output_schema": map[string]any{"type": "string"},
			},
		},
		"secrets": []any{
			map[string]any{
				"name": "GITHUB_TOKEN", "hosts": []any{"api.github.com"},
				"header": "Authorization", "format": "Bearer {}",
			},
		},
		"limits": map[string]any{"memory_mb": 32, "timeout_ms": 3000},
	}
}

// manifestMap returns a complete manifest map for the publisher pub.
func manifestMap(pub string) map[string]any {
	m := templateMap()
	m["publisher"] = pub
	m["module_sha256"] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	return m
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tool returns tool i of a manifest map.
func tool(m map[string]any, i int) map[string]any {
	return m["tools"].([]any)[i].(map[string]any)
}

// buildBundle builds a signed bundle from the test template.
func buildBundle(t testing.TB, key *identity.Key) *Bundle {
	t.Helper()
	b, err := Build(mustJSON(t, templateMap()), testModule, key)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return b
}

// tarEntry is one entry of a hand-made archive.
type tarEntry struct {
	hdr  tar.Header
	data []byte
}

// reg is a regular file entry.
func reg(name string, data []byte) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0)}, data: data}
}

// makeTar writes entries as a tar archive.
func makeTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("WriteHeader %s: %v", h.Name, err)
		}
		if len(e.data) > 0 {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatalf("Write %s: %v", h.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bundleTar returns the bytes Write produces for b.
func bundleTar(t testing.TB, b *Bundle) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Write(&buf); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}
