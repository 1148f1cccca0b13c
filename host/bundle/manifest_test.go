package bundle

import (
	"errors"
	"strings"
	"testing"
)

func TestParseManifest(t *testing.T) {
	pub := newKey(t).DID()
	valid := func() map[string]any { return manifestMap(pub) }
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)

	cases := []struct {
		name   string
		mutate func(m map[string]any) // applied to a valid manifest
		raw    func(valid []byte) []byte
		want   error // nil: accepted
	}{
		{name: "valid manifest"},
		{name: "no secrets and no limits", mutate: func(m map[string]any) { delete(m, "secrets"); delete(m, "limits") }},
		{name: "unknown manifest field", mutate: func(m map[string]any) { m["entrypoint"] = "evil" }, want: ErrMalformed},
		{name: "unknown tool field", mutate: func(m map[string]any) { tool(m, 0)["hidden"] = true }, want: ErrMalformed},
		{name: "unknown secret field", mutate: func(m map[string]any) {
			m["secrets"].([]any)[0].(map[string]any)["reveal"] = true
		}, want: ErrMalformed},
		{name: "unknown limits field", mutate: func(m map[string]any) { m["limits"] = map[string]any{"cpu": 9} }, want: ErrMalformed},
		{name: "case-folded field name smuggled past the strict decoder", mutate: func(m map[string]any) {
			m["Name"] = m["name"]
			delete(m, "name")
		}, want: ErrMalformed},
		{name: "duplicate key, last one wins in encoding/json", raw: func(v []byte) []byte {
			return []byte(strings.Replace(string(v), `"name":"web"`, `"name":"web","name":"other"`, 1))
		}, want: ErrMalformed},
		{name: "duplicate key inside a schema", raw: func(v []byte) []byte {
			return []byte(strings.Replace(string(v), `"type":"object"`, `"type":"object","type":"string"`, 1))
		}, want: ErrMalformed},
		{name: "trailing data", raw: func(v []byte) []byte { return append(v, []byte(`{"name":"x"}`)...) }, want: ErrMalformed},
		{name: "trailing garbage", raw: func(v []byte) []byte { return append(v, 'x') }, want: ErrMalformed},
		{name: "trailing whitespace is not data", raw: func(v []byte) []byte { return append(v, "\n\t "...) }},
		{name: "not JSON", raw: func([]byte) []byte { return []byte("name = web") }, want: ErrMalformed},
		{name: "empty document", raw: func([]byte) []byte { return nil }, want: ErrMalformed},
		{name: "deeply nested schema", mutate: func(m map[string]any) {
			tool(m, 0)["input_schema"] = map[string]any{"const": "x"}
		}, raw: func(v []byte) []byte {
			return []byte(strings.Replace(string(v), `"const":"x"`, `"const":`+deep, 1))
		}, want: ErrMalformed},
		{name: "oversize manifest", mutate: func(m map[string]any) {
			tool(m, 0)["input_schema"] = map[string]any{"description": strings.Repeat("a", MaxManifestBytes)}
		}, want: ErrTooLarge},
		{name: "wrong abi version", mutate: func(m map[string]any) { m["abi"] = "airlock/v2" }, want: ErrMalformed},
		{name: "bundle name with path traversal", mutate: func(m map[string]any) { m["name"] = "../web" }, want: ErrMalformed},
		{name: "bundle name uppercase", mutate: func(m map[string]any) { m["name"] = "Web" }, want: ErrMalformed},
		{name: "bundle name too long", mutate: func(m map[string]any) { m["name"] = "a" + strings.Repeat("b", 64) }, want: ErrMalformed},
		{name: "version with path separator", mutate: func(m map[string]any) { m["version"] = "1.0.0/../../x" }, want: ErrMalformed},
		{name: "version not semver", mutate: func(m map[string]any) { m["version"] = "v1.2" }, want: ErrMalformed},
		{name: "version with leading zero", mutate: func(m map[string]any) { m["version"] = "01.2.0" }, want: ErrMalformed},
		{name: "prerelease version", mutate: func(m map[string]any) { m["version"] = "1.2.0-rc.1" }},
		{name: "publisher missing", mutate: func(m map[string]any) { delete(m, "publisher") }, want: ErrMalformed},
		{name: "publisher not a did:key", mutate: func(m map[string]any) { m["publisher"] = "did:web:evil.example" }, want: ErrMalformed},
		{name: "publisher did:key that does not decode", mutate: func(m map[string]any) { m["publisher"] = "did:key:z6MkNOTAKEY" }, want: ErrMalformed},
		{name: "module hash missing", mutate: func(m map[string]any) { delete(m, "module_sha256") }, want: ErrMalformed},
		{name: "module hash uppercase", mutate: func(m map[string]any) { m["module_sha256"] = strings.ToUpper(m["module_sha256"].(string)) }, want: ErrMalformed},
		{name: "module hash truncated", mutate: func(m map[string]any) { m["module_sha256"] = "0123" }, want: ErrMalformed},
		{name: "no tools", mutate: func(m map[string]any) { m["tools"] = []any{} }, want: ErrMalformed},
		{name: "tools null", mutate: func(m map[string]any) { m["tools"] = nil }, want: ErrMalformed},
		{name: "duplicate tool shadows another", mutate: func(m map[string]any) { tool(m, 1)["name"] = "fetch" }, want: ErrMalformed},
		{name: "tool name with slash forges another bundle's id", mutate: func(m map[string]any) { tool(m, 0)["name"] = "other/fetch" }, want: ErrMalformed},
		{name: "tool name with dash", mutate: func(m map[string]any) { tool(m, 0)["name"] = "web-fetch" }, want: ErrMalformed},
		{name: "unknown capability", mutate: func(m map[string]any) { tool(m, 0)["capabilities"] = []any{"root"} }, want: ErrMalformed},
		{name: "empty capability claims always", mutate: func(m map[string]any) { tool(m, 0)["capabilities"] = []any{""} }, want: ErrMalformed},
		{name: "duplicate capability", mutate: func(m map[string]any) { tool(m, 0)["capabilities"] = []any{"http", "http"} }, want: ErrMalformed},
		{name: "approval as a string", mutate: func(m map[string]any) { tool(m, 0)["approval"] = "false" }, want: ErrMalformed},
		{name: "description over 4 KiB", mutate: func(m map[string]any) { tool(m, 0)["description"] = strings.Repeat("d", MaxDescriptionBytes+1) }, want: ErrMalformed},
		{name: "input schema missing", mutate: func(m map[string]any) { delete(tool(m, 0), "input_schema") }, want: ErrMalformed},
		{name: "output schema null", mutate: func(m map[string]any) { tool(m, 0)["output_schema"] = nil }, want: ErrMalformed},
		{name: "bad schema", mutate: func(m map[string]any) { tool(m, 0)["input_schema"] = map[string]any{"type": 12} }, want: ErrSchema},
		{name: "bad schema regexp", mutate: func(m map[string]any) { tool(m, 0)["input_schema"] = map[string]any{"pattern": "(("} }, want: ErrSchema},
		{name: "schema not a schema", mutate: func(m map[string]any) { tool(m, 0)["output_schema"] = "string" }, want: ErrSchema},
		{name: "remote $ref refused", mutate: func(m map[string]any) {
			tool(m, 0)["input_schema"] = map[string]any{"$ref": "https://evil.example/schema.json"}
		}, want: ErrSchema},
		{name: "file $ref refused", mutate: func(m map[string]any) {
			tool(m, 0)["input_schema"] = map[string]any{"$ref": "file:///etc/passwd"}
		}, want: ErrSchema},
		{name: "relative $ref resolving to a file refused", mutate: func(m map[string]any) {
			tool(m, 0)["input_schema"] = map[string]any{"$ref": "other.json"}
		}, want: ErrSchema},
		{name: "remote $schema refused", mutate: func(m map[string]any) {
			tool(m, 0)["input_schema"] = map[string]any{"$schema": "https://evil.example/meta"}
		}, want: ErrSchema},
		{name: "$ref to an embedded meta-schema allowed", mutate: func(m map[string]any) {
			tool(m, 0)["input_schema"] = map[string]any{"$ref": "https://json-schema.org/draft/2020-12/schema"}
		}},
		{name: "local $defs ref allowed", mutate: func(m map[string]any) {
			tool(m, 0)["input_schema"] = map[string]any{
				"$defs": map[string]any{"u": map[string]any{"type": "string"}},
				"$ref":  "#/$defs/u",
			}
		}},
		{name: "secret name lowercase", mutate: func(m map[string]any) { secret(m)["name"] = "github_token" }, want: ErrMalformed},
		{name: "duplicate secret", mutate: func(m map[string]any) { m["secrets"] = append(m["secrets"].([]any), secret(m)) }, want: ErrMalformed},
		{name: "secret without hosts goes everywhere", mutate: func(m map[string]any) { secret(m)["hosts"] = []any{} }, want: ErrMalformed},
		{name: "secret host with path", mutate: func(m map[string]any) { secret(m)["hosts"] = []any{"evil.example/collect"} }, want: ErrMalformed},
		{name: "secret host with userinfo", mutate: func(m map[string]any) { secret(m)["hosts"] = []any{"user@evil.example"} }, want: ErrMalformed},
		{name: "secret host empty", mutate: func(m map[string]any) { secret(m)["hosts"] = []any{""} }, want: ErrMalformed},
		{name: "secret host wildcard and port", mutate: func(m map[string]any) { secret(m)["hosts"] = []any{"https://*.example.org:8443"} }},
		{name: "secret header injection", mutate: func(m map[string]any) { secret(m)["header"] = "X-A\r\nX-Leak" }, want: ErrMalformed},
		{name: "secret header with space", mutate: func(m map[string]any) { secret(m)["header"] = "X Token" }, want: ErrMalformed},
		{name: "secret in Host header", mutate: func(m map[string]any) { secret(m)["header"] = "Host" }, want: ErrMalformed},
		{name: "secret in proxy header", mutate: func(m map[string]any) { secret(m)["header"] = "Proxy-Authorization" }, want: ErrMalformed},
		{name: "secret format CRLF injection", mutate: func(m map[string]any) { secret(m)["format"] = "Bearer {}\r\nX-Leak: {" }, want: ErrMalformed},
		{name: "secret format without placeholder", mutate: func(m map[string]any) { secret(m)["format"] = "Bearer" }, want: ErrMalformed},
		{name: "secret format with two placeholders", mutate: func(m map[string]any) { secret(m)["format"] = "{}:{}" }, want: ErrMalformed},
		{name: "negative memory limit", mutate: func(m map[string]any) { m["limits"] = map[string]any{"memory_mb": -1} }, want: ErrMalformed},
		{name: "negative timeout", mutate: func(m map[string]any) { m["limits"] = map[string]any{"timeout_ms": -5} }, want: ErrMalformed},
		{name: "fractional limit", mutate: func(m map[string]any) { m["limits"] = map[string]any{"timeout_ms": 1.5} }, want: ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := valid()
			if tc.mutate != nil {
				tc.mutate(m)
			}
			data := mustJSON(t, m)
			if tc.raw != nil {
				data = tc.raw(data)
			}
			got, err := ParseManifest(data)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("ParseManifest: %v", err)
				}
				if got.Name != m["name"] || len(got.Tools) == 0 {
					t.Fatalf("ParseManifest returned %+v", got)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseManifest error = %v, want %v", err, tc.want)
			}
			t.Logf("refused: %v", err)
			if got != nil {
				t.Fatalf("ParseManifest returned a manifest with an error")
			}
			if !strings.HasPrefix(err.Error(), "bundle: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

func secret(m map[string]any) map[string]any {
	return m["secrets"].([]any)[0].(map[string]any)
}

func TestParseManifestFields(t *testing.T) {
	pub := newKey(t).DID()
	m, err := ParseManifest(mustJSON(t, manifestMap(pub)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Publisher != pub || m.Version != "1.2.0" || m.Limits.MemoryMB != 32 || m.Limits.TimeoutMS != 3000 {
		t.Errorf("manifest = %+v", m)
	}
	if len(m.Tools) != 2 || m.Tools[0].Name != "fetch" || len(m.Tools[0].Capabilities) != 2 {
		t.Errorf("tools = %+v", m.Tools)
	}
	if m.Tools[1].Capabilities == nil {
		t.Errorf("absent capabilities should parse as an empty list")
	}
	if len(m.Secrets) != 1 || m.Secrets[0].Format != "Bearer {}" {
		t.Errorf("secrets = %+v", m.Secrets)
	}
}

func TestParseTemplate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(m map[string]any)
		want   error
	}{
		{name: "source manifest without publisher or hash"},
		{name: "template with a bad publisher", mutate: func(m map[string]any) { m["publisher"] = "did:key:zzz" }, want: ErrMalformed},
		{name: "template with a bad hash", mutate: func(m map[string]any) { m["module_sha256"] = "XYZ" }, want: ErrMalformed},
		{name: "template still strict about unknown fields", mutate: func(m map[string]any) { m["extra"] = 1 }, want: ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := templateMap()
			if tc.mutate != nil {
				tc.mutate(m)
			}
			_, err := ParseTemplate(mustJSON(t, m))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("ParseTemplate error = %v, want %v", err, tc.want)
			}
		})
	}
	// A template is not a manifest: ParseManifest refuses it.
	if _, err := ParseManifest(mustJSON(t, templateMap())); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ParseManifest(template) error = %v, want ErrMalformed", err)
	}
}
