package mcptools_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/sdk/mcptools"
)

// An agent's grant with the memory capability brings its own memory to
// its MCP client: put, query (results carry their provenance) and delete.
// Another agent's MCP session never sees it, and a grant without the
// capability offers no memory tools.
func TestMCPMemoryTools(t *testing.T) {
	h := hosttest.New(t)
	h.Install(t, hosttest.DefaultRealm, "plugins/echo", nil)
	withMemory := func(c *grant.Claims) {
		c.Tools = []string{"echo/echo"}
		c.Caps.Memory = &grant.MemoryCap{MaxDocs: 10}
	}
	cs := connect(t, mcptools.Config{Client: h.Agent(), Grant: h.Grant(t, withMemory)})
	names := toolNames(t, cs)
	for _, want := range []string{mcptools.MemoryPutTool, mcptools.MemoryQueryTool, mcptools.MemoryDeleteTool} {
		if !slices.Contains(names, want) {
			t.Fatalf("tools offered: %v, want %s", names, want)
		}
	}

	res := call(t, cs, mcptools.MemoryPutTool, map[string]any{"documents": []map[string]any{
		{"id": "lighthouse", "content": "the lighthouse keeper's code word is periwinkle", "metadata": map[string]string{"topic": "harbour"}},
		{"id": "bakery", "content": "the bakery opens at six"},
	}})
	if res.IsError || text(res) != "stored 2 document(s)" {
		t.Fatalf("put: error=%v %q", res.IsError, text(res))
	}
	res = call(t, cs, mcptools.MemoryQueryTool, map[string]any{"query": "lighthouse keeper code word", "k": 1})
	if res.IsError {
		t.Fatalf("query: %q", text(res))
	}
	var got abi.MemoryQueryResponse
	if err := json.Unmarshal([]byte(text(res)), &got); err != nil || len(got.Results) != 1 {
		t.Fatalf("query answer %q (%v)", text(res), err)
	}
	hit := got.Results[0]
	if hit.ID != "lighthouse" || hit.Metadata["topic"] != "harbour" || hit.Provenance["source"] != "api" || hit.Provenance["at"] == "" {
		t.Fatalf("hit %+v: want the lighthouse note with its metadata and provenance", hit)
	}
	if res.StructuredContent == nil {
		t.Fatal("query answer has no structured content")
	}

	// Another agent, with its own grant and MCP session, finds nothing.
	other := hosttest.NewKey(t)
	og := h.Grant(t, func(c *grant.Claims) { withMemory(c); c.Sub = other.DID() })
	ocs := connect(t, mcptools.Config{Client: h.Client(other), Grant: og})
	res = call(t, ocs, mcptools.MemoryQueryTool, map[string]any{"query": "lighthouse keeper code word"})
	if res.IsError || strings.Contains(text(res), "periwinkle") || strings.Contains(text(res), "lighthouse") {
		t.Fatalf("another agent's query: error=%v %q", res.IsError, text(res))
	}

	res = call(t, cs, mcptools.MemoryDeleteTool, map[string]any{"ids": []string{"lighthouse"}})
	if res.IsError {
		t.Fatalf("delete: %q", text(res))
	}
	res = call(t, cs, mcptools.MemoryQueryTool, map[string]any{"query": "lighthouse keeper code word", "k": 5})
	if res.IsError || strings.Contains(text(res), "periwinkle") || !strings.Contains(text(res), "bakery") {
		t.Fatalf("after delete: error=%v %q", res.IsError, text(res))
	}

	// Bad arguments and the host's refusals are error results.
	for name, args := range map[string]map[string]any{
		mcptools.MemoryPutTool:    {"documents": []map[string]any{{"id": "x", "content": "y", "owner": "someone else"}}},
		mcptools.MemoryQueryTool:  {"query": ""},
		mcptools.MemoryDeleteTool: {"ids": []string{}},
	} {
		if res := call(t, cs, name, args); !res.IsError {
			t.Fatalf("%s %v: accepted (%q)", name, args, text(res))
		}
	}
	var many []map[string]any
	for i := range 10 { // the bakery note and 10 more: over max_docs
		many = append(many, map[string]any{"id": "n" + string(rune('a'+i)), "content": "note"})
	}
	if res := call(t, cs, mcptools.MemoryPutTool, map[string]any{"documents": many}); !res.IsError || !strings.Contains(text(res), "budget_exceeded") {
		t.Fatalf("a put over max_docs: error=%v %q, want a budget_exceeded error result", res.IsError, text(res))
	}

	// No memory capability: no memory tools.
	plain := connect(t, mcptools.Config{Client: h.Agent(), Grant: h.Grant(t, func(c *grant.Claims) { c.Tools = []string{"echo/echo"} })})
	for _, n := range toolNames(t, plain) {
		if strings.HasPrefix(n, "airlock.memory") {
			t.Fatalf("a grant without the memory capability offers %s", n)
		}
	}
}
