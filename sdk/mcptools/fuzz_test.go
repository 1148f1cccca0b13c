package mcptools

import (
	"encoding/json"
	"testing"
)

// FuzzInvokeArguments: whatever an MCP client sends to airlock.invoke, an
// accepted call names a well-formed tool id and carries one JSON object as
// its input.
func FuzzInvokeArguments(f *testing.F) {
	for _, s := range []string{
		`{"tool":"echo/echo","input":{"message":"hi"}}`,
		`{"tool":"echo/echo","input":{}} {}`,
		`{"tool":"echo/echo","input":[]}`,
		`{"tool":"echo","input":{}}`,
		`{"tool":"echo/echo","input":{},"x":1}`,
		`{"input":{"a":{"b":[1,2,{"c":null}]}},"tool":"a-b/c_d"}`,
		`null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		tool, input, ok := invokeArguments(raw)
		if !ok {
			return
		}
		var obj map[string]json.RawMessage
		if !toolID.MatchString(tool) || json.Unmarshal(input, &obj) != nil || obj == nil {
			t.Fatalf("accepted %q: tool %q, input %s", raw, tool, input)
		}
	})
}
