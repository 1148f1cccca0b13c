//go:build !wasip1

package main

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// fakeMemory records what the tool asks the host and answers canned results.
type fakeMemory struct {
	puts    [][]abi.Document
	queries []abi.MemoryQueryRequest
	deletes [][]string
	results []abi.MemoryResult
	err     error
}

func (f *fakeMemory) Put(docs []abi.Document) error {
	f.puts = append(f.puts, docs)
	return f.err
}

func (f *fakeMemory) Query(q abi.MemoryQueryRequest) ([]abi.MemoryResult, error) {
	f.queries = append(f.queries, q)
	return f.results, f.err
}

func (f *fakeMemory) Delete(ids []string) error {
	f.deletes = append(f.deletes, ids)
	return f.err
}

func TestRemember(t *testing.T) {
	tests := []struct {
		name   string
		in     rememberInput
		wantID string
	}{
		{"no id: the id is the hash of the text", rememberInput{Text: "the deploy key rotates on Fridays"}, noteID("the deploy key rotates on Fridays")},
		{"caller's id is kept", rememberInput{ID: "standup", Text: "at 9", Tags: map[string]string{"topic": "meetings"}}, "standup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &fakeMemory{}
			out, err := remember(m, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if out.ID != tt.wantID {
				t.Fatalf("id %q, want %q", out.ID, tt.wantID)
			}
			if len(m.puts) != 1 || len(m.puts[0]) != 1 {
				t.Fatalf("puts %+v, want one document", m.puts)
			}
			d := m.puts[0][0]
			if d.ID != tt.wantID || d.Content != tt.in.Text || len(d.Metadata) != len(tt.in.Tags) {
				t.Fatalf("stored %+v for %+v", d, tt.in)
			}
		})
	}
	if noteID("a") == noteID("b") {
		t.Fatal("two texts share a note id")
	}
	if !strings.HasPrefix(noteID("a"), "note-") || noteID("a") != noteID(strings.Clone("a")) {
		t.Fatal("note ids are not a function of the text")
	}
	if len(noteID(strings.Repeat("x", 1<<16))) > 128 {
		t.Fatal("a generated id exceeds the host's id limit")
	}
}

func TestRecall(t *testing.T) {
	m := &fakeMemory{results: []abi.MemoryResult{
		{ID: "a", Content: "alpha", Similarity: 0.9, Metadata: map[string]string{"t": "1"},
			Provenance: map[string]string{"source": "api", "request": "r1", "at": "2025-01-01T00:00:00Z"}},
		{ID: "b", Content: "beta", Similarity: 0.5}, // no tags, no provenance: still the output shape
	}}
	out, err := recall(m, recallInput{Query: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	if m.queries[0].K != defaultK {
		t.Fatalf("k %d without one in the input, want %d", m.queries[0].K, defaultK)
	}
	if len(out.Notes) != 2 || out.Notes[0].Text != "alpha" || out.Notes[0].Provenance["source"] != "api" ||
		out.Notes[1].Tags == nil || out.Notes[1].Provenance == nil {
		t.Fatalf("notes %+v", out.Notes)
	}
	if _, err := recall(m, recallInput{Query: "q", K: 7, Where: map[string]string{"t": "1"}}); err != nil {
		t.Fatal(err)
	}
	if q := m.queries[1]; q.K != 7 || q.Where["t"] != "1" {
		t.Fatalf("query %+v does not carry k and where", q)
	}

	empty, err := recall(&fakeMemory{}, recallInput{Query: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(empty); string(b) != `{"notes":[]}` {
		t.Fatalf("empty memory recalls %s, want {\"notes\":[]}", b)
	}
}

func TestForget(t *testing.T) {
	m := &fakeMemory{}
	out, err := forget(m, forgetInput{IDs: []string{"a", "b", "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Forgotten != 2 || len(m.deletes[0]) != 2 {
		t.Fatalf("forgotten %d, deleted %v; want the 2 distinct ids", out.Forgotten, m.deletes)
	}
}

func TestHostRefusalIsTheToolsError(t *testing.T) {
	refused := errors.New("host: forbidden: memory not granted")
	m := &fakeMemory{err: refused}
	if _, err := remember(m, rememberInput{Text: "x"}); !errors.Is(err, refused) {
		t.Errorf("remember: %v", err)
	}
	if _, err := recall(m, recallInput{Query: "x"}); !errors.Is(err, refused) {
		t.Errorf("recall: %v", err)
	}
	if _, err := forget(m, forgetInput{IDs: []string{"x"}}); !errors.Is(err, refused) {
		t.Errorf("forget: %v", err)
	}
}

// TestManifestSchemas checks that manifest.json parses as the host parses
// it and that its input schemas refuse what the host would refuse anyway,
// before the tool runs.
func TestManifestSchemas(t *testing.T) {
	raw, err := os.ReadFile("manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := bundle.ParseTemplate(raw)
	if err != nil {
		t.Fatal(err)
	}
	c, err := bundle.Compile(raw, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range m.Tools {
		if len(tl.Capabilities) != 1 || tl.Capabilities[0] != abi.CapMemory {
			t.Errorf("%s declares %v, want only memory", tl.Name, tl.Capabilities)
		}
	}
	tests := []struct {
		name  string
		tool  string
		input string
		ok    bool
	}{
		{"plain note", "notes/remember", `{"text":"hello"}`, true},
		{"note with id and tags", "notes/remember", `{"id":"x","text":"hello","tags":{"topic":"greeting"}}`, true},
		{"field naming another agent's store", "notes/remember", `{"text":"hi","agent":"did:key:z6MkVictim"}`, false},
		{"field naming another realm", "notes/recall", `{"query":"hi","realm":"other"}`, false},
		{"tag forging the host's provenance", "notes/remember", `{"text":"hi","tags":{"_airlock_source":"api"}}`, false},
		{"tag forging provenance in other case", "notes/remember", `{"text":"hi","tags":{"_AIRLOCK_source":"api"}}`, false},
		{"filter on the host's provenance", "notes/recall", `{"query":"hi","where":{"_airlock_request":"r"}}`, false},
		{"empty filter value matching untagged notes", "notes/recall", `{"query":"hi","where":{"topic":""}}`, false},
		{"k over the host's maximum", "notes/recall", `{"query":"hi","k":101}`, false},
		{"negative k", "notes/recall", `{"query":"hi","k":-1}`, false},
		{"id over the host's limit", "notes/forget", `{"ids":["` + strings.Repeat("a", 129) + `"]}`, false},
		{"empty forget", "notes/forget", `{"ids":[]}`, false},
		{"forget ids", "notes/forget", `{"ids":["a","b"]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			err = c.Tools[tt.tool].ValidateInput(v)
			if (err == nil) != tt.ok {
				t.Fatalf("valid=%v, want %v (%v)", err == nil, tt.ok, err)
			}
		})
	}

	// What recall produces fits its output schema, empty or not.
	for _, out := range []recallOutput{
		{Notes: []note{}},
		{Notes: []note{{ID: "a", Text: "t", Tags: map[string]string{}, Similarity: 0.5,
			Provenance: map[string]string{"source": "api", "request": "r", "at": "2025-01-01T00:00:00Z"}}}},
	} {
		b, _ := json.Marshal(out)
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Tools["notes/recall"].ValidateOutput(v); err != nil {
			t.Errorf("recall output %s: %v", b, err)
		}
	}
}
