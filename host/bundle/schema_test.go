package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// decode decodes JSON the way the host does (numbers as json.Number).
func decode(t *testing.T, s string) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func compiledFetch(t *testing.T) (*Compiled, *CompiledTool) {
	t.Helper()
	data := mustJSON(t, manifestMap(newKey(t).DID()))
	m, err := ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(data, m)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if c.SHA256 != hex.EncodeToString(sum[:]) || c.Manifest != m {
		t.Fatalf("Compiled = %+v", c)
	}
	ct := c.Tools["web/fetch"]
	if ct == nil || ct.ID != "web/fetch" || ct.Tool.Name != "fetch" || c.Tools["web/ping"] == nil || len(c.Tools) != 2 {
		t.Fatalf("tools = %v", c.Tools)
	}
	return c, ct
}

func TestValidateInput(t *testing.T) {
	_, fetch := compiledFetch(t)
	cases := []struct {
		name    string
		input   string
		wantErr string // substring of the error; empty: valid
	}{
		{name: "valid input", input: `{"url": "https://example.org/", "count": 3}`},
		{name: "schema violation reported: wrong type", input: `{"url": 42}`, wantErr: `"/url"`},
		{name: "missing required property", input: `{}`, wantErr: "url"},
		{name: "smuggled extra property", input: `{"url": "https://x.example/", "shell": "rm -rf /"}`, wantErr: "shell"},
		{name: "format assertion: not a URI", input: `{"url": "not a uri"}`, wantErr: `"/url"`},
		{name: "integer constraint", input: `{"url": "https://x.example/", "count": 0}`, wantErr: `"/count"`},
		{name: "fractional integer", input: `{"url": "https://x.example/", "count": 1.5}`, wantErr: `"/count"`},
		{name: "not an object", input: `"https://x.example/"`, wantErr: "input"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := fetch.ValidateInput(decode(t, tc.input))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateInput: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("ValidateInput error = %v, want ErrSchema", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not mention %s", err, tc.wantErr)
			}
			t.Logf("refused: %v", err)
		})
	}
}

func TestValidateOutput(t *testing.T) {
	_, fetch := compiledFetch(t)
	const secret = "ghp_SuperSecretTokenValue123"
	cases := []struct {
		name    string
		output  string
		wantErr string
	}{
		{name: "valid output", output: `{"status": 200, "token": "public-1"}`},
		{name: "output schema violation reported", output: `{"status": "200"}`, wantErr: `"/status"`},
		{name: "leaked secret fails the pattern but is not echoed", output: `{"status": 200, "token": "` + secret + `"}`, wantErr: `"/token"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := fetch.ValidateOutput(decode(t, tc.output))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateOutput: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ValidateOutput error = %v, want ErrSchema mentioning %s", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "ghp_") {
				t.Fatalf("output error %q echoes the output value", err)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// Two tools declaring the same $id must not see each other's schemas.
func TestCompileIsolatesTools(t *testing.T) {
	m := manifestMap(newKey(t).DID())
	tool(m, 0)["input_schema"] = map[string]any{"$id": "https://shared.example/s", "type": "string"}
	tool(m, 1)["input_schema"] = map[string]any{"$id": "https://shared.example/s", "type": "integer"}
	data := mustJSON(t, m)
	parsed, err := ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(data, parsed)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Tools["web/fetch"].ValidateInput("text"); err != nil {
		t.Errorf("fetch: %v", err)
	}
	if err := c.Tools["web/ping"].ValidateInput("text"); !errors.Is(err, ErrSchema) {
		t.Errorf("ping accepted a string: %v", err)
	}
}
