package strictjson

import "testing"

func TestLowerCaseMembers(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		ok        bool
	}{
		{"plain document", `{"sub":"a","caps":{"http":{"hosts":["x"]}},"tools":["a/b"]}`, true},
		{"duplicate member (Go keeps the last)", `{"sub":"a","sub":"b"}`, false},
		{"duplicate member nested", `{"caps":{"http":{},"http":{}}}`, false},
		{"upper-case name (Go folds case)", `{"SUB":"a"}`, false},
		{"mixed-case name nested", `{"caps":{"Http":{}}}`, false},
		{"same name in sibling objects is fine", `{"a":{"x":1},"b":{"x":2}}`, true},
		{"objects inside arrays", `{"l":[{"x":1},{"x":2}]}`, true},
		{"duplicate inside an array element", `{"l":[{"x":1,"x":2}]}`, false},
		{"malformed", `{"a":`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := LowerCaseMembers([]byte(tc.doc))
			if (err == nil) != tc.ok {
				t.Fatalf("LowerCaseMembers(%s) = %v, want ok=%v", tc.doc, err, tc.ok)
			}
		})
	}
}

func FuzzLowerCaseMembers(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,{"c":2}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) { _ = LowerCaseMembers(b) })
}
