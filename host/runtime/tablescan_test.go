package runtime

import (
	"context"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// codeOf is a code section of one function without locals whose body is
// instrs (which must end with 0x0b, end).
func codeOf(instrs string) string {
	body := "\x00" + instrs
	sec := "\x01" + string(rune(len(body))) + body
	return "\x0a" + string(rune(len(sec))) + sec
}

// TestTableChangesTakeTheFallback: the snapshot restore does not put
// tables back, so a module whose code can change a table — or that the
// scan cannot read — is refused the fast path; reading a table is fine.
func TestTableChangesTakeTheFallback(t *testing.T) {
	const secTable = "\x04\x04\x01\x70\x00\x01" // one funcref table, min 1
	const changes = "changes a table at run time (table.set, table.grow, table.fill, table.copy or table.init)"
	tests := []struct {
		name, instrs, want string
		valid              bool // wazero compiles it
	}{
		{"table.get", "\x41\x00\x25\x00\x1a\x0b", "", true},
		{"v128.const and i8x16.shuffle", "\xfd\x0c" + strings.Repeat("\x01", 16) + "\xfd\x0c" + strings.Repeat("\x02", 16) +
			"\xfd\x0d" + strings.Repeat("\x03", 16) + "\x1a\x0b", "", true},
		{"table.set", "\x41\x00\xd0\x70\x26\x00\x0b", changes, true},
		{"table.grow", "\xd0\x70\x41\x01\xfc\x0f\x00\x1a\x0b", changes, true},
		{"table.fill", "\x41\x00\xd0\x70\x41\x01\xfc\x11\x00\x0b", changes, true},
		{"table.copy", "\x41\x00\x41\x00\x41\x00\xfc\x0e\x00\x00\x0b", changes, true},
		{"table.set inside a block", "\x02\x40\x41\x00\xd0\x70\x26\x00\x0b\x0b", changes, true},
		{"an instruction the scan does not know", "\x06\x40\x0b\x0b", "has code the table scan cannot read", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := wasmOf(secType, secFunc, secTable, secMemory, codeOf(tt.instrs))
			if tt.valid {
				ctx := context.Background()
				rt := wazero.NewRuntime(ctx)
				defer rt.Close(ctx)
				if _, err := rt.CompileModule(ctx, wasm); err != nil {
					t.Fatalf("the test module is not valid: %v", err)
				}
			}
			_, layout, err := exportMutableGlobals(wasm)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(layout.problem(), tt.want) || (tt.want == "") != (layout.problem() == "") {
				t.Fatalf("problem = %q, want %q", layout.problem(), tt.want)
			}
		})
	}
}
