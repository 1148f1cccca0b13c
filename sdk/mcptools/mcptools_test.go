package mcptools_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/sdk/client"
	"github.com/airlock-dev/airlock/sdk/mcptools"
)

// connect serves cfg to a real MCP client (go-sdk) over in-memory
// transports and returns the client's session.
func connect(t *testing.T, cfg mcptools.Config) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := mcptools.NewServer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, ct := mcp.NewInMemoryTransports()
	go func() { _ = srv.Run(ctx, st) }()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	sort.Strings(names)
	return names
}

func text(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func call(t *testing.T, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("CallTool %s: %v", name, err)
	}
	return res
}

// An MCP client lists the tools the grant names and calls them; every call
// is a signed intent the host checks, runs and audits.
func TestMCPClientCallsGrantedTools(t *testing.T) {
	h := hosttest.New(t)
	h.Install(t, hosttest.DefaultRealm, "plugins/echo", nil)
	cs := connect(t, mcptools.Config{
		Client: h.Agent(),
		Grant:  h.Grant(t, func(c *grant.Claims) { c.Tools = []string{"echo/echo", "ghost/tool"} }),
	})
	if got := toolNames(t, cs); strings.Join(got, ",") != "echo.echo" {
		t.Fatalf("tools offered: %v, want [echo.echo] (ghost/tool is not installed; no airlock.invoke for a grant without patterns)", got)
	}

	res := call(t, cs, "echo.echo", map[string]any{"message": "over mcp"})
	if res.IsError || text(res) != `{"message":"over mcp"}` {
		t.Fatalf("echo.echo: error=%v %q", res.IsError, text(res))
	}
	var structured struct{ Message string }
	if b, _ := json.Marshal(res.StructuredContent); json.Unmarshal(b, &structured) != nil || structured.Message != "over mcp" {
		t.Fatalf("structured content %v", res.StructuredContent)
	}

	// The host's checks reach the MCP client as error results.
	res = call(t, cs, "echo.echo", map[string]any{"message": 42})
	if !res.IsError || !strings.Contains(text(res), "schema_violation") {
		t.Fatalf("bad input: error=%v %q, want a schema_violation error result", res.IsError, text(res))
	}

	entries, err := h.AuditLog().Entries(context.Background(), hosttest.DefaultRealm, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	decisions := map[string]int{}
	for _, e := range entries {
		if e.Action == "invoke" && e.Tool == "echo/echo" && e.Actor == h.AgentKey().DID() {
			decisions[e.Decision]++
		}
	}
	if decisions["allow"] != 1 || decisions["deny"] != 1 {
		t.Fatalf("audited invoke decisions of the agent: %v, want one allow and one deny", decisions)
	}
}

// A grant that names tools by pattern cannot be listed by the agent: its
// tools are reached through airlock.invoke, or offered by name with Tools,
// and the host still refuses what the grant does not allow.
func TestMCPPatternGrants(t *testing.T) {
	h := hosttest.New(t)
	h.Install(t, hosttest.DefaultRealm, "plugins/echo", nil)
	cs := connect(t, mcptools.Config{
		Client: h.Agent(),
		Grant:  h.Grant(t, func(c *grant.Claims) { c.Tools = []string{"echo/*"} }),
		Tools:  []string{"echo/echo", "other/tool"},
	})
	if got := toolNames(t, cs); strings.Join(got, ",") != "airlock.invoke,echo.echo,other.tool" {
		t.Fatalf("tools offered: %v", got)
	}
	listed, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range listed.Tools {
		if tool.Name != "echo.echo" {
			continue
		}
		schema, _ := json.Marshal(tool.InputSchema)
		if !strings.HasPrefix(tool.Description, "Returns the given message unchanged.") || !strings.Contains(string(schema), `"message"`) {
			t.Fatalf("echo.echo offered as %q with schema %s; want the manifest's description and schema (POST /v1/tools)", tool.Description, schema)
		}
	}
	res := call(t, cs, mcptools.InvokeTool, map[string]any{"tool": "echo/echo", "input": map[string]any{"message": "by id"}})
	if res.IsError || text(res) != `{"message":"by id"}` {
		t.Fatalf("airlock.invoke echo/echo: error=%v %q", res.IsError, text(res))
	}
	res = call(t, cs, "other.tool", map[string]any{})
	if !res.IsError || !strings.Contains(text(res), "forbidden") {
		t.Fatalf("a tool outside the grant: error=%v %q, want forbidden", res.IsError, text(res))
	}
	for _, args := range []any{
		map[string]any{"tool": "echo/echo"},
		map[string]any{"tool": "echo", "input": map[string]any{}},
		map[string]any{"tool": "echo/echo", "input": map[string]any{}, "extra": 1},
	} {
		if res := call(t, cs, mcptools.InvokeTool, args); !res.IsError {
			t.Errorf("airlock.invoke %v: not an error (%q)", args, text(res))
		}
	}
}

// An intent held for human approval is reported with its id, not as output.
func TestMCPHeldForApproval(t *testing.T) {
	h := hosttest.New(t)
	h.Install(t, hosttest.DefaultRealm, "plugins/echo", nil)
	cs := connect(t, mcptools.Config{
		Client: h.Agent(),
		Grant:  h.Grant(t, func(c *grant.Claims) { c.Tools = []string{"echo/echo"}; c.Approval = []string{"echo/echo"} }),
	})
	if got := toolNames(t, cs); strings.Join(got, ",") != "airlock.status,echo.echo" {
		t.Fatalf("tools offered: %v, want airlock.status beside a tool that may be held", got)
	}
	res := call(t, cs, "echo.echo", map[string]any{"message": "wait"})
	if res.IsError || !strings.Contains(text(res), "held for human approval") || strings.Contains(text(res), `"message"`) {
		t.Fatalf("held intent: error=%v %q", res.IsError, text(res))
	}
	ctx := context.Background()
	var pending struct {
		Approvals []struct {
			ID string `json:"id"`
		} `json:"approvals"`
	}
	if _, err := h.Operator().DoJSON(ctx, http.MethodGet, "/v1/approvals?realm=default", nil, &pending); err != nil || len(pending.Approvals) != 1 {
		t.Fatalf("approvals: %+v, %v", pending, err)
	}
	id := pending.Approvals[0].ID
	if !strings.Contains(text(res), id) {
		t.Fatalf("the held answer %q does not name intent %s", text(res), id)
	}
	status := func() string {
		t.Helper()
		res := call(t, cs, mcptools.StatusTool, map[string]any{"id": id})
		if res.IsError {
			t.Fatalf("airlock.status: %q", text(res))
		}
		return text(res)
	}
	if got := status(); !strings.Contains(got, `"status":"pending"`) {
		t.Fatalf("status before the decision: %s", got)
	}
	if _, err := h.Operator().DoJSON(ctx, http.MethodPost, "/v1/approvals/"+id+"?realm=default", map[string]string{"decision": "allow"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := status(); !strings.Contains(got, `"status":"done"`) || !strings.Contains(got, `"output":{"message":"wait"}`) {
		t.Fatalf("status after approval: %s", got)
	}
	if res := call(t, cs, mcptools.StatusTool, map[string]any{"id": "someone-elses"}); !res.IsError {
		t.Fatalf("status of an unknown id: %q", text(res))
	}
}

func TestNewServerRefusesBadConfig(t *testing.T) {
	h := hosttest.New(t)
	good := h.Grant(t, nil)
	for name, cfg := range map[string]mcptools.Config{
		"no client":       {Grant: good},
		"not a grant":     {Client: h.Agent(), Grant: "not.a.jws"},
		"not a tool id":   {Client: h.Agent(), Grant: good, Tools: []string{"echo.echo"}},
		"pattern as tool": {Client: h.Agent(), Grant: good, Tools: []string{"echo/*"}},
	} {
		if _, err := mcptools.NewServer(context.Background(), cfg); err == nil {
			t.Errorf("%s: NewServer accepted it", name)
		}
	}
}

// A host that cannot list tools (here a proxy that answers 404, without a
// receipt, for POST /v1/tools) still gets the grant's exact tools offered,
// with an open schema; calls go through as before.
func TestMCPWithoutToolListing(t *testing.T) {
	h := hosttest.New(t)
	h.Install(t, hosttest.DefaultRealm, "plugins/echo", nil)
	target, err := url.Parse(h.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/tools" {
			http.NotFound(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	c, err := client.New(front.URL, h.AgentKey(), client.Options{HostDID: h.DID()})
	if err != nil {
		t.Fatal(err)
	}
	cs := connect(t, mcptools.Config{Client: c, Grant: h.Grant(t, func(c *grant.Claims) { c.Tools = []string{"echo/echo", "ghost/tool"} })})
	if got := toolNames(t, cs); strings.Join(got, ",") != "echo.echo,ghost.tool" {
		t.Fatalf("tools offered without a listing: %v, want every id the grant names", got)
	}
	listed, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if schema, _ := json.Marshal(listed.Tools[0].InputSchema); string(schema) != `{"type":"object"}` {
		t.Fatalf("schema without a listing: %s, want the open object", schema)
	}
	if res := call(t, cs, "echo.echo", map[string]any{"message": "via proxy"}); res.IsError || text(res) != `{"message":"via proxy"}` {
		t.Fatalf("call: error=%v %q", res.IsError, text(res))
	}
}
