package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/config"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/memory"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/sdk/client"
)

const notesPlugin = "plugins/notes"

// memHost is the host the memory suites share: the default configuration
// (builtin embedder), realm "default" with plugins/notes installed, and
// realms "x" and "y" trusting realmOperator. Every suite uses its own agent
// keys, so that suites see only their own stores.
type memHost struct {
	*hosttest.Host
	realmOperator *identity.Key
}

// TestMemory runs the agent-memory suites (DESIGN §4, §7, §9) against one
// shared host, through real HTTP on loopback.
func TestMemory(t *testing.T) {
	// chromem-go embeds through OpenAI with this key when it is given no
	// embedding function; the host must never let it (see NoNetwork).
	t.Setenv("OPENAI_API_KEY", "sk-airlock-test-never-send-this")
	op := hosttest.NewKey(t)
	realm := config.Realm{Operators: []string{op.DID()}}
	h := &memHost{
		Host:          newHost(t, hosttest.WithRealm("x", realm), hosttest.WithRealm("y", realm)),
		realmOperator: op,
	}
	h.Install(t, hosttest.DefaultRealm, notesPlugin, nil)
	suites := []struct {
		name string
		run  func(*testing.T, *memHost)
	}{
		{"OtherAgentsMemory", testMemoryOtherAgent},
		{"ToolCannotReachOtherAgent", testMemoryToolCannotReachOtherAgent},
		{"RealmsAreSeparate", testMemoryRealms},
		{"KBeyondTheStore", testMemoryKBeyondStore},
		{"CapabilityAndQuota", testMemoryCapabilityAndQuota},
		{"Provenance", testMemoryProvenance},
		{"NoNetwork", testMemoryNoNetwork},
		{"NoPlaintextOnDisk", testMemoryNoPlaintextOnDisk},
		// This restarts the host.
		{"RestartKeepsAcknowledged", testMemoryRestart},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) { s.run(t, h) })
	}
}

// marker returns a unique string no other test writes.
func marker(prefix string) string { return prefix + "-" + rand.Text() }

// memGrant issues agent a grant in realm "default" with the memory
// capability, at most maxDocs documents (0: no quota).
func (h *memHost) memGrant(t *testing.T, agent *identity.Key, maxDocs int) string {
	t.Helper()
	return h.Grant(t, func(c *grant.Claims) {
		c.Sub = agent.DID()
		c.Caps.Memory = &grant.MemoryCap{MaxDocs: maxDocs}
	})
}

// realmGrant issues agent a grant with the memory capability in realm
// ("x" or "y"), signed by that realm's operator.
func (h *memHost) realmGrant(t *testing.T, realm string, agent *identity.Key) string {
	t.Helper()
	return h.GrantSignedBy(t, h.realmOperator, func(c *grant.Claims) {
		c.Realm, c.Sub = realm, agent.DID()
		c.Caps.Memory = &grant.MemoryCap{}
	})
}

// memCall sends POST /v1/memory/{op} with body as c; transport and
// receipt errors fail t, a problem answer does not.
func memCall(t *testing.T, c *client.Client, op string, body map[string]any) *client.Response {
	t.Helper()
	resp, err := c.DoJSON(context.Background(), http.MethodPost, "/v1/memory/"+op, body, nil)
	if resp == nil {
		t.Fatalf("memory %s: %v", op, err)
	}
	return resp
}

// putDocs stores docs as c under g and fails t unless the host answers 200 {}.
func putDocs(t *testing.T, c *client.Client, g string, docs ...abi.Document) *client.Response {
	t.Helper()
	resp := memCall(t, c, "put", map[string]any{"grant": g, "documents": docs})
	if resp.Status != http.StatusOK || !jsonEqual(resp.Body, `{}`) {
		t.Fatalf("put: %d %s", resp.Status, resp.Body)
	}
	return resp
}

// queryBody is the body of a memory query (where omitted when nil).
func queryBody(g, q string, k int, where map[string]string) map[string]any {
	b := map[string]any{"grant": g, "query": q, "k": k}
	if where != nil {
		b["where"] = where
	}
	return b
}

// queryDocs queries as c under g and fails t unless the host answers 200
// with exactly {"results": [...]} (an array, never null, and no field that
// could count anything).
func queryDocs(t *testing.T, c *client.Client, g, q string, k int, where map[string]string) ([]abi.MemoryResult, *client.Response) {
	t.Helper()
	resp := memCall(t, c, "query", queryBody(g, q, k, where))
	if resp.Status != http.StatusOK {
		t.Fatalf("query: %d %s", resp.Status, resp.Body)
	}
	return decodeResults(t, resp.Body), resp
}

func decodeResults(t *testing.T, body []byte) []abi.MemoryResult {
	t.Helper()
	var res struct {
		Results []abi.MemoryResult `json:"results"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil || res.Results == nil {
		t.Fatalf("query answer %s is not {\"results\": [...]}: %v", body, err)
	}
	return res.Results
}

// jsonEqual reports whether got is the same JSON value as want.
func jsonEqual(got []byte, want string) bool {
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// recalled is one note of plugins/notes' recall output.
type recalled struct {
	ID         string            `json:"id"`
	Text       string            `json:"text"`
	Tags       map[string]string `json:"tags"`
	Similarity float32           `json:"similarity"`
	Provenance map[string]string `json:"provenance"`
}

// recallNotes invokes notes/recall as c and fails t unless it answers 200.
func recallNotes(t *testing.T, c *client.Client, g, input string) []recalled {
	t.Helper()
	var out struct {
		Notes []recalled `json:"notes"`
	}
	if err := json.Unmarshal(wantOutput(t, invoke(t, c, "notes/recall", input, g)), &out); err != nil || out.Notes == nil {
		t.Fatalf("recall output: %v", err)
	}
	return out.Notes
}

// rememberNote invokes notes/remember as c, fails t unless it answers 200,
// and returns the note id and the response.
func rememberNote(t *testing.T, c *client.Client, g, input string) (string, *client.Response) {
	t.Helper()
	resp := invoke(t, c, "notes/remember", input, g)
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(wantOutput(t, resp), &out); err != nil || out.ID == "" {
		t.Fatalf("remember output: %v", err)
	}
	return out.ID, resp
}

// findDoc returns the result with id, if any.
func findDoc(results []abi.MemoryResult, id string) (abi.MemoryResult, bool) {
	for _, r := range results {
		if r.ID == id {
			return r, true
		}
	}
	return abi.MemoryResult{}, false
}

// docIDs returns the sorted ids of results.
func docIDs(results []abi.MemoryResult) []string {
	ids := make([]string, 0, len(results))
	for _, r := range results {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

// wantIntact fails t unless the agent's store still holds doc unchanged.
func wantIntact(t *testing.T, c *client.Client, g string, doc abi.Document) {
	t.Helper()
	res, _ := queryDocs(t, c, g, doc.Content, memory.MaxK, nil)
	got, ok := findDoc(res, doc.ID)
	if !ok || got.Content != doc.Content || len(got.Metadata) != len(doc.Metadata) {
		t.Fatalf("document %s is gone or changed: %+v", doc.ID, res)
	}
	for k, v := range doc.Metadata {
		if got.Metadata[k] != v {
			t.Fatalf("document %s: metadata %q is %q, want %q", doc.ID, k, got.Metadata[k], v)
		}
	}
}

// leaks reports which of secrets body holds.
func leaks(body []byte, secrets ...string) []string {
	var found []string
	for _, s := range secrets {
		if bytes.Contains(body, []byte(s)) {
			found = append(found, s)
		}
	}
	return found
}

// testMemoryOtherAgent: agent B, with its own valid memory grant, tries to
// read, filter, delete and overwrite agent A's documents, through the API
// and through plugins/notes.
func testMemoryOtherAgent(t *testing.T, h *memHost) {
	a, b := h.AgentKey(), hosttest.NewKey(t)
	ga, gb := h.memGrant(t, a, 0), h.memGrant(t, b, 0)
	ca, cb := h.Client(a), h.Client(b)
	secret := marker("launch-code")
	tag := marker("project-tag")
	docA := abi.Document{ID: marker("a-doc"), Content: "the launch code is " + secret, Metadata: map[string]string{"project": tag}}
	putDocs(t, ca, ga, docA)
	// B's store is not empty, so that "nothing" is not just an empty store.
	putDocs(t, cb, gb, abi.Document{ID: "b-own", Content: "B keeps its own notes about launch codes", Metadata: map[string]string{"project": "b"}})

	// The attacks below would have something to find: A sees its document.
	wantIntact(t, ca, ga, docA)

	tests := []struct {
		name   string
		attack func(t *testing.T) []byte // returns every answer body B got
	}{
		{"B queries the API for A's unique marker", func(t *testing.T) []byte {
			res, resp := queryDocs(t, cb, gb, secret, 100, nil)
			if _, ok := findDoc(res, docA.ID); ok {
				t.Errorf("B's query returned A's document")
			}
			return resp.Body
		}},
		{"B filters on A's metadata through the API", func(t *testing.T) []byte {
			res, resp := queryDocs(t, cb, gb, "launch code", 100, map[string]string{"project": tag})
			if len(res) != 0 {
				t.Errorf("B's filter on A's tag matched %d documents", len(res))
			}
			return resp.Body
		}},
		{"B filters on A's DID through the API", func(t *testing.T) []byte {
			_, resp := queryDocs(t, cb, gb, secret, 100, map[string]string{"agent": a.DID()})
			return resp.Body
		}},
		{"B names A's store in an extra API field", func(t *testing.T) []byte {
			body := queryBody(gb, secret, 100, nil)
			body["agent"] = a.DID()
			resp := memCall(t, cb, "query", body)
			wantResponseProblem(t, resp, abi.CodeBadRequest, "")
			return resp.Body
		}},
		{"B sends A's grant with its own proof", func(t *testing.T) []byte {
			resp := memCall(t, cb, "query", queryBody(ga, secret, 100, nil))
			wantResponseProblem(t, resp, abi.CodeGrantInvalid, "")
			return resp.Body
		}},
		{"B recalls A's marker through notes/recall", func(t *testing.T) []byte {
			resp := invoke(t, cb, "notes/recall", `{"query":"`+secret+`","k":100}`, gb)
			wantOutput(t, resp)
			return resp.Body
		}},
		{"B recalls with A's tag through notes/recall", func(t *testing.T) []byte {
			resp := invoke(t, cb, "notes/recall", `{"query":"launch code","where":{"project":"`+tag+`"}}`, gb)
			if out := wantOutput(t, resp); !jsonEqual(out, `{"notes":[]}`) {
				t.Errorf("B's recall with A's tag found %s", out)
			}
			return resp.Body
		}},
		{"B deletes A's id through the API", func(t *testing.T) []byte {
			resp := memCall(t, cb, "delete", map[string]any{"grant": gb, "ids": []string{docA.ID}})
			if resp.Status != http.StatusOK {
				t.Errorf("delete of an id B does not hold: %d %s (must look like any delete)", resp.Status, resp.Body)
			}
			return resp.Body
		}},
		{"B forgets A's id through notes/forget", func(t *testing.T) []byte {
			resp := invoke(t, cb, "notes/forget", `{"ids":["`+docA.ID+`"]}`, gb)
			wantOutput(t, resp)
			return resp.Body
		}},
		{"B overwrites A's id through the API", func(t *testing.T) []byte {
			return putDocs(t, cb, gb, abi.Document{ID: docA.ID, Content: "overwritten by B"}).Body
		}},
		{"B overwrites A's id through notes/remember", func(t *testing.T) []byte {
			_, resp := rememberNote(t, cb, gb, `{"id":"`+docA.ID+`","text":"overwritten by B's tool"}`)
			return resp.Body
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if found := leaks(tt.attack(t), secret, tag); len(found) > 0 {
				t.Errorf("B's answer holds A's %q", found)
			}
			wantIntact(t, ca, ga, docA)
		})
	}
}

// testMemoryToolCannotReachOtherAgent: a tool invoked by agent A is given
// every argument that could name agent B's store (B's DID, realm names,
// path traversal, B's ids and tags); nothing of B comes back and B's
// document stays as it was.
func testMemoryToolCannotReachOtherAgent(t *testing.T, h *memHost) {
	a, b := hosttest.NewKey(t), hosttest.NewKey(t)
	ga, gb := h.memGrant(t, a, 0), h.memGrant(t, b, 0)
	ca, cb := h.Client(a), h.Client(b)
	secret, tag := marker("b-secret"), marker("b-tag")
	docB := abi.Document{ID: marker("b-doc"), Content: "B's private note: " + secret, Metadata: map[string]string{"owner": "b", "project": tag}}
	putDocs(t, cb, gb, docB)
	putDocs(t, ca, ga, abi.Document{ID: "a-own", Content: "A's own note about private things", Metadata: map[string]string{"owner": "a"}})
	wantIntact(t, cb, gb, docB)

	did := b.DID()
	tests := []struct {
		name, tool, input string
	}{
		{"query for B's marker", "recall", `{"query":"` + secret + `","k":100}`},
		{"query naming B's DID", "recall", `{"query":"` + did + `","k":100}`},
		{"where agent is B's DID", "recall", `{"query":"private note","where":{"agent":"` + did + `"}}`},
		{"where realm and agent name B's store", "recall", `{"query":"private note","where":{"realm":"default","agent":"` + did + `"}}`},
		{"where on B's tag", "recall", `{"query":"private note","where":{"project":"` + tag + `"}}`},
		{"where on B's owner value", "recall", `{"query":"private note","where":{"owner":"b"}}`},
		{"query traversing to B's store", "recall", `{"query":"../` + did + `/` + docB.ID + `","k":100}`},
		{"query traversing to another realm", "recall", `{"query":"../../x/` + did + `","k":100}`},
		{"extra field naming B as the agent", "recall", `{"query":"private note","agent":"` + did + `"}`},
		{"extra field naming another realm", "recall", `{"query":"private note","realm":"x"}`},
		{"forget B's id", "forget", `{"ids":["` + docB.ID + `"]}`},
		{"forget B's id by path", "forget", `{"ids":["../` + did + `/` + docB.ID + `","default/` + did + `/` + docB.ID + `","` + did + `"]}`},
		{"remember over B's id", "remember", `{"id":"` + docB.ID + `","text":"A was here","tags":{"owner":"b"}}`},
		{"remember under an id naming B's store", "remember", `{"id":"../` + did + `/` + docB.ID + `","text":"A was here too"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := invoke(t, ca, "notes/"+tt.tool, tt.input, ga)
			if resp.Status != http.StatusOK && resp.Status != http.StatusUnprocessableEntity {
				t.Errorf("status %d %s: want an answer from A's own store or a schema refusal", resp.Status, resp.Body)
			}
			if found := leaks(resp.Body, secret, tag); len(found) > 0 {
				t.Errorf("A's tool answer holds B's %q: %s", found, resp.Body)
			}
			wantIntact(t, cb, gb, docB)
		})
	}
	// Whatever A's tool stored went to A's own store, where A finds it.
	notes := recallNotes(t, ca, ga, `{"query":"A was here","k":100}`)
	if !slices.ContainsFunc(notes, func(n recalled) bool { return n.ID == docB.ID && n.Text == "A was here" }) {
		t.Fatalf("A's remember under B's id is not in A's own store: %+v", notes)
	}
}

// testMemoryRealms: the same agent DID in realms "x" and "y" (and
// "default") has three separate stores.
func testMemoryRealms(t *testing.T, h *memHost) {
	a := hosttest.NewKey(t)
	c := h.Client(a)
	gx, gy, gd := h.realmGrant(t, "x", a), h.realmGrant(t, "y", a), h.memGrant(t, a, 0)
	inX := abi.Document{ID: "shared-id", Content: "realm x note " + marker("x")}
	inY := abi.Document{ID: "shared-id", Content: "realm y note " + marker("y")}
	putDocs(t, c, gx, inX)
	putDocs(t, c, gy, inY)

	tests := []struct {
		name  string
		grant string
		query string
		want  []string // contents the realm's store may answer
	}{
		{"realm y queries for x's marker", gy, inX.Content, []string{inY.Content}},
		{"realm x queries for y's marker", gx, inY.Content, []string{inX.Content}},
		{"realm default queries for x's marker", gd, inX.Content, nil},
		{"realm default queries for y's marker", gd, inY.Content, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := queryDocs(t, c, tt.grant, tt.query, 100, nil)
			for _, r := range res {
				if !slices.Contains(tt.want, r.Content) {
					t.Errorf("answer holds %q from another realm", r.Content)
				}
			}
		})
	}
	t.Run("delete in realm y leaves realm x", func(t *testing.T) {
		if resp := memCall(t, c, "delete", map[string]any{"grant": gy, "ids": []string{"shared-id"}}); resp.Status != http.StatusOK {
			t.Fatalf("delete: %d %s", resp.Status, resp.Body)
		}
		wantIntact(t, c, gx, inX)
		if res, _ := queryDocs(t, c, gy, inY.Content, 100, nil); len(res) != 0 {
			t.Fatalf("realm y still holds %+v", res)
		}
	})
}

// testMemoryKBeyondStore: a k larger than the store answers what exists,
// with the status and shape of any query; nothing counts the store.
func testMemoryKBeyondStore(t *testing.T, h *memHost) {
	agent := hosttest.NewKey(t)
	c, g := h.Client(agent), h.memGrant(t, agent, 0)

	// A store never written and a filter that matches nothing answer alike.
	empty := `{"results":[]}`
	for _, k := range []int{1, 3, 100, 1000} {
		if _, resp := queryDocs(t, c, g, "anything", k, nil); !jsonEqual(resp.Body, empty) {
			t.Fatalf("k=%d on an empty store: %s, want %s", k, resp.Body, empty)
		}
	}
	docs := []abi.Document{
		{ID: "d1", Content: "apples are red"},
		{ID: "d2", Content: "bananas are yellow"},
		{ID: "d3", Content: "cherries are dark red"},
	}
	putDocs(t, c, g, docs...)

	tests := []struct {
		name  string
		k     int
		where map[string]string
		want  int
	}{
		{"k of one", 1, nil, 1},
		{"k equal to the store", 3, nil, 3},
		{"k one over the store", 4, nil, 3},
		{"k at the host maximum", 100, nil, 3},
		{"k over the host maximum", 1_000_000, nil, 3},
		{"k omitted", 0, nil, 1},
		{"negative k", -5, nil, 1},
		{"filter matching nothing in a full store", 100, map[string]string{"color": "blue"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, resp := queryDocs(t, c, g, "red fruit", tt.k, tt.where)
			if len(res) != tt.want {
				t.Fatalf("%d results, want %d: %s", len(res), tt.want, resp.Body)
			}
			if tt.want == 0 && !jsonEqual(resp.Body, empty) {
				t.Fatalf("empty answer %s differs from an empty store's %s", resp.Body, empty)
			}
			if ids := docIDs(res); len(slices.Compact(ids)) != len(res) {
				t.Fatalf("repeated results: %v", ids)
			}
			for i := 1; i < len(res); i++ {
				if res[i].Similarity > res[i-1].Similarity {
					t.Fatalf("results not most similar first: %+v", res)
				}
			}
		})
	}
	t.Run("k beyond the store through notes/recall", func(t *testing.T) {
		if notes := recallNotes(t, c, g, `{"query":"red fruit","k":100}`); len(notes) != 3 {
			t.Fatalf("%d notes, want 3", len(notes))
		}
	})
}

// testMemoryCapabilityAndQuota: a grant without the memory capability
// reaches no store; caps.memory.max_docs caps the store.
func testMemoryCapabilityAndQuota(t *testing.T, h *memHost) {
	agent := hosttest.NewKey(t)
	c := h.Client(agent)
	noMemory := h.Grant(t, func(cl *grant.Claims) { cl.Sub = agent.DID() })
	full := h.memGrant(t, agent, 0)

	t.Run("grant without the memory capability", func(t *testing.T) {
		for op, body := range map[string]map[string]any{
			"put":    {"grant": noMemory, "documents": []abi.Document{{ID: "x", Content: "sneaked in"}}},
			"query":  queryBody(noMemory, "sneaked", 10, nil),
			"delete": {"grant": noMemory, "ids": []string{"x"}},
		} {
			wantResponseProblem(t, memCall(t, c, op, body), abi.CodeForbidden, "")
		}
		resp := invoke(t, c, "notes/remember", `{"text":"sneaked in through the tool"}`, noMemory)
		wantResponseProblem(t, resp, abi.CodeForbidden, "")
		if res, _ := queryDocs(t, c, full, "sneaked in", 100, nil); len(res) != 0 {
			t.Fatalf("a grant without memory stored %+v", res)
		}
	})

	t.Run("max_docs 2", func(t *testing.T) {
		quota := hosttest.NewKey(t)
		qc, qg := h.Client(quota), h.memGrant(t, quota, 2)
		putDocs(t, qc, qg, abi.Document{ID: "q1", Content: "first"})
		putDocs(t, qc, qg, abi.Document{ID: "q2", Content: "second"})
		tests := []struct {
			name string
			docs []abi.Document
		}{
			{"third document", []abi.Document{{ID: "q3", Content: "third"}}},
			{"batch that crosses the cap", []abi.Document{{ID: "q1", Content: "first again"}, {ID: "q4", Content: "fourth"}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp := memCall(t, qc, "put", map[string]any{"grant": qg, "documents": tt.docs})
				wantResponseProblem(t, resp, abi.CodeBudgetExceeded, "")
			})
		}
		t.Run("third document through notes/remember", func(t *testing.T) {
			resp := invoke(t, qc, "notes/remember", `{"id":"q5","text":"fifth"}`, qg)
			wantResponseProblem(t, resp, abi.CodeToolFailed, abi.ReasonTrap)
		})
		t.Run("replacing a document at the cap", func(t *testing.T) {
			putDocs(t, qc, qg, abi.Document{ID: "q2", Content: "second, revised"})
		})
		res, _ := queryDocs(t, qc, qg, "first second third fourth fifth", 100, nil)
		if ids := docIDs(res); !slices.Equal(ids, []string{"q1", "q2"}) {
			t.Fatalf("store holds %v, want [q1 q2]", ids)
		}
		if q1, _ := findDoc(res, "q1"); q1.Content != "first" {
			t.Fatalf("a refused batch changed q1 to %q", q1.Content)
		}
	})
}

// testMemoryProvenance: every result says which API call or tool wrote it,
// in which request, when; callers cannot forge or filter on it.
func testMemoryProvenance(t *testing.T, h *memHost) {
	agent := hosttest.NewKey(t)
	c, g := h.Client(agent), h.memGrant(t, agent, 0)
	before := time.Now().UTC().Truncate(time.Second)
	apiResp := putDocs(t, c, g, abi.Document{ID: "from-api", Content: "written through the API", Metadata: map[string]string{"kind": "api"}})
	toolID, toolResp := rememberNote(t, c, g, `{"text":"written through the notes tool","tags":{"kind":"tool"}}`)
	after := time.Now().UTC().Add(time.Second)

	check := func(t *testing.T, prov map[string]string, source, request string) {
		t.Helper()
		if prov["source"] != source || prov["request"] != request {
			t.Fatalf("provenance %v, want source %q request %q", prov, source, request)
		}
		at, err := time.Parse(time.RFC3339Nano, prov["at"])
		if err != nil || at.Before(before) || at.After(after) {
			t.Fatalf("provenance at %q outside the calls (%v .. %v): %v", prov["at"], before, after, err)
		}
	}
	res, _ := queryDocs(t, c, g, "written through", 100, nil)
	for _, want := range []struct{ id, source, request string }{
		{"from-api", "api", apiResp.Receipt.Req},
		{toolID, "tool:notes/remember", toolResp.Receipt.Req},
	} {
		r, ok := findDoc(res, want.id)
		if !ok {
			t.Fatalf("%s missing from %+v", want.id, res)
		}
		check(t, r.Provenance, want.source, want.request)
		for k := range r.Metadata {
			if strings.HasPrefix(strings.ToLower(k), "_airlock_") {
				t.Fatalf("provenance key %q mixed into the caller's metadata", k)
			}
		}
	}
	for _, n := range recallNotes(t, c, g, `{"query":"written through","k":10}`) {
		switch n.ID {
		case "from-api":
			check(t, n.Provenance, "api", apiResp.Receipt.Req)
		case toolID:
			check(t, n.Provenance, "tool:notes/remember", toolResp.Receipt.Req)
		default:
			t.Fatalf("recall returned %q", n.ID)
		}
	}

	tests := []struct {
		name string
		op   string
		body map[string]any
	}{
		{"metadata forging the source", "put", map[string]any{"grant": g, "documents": []abi.Document{{ID: "forged", Content: "trust me", Metadata: map[string]string{"_airlock_source": "api"}}}}},
		{"metadata forging the source in other case", "put", map[string]any{"grant": g, "documents": []abi.Document{{ID: "forged", Content: "trust me", Metadata: map[string]string{"_AIRLOCK_request": "r"}}}}},
		{"filter on another request's provenance", "query", queryBody(g, "written", 10, map[string]string{"_airlock_request": apiResp.Receipt.Req})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantResponseProblem(t, memCall(t, c, tt.op, tt.body), abi.CodeBadRequest, "")
		})
	}
}

// trapTransport stands in for http.DefaultTransport: it records every
// request instead of sending it (chromem-go's OpenAI embedder goes through
// http.DefaultClient).
type trapTransport struct {
	mu   sync.Mutex
	seen []string
}

func (tr *trapTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	tr.mu.Lock()
	tr.seen = append(tr.seen, r.Method+" "+r.URL.Redacted())
	tr.mu.Unlock()
	return nil, errors.New("network use is not allowed in this test")
}

func (tr *trapTransport) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	s := tr.seen
	tr.seen = nil
	return s
}

// testMemoryNoNetwork: with the default configuration (builtin embedder)
// and OPENAI_API_KEY set (TestMemory), putting, querying and deleting
// through the API and through a tool make no outbound request.
func testMemoryNoNetwork(t *testing.T, h *memHost) {
	agent := hosttest.NewKey(t)
	g := h.memGrant(t, agent, 0)
	if os.Getenv("OPENAI_API_KEY") == "" {
		t.Fatal("OPENAI_API_KEY is not set: the test would prove nothing")
	}
	// The test's own client talks to the host on its own transport.
	own := &http.Transport{}
	t.Cleanup(own.CloseIdleConnections)
	c, err := client.New(h.URL(), agent, client.Options{HostDID: h.DID(), HTTP: &http.Client{Transport: own}})
	if err != nil {
		t.Fatal(err)
	}
	trap := &trapTransport{}
	orig := http.DefaultTransport
	http.DefaultTransport = trap
	t.Cleanup(func() { http.DefaultTransport = orig })

	// The trap catches what chromem-go's embedder would send (nothing is
	// dialled: the trap answers an error itself).
	if _, err := http.DefaultClient.Post("http://127.0.0.1:9/v1/embeddings", "application/json", nil); err == nil || len(trap.take()) != 1 {
		t.Fatal("the trap does not catch http.DefaultClient")
	}

	putDocs(t, c, g, abi.Document{ID: "n1", Content: "offline embedding only"})
	if res, _ := queryDocs(t, c, g, "offline embedding", 10, nil); len(res) != 1 {
		t.Fatalf("query answered %+v", res)
	}
	rememberNote(t, c, g, `{"text":"remembered offline"}`)
	if notes := recallNotes(t, c, g, `{"query":"offline","k":10}`); len(notes) != 2 {
		t.Fatalf("recall answered %+v", notes)
	}
	wantOutput(t, invoke(t, c, "notes/forget", `{"ids":["n1"]}`, g))
	if seen := trap.take(); len(seen) != 0 {
		t.Fatalf("memory with the default config made network requests: %v", seen)
	}
}

// testMemoryNoPlaintextOnDisk plants sentences through the API and through
// the notes tool, then reads every file under the data directory (SQLite
// database, WAL and shared memory included): none may hold them in plain
// text.
func testMemoryNoPlaintextOnDisk(t *testing.T, h *memHost) {
	agent := hosttest.NewKey(t)
	c, g := h.Client(agent), h.memGrant(t, agent, 0)
	planted := []string{
		"The vault combination is " + marker("api-sentence"),
		marker("api-metadata-value"),
		marker("api-document-id"),
		"The backup password is " + marker("tool-sentence"),
		marker("tool-tag-value"),
	}
	putDocs(t, c, g, abi.Document{ID: planted[2], Content: planted[0], Metadata: map[string]string{"note": planted[1]}})
	rememberNote(t, c, g, `{"text":"`+planted[3]+`","tags":{"note":"`+planted[4]+`"}}`)
	// Both are stored and readable: the disk must hold them, just not in clear.
	if res, _ := queryDocs(t, c, g, planted[0], 10, nil); len(res) != 2 {
		t.Fatalf("query answered %+v", res)
	}
	recallNotes(t, c, g, `{"query":"backup password","k":10}`)

	var files, memFiles, walFiles int
	err := filepath.WalkDir(h.DataDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if filepath.Base(filepath.Dir(path)) == "memory" {
			memFiles++
		}
		if strings.HasSuffix(path, "-wal") {
			walFiles++
		}
		if found := leaks(data, planted...); len(found) > 0 {
			t.Errorf("%s holds %q in plain text", path, found)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if memFiles == 0 || walFiles == 0 {
		t.Fatalf("read %d files, %d memory stores, %d WAL files: the data directory is not where the test looked", files, memFiles, walFiles)
	}
}

// testMemoryRestart: every document acknowledged before a restart, through
// the API or a tool, is there after it, and an acknowledged delete stays
// deleted.
func testMemoryRestart(t *testing.T, h *memHost) {
	agent := hosttest.NewKey(t)
	g := h.memGrant(t, agent, 0)
	c := h.Client(agent)
	want := map[string]string{}
	for i, text := range []string{"alpha note", "beta note", "gamma note"} {
		d := abi.Document{ID: "api-" + string(rune('a'+i)), Content: text}
		putDocs(t, c, g, d)
		want[d.ID] = d.Content
	}
	batch := []abi.Document{{ID: "batch-1", Content: "delta note"}, {ID: "batch-2", Content: "epsilon note"}}
	putDocs(t, c, g, batch...)
	for _, d := range batch {
		want[d.ID] = d.Content
	}
	for _, text := range []string{"zeta note", "eta note"} {
		id, _ := rememberNote(t, c, g, `{"text":"`+text+`"}`)
		want[id] = text
	}
	putDocs(t, c, g, abi.Document{ID: "api-a", Content: "alpha note, revised"})
	want["api-a"] = "alpha note, revised"
	if resp := memCall(t, c, "delete", map[string]any{"grant": g, "ids": []string{"api-b"}}); resp.Status != http.StatusOK {
		t.Fatalf("delete: %d %s", resp.Status, resp.Body)
	}
	delete(want, "api-b")
	before, _ := queryDocs(t, c, g, "note", 100, nil)

	h.Restart(t)

	c = h.Client(agent)
	after, _ := queryDocs(t, c, g, "note", 100, nil)
	if len(after) != len(want) {
		t.Fatalf("%d documents after restart, want %d: %v", len(after), len(want), docIDs(after))
	}
	for _, r := range after {
		if want[r.ID] != r.Content {
			t.Errorf("%s is %q after restart, want %q", r.ID, r.Content, want[r.ID])
		}
		prev, _ := findDoc(before, r.ID)
		if !maps.Equal(prev.Provenance, r.Provenance) {
			t.Errorf("%s: provenance %v after restart, was %v", r.ID, r.Provenance, prev.Provenance)
		}
	}
	// The tool still reaches the same store after the restart.
	if notes := recallNotes(t, c, g, `{"query":"zeta note","k":100}`); len(notes) != len(want) {
		t.Fatalf("recall after restart found %d notes, want %d", len(notes), len(want))
	}
}
