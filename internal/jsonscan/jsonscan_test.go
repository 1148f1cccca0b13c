package jsonscan_test

import (
	"encoding/json"
	"testing"

	"github.com/airlock-dev/airlock/internal/jsonscan"
)

func TestStringLiterals(t *testing.T) {
	doc := []byte(`{"a" : "x\"y", "b":[1,"\\",{"c":"d"}] }`)
	type lit struct {
		text string
		key  bool
	}
	want := []lit{{`"a"`, true}, {`"x\"y"`, false}, {`"b"`, true}, {`"\\"`, false}, {`"c"`, true}, {`"d"`, false}}
	got := jsonscan.StringLiterals(doc)
	if len(got) != len(want) {
		t.Fatalf("%d literals, want %d: %+v", len(got), len(want), got)
	}
	for i, l := range got {
		if string(doc[l.Start:l.End]) != want[i].text || l.Key != want[i].key {
			t.Errorf("literal %d = %s (key %v), want %s (key %v)", i, doc[l.Start:l.End], l.Key, want[i].text, want[i].key)
		}
	}
	if got := jsonscan.StringLiterals([]byte(`["ok", "unterminated`)); len(got) != 1 {
		t.Errorf("unterminated literal: %+v, want only the first", got)
	}
}

// FuzzStringLiterals: on valid JSON every literal found decodes as a JSON
// string, and on any input the ranges are in order and in bounds.
func FuzzStringLiterals(f *testing.F) {
	f.Add([]byte(`{"a":"b","c":["d\"e",1]}`))
	f.Add([]byte(`"\\\\"`))
	f.Add([]byte(`["x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		prev := 0
		valid := json.Valid(data)
		for _, l := range jsonscan.StringLiterals(data) {
			if l.Start < prev || l.End <= l.Start || l.End > len(data) {
				t.Fatalf("range [%d, %d) after %d in %d bytes", l.Start, l.End, prev, len(data))
			}
			prev = l.End
			var s string
			if valid && json.Unmarshal(data[l.Start:l.End], &s) != nil {
				t.Fatalf("literal %q of valid JSON does not decode as a string", data[l.Start:l.End])
			}
		}
	})
}
