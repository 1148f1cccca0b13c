package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/internal/hosttest"
)

// testIntentSchema holds tools to their declared schemas, both ways.
func testIntentSchema(t *testing.T, h *apiHost) {
	// echo-strict promises a field echo never produces.
	h.Install(t, hosttest.DefaultRealm, echoPlugin, func(m *bundle.Manifest) {
		m.Name = "echo-strict"
		m.Tools[0].OutputSchema = json.RawMessage(`{"type":"object","required":["message","verified"]}`)
	})
	grant := h.Grant(t, nil)

	tests := []struct {
		name   string
		tool   string
		input  string
		code   abi.Code
		reason abi.FailureReason
	}{
		{"input of the wrong type", "echo/echo", `{"message":5}`, abi.CodeSchemaViolation, ""},
		{"input with a field the schema forbids", "echo/echo", `{"message":"hi","shell":"rm -rf /"}`, abi.CodeSchemaViolation, ""},
		{"input missing a required field", "echo/echo", `{}`, abi.CodeSchemaViolation, ""},
		{"input over the schema's maxLength", "echo/echo", `{"message":"` + strings.Repeat("a", 65537) + `"}`, abi.CodeSchemaViolation, ""},
		{"output that breaks the output schema", "echo-strict/echo", `{"message":"hi"}`, abi.CodeToolFailed, abi.ReasonOutputSchema},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := invoke(t, h.Agent(), tt.tool, tt.input, grant)
			wantResponseProblem(t, resp, tt.code, tt.reason)
			if strings.Contains(string(resp.Body), `"message":"hi"`) {
				t.Fatalf("problem leaks the tool output: %s", resp.Body)
			}
		})
	}
	echoStillServes(t, h.Host, grant)
}

// testIntentContainment runs tools that never stop or eat memory, through
// HTTP; each is stopped at its grant's budget and the host keeps serving.
func testIntentContainment(t *testing.T, h *apiHost) {
	echoGrant := h.Grant(t, nil)

	tests := []struct {
		name   string
		tool   string
		budget grant.Budget
		reason abi.FailureReason
	}{
		{"infinite loop under a 200 ms budget", "spin/spin", grant.Budget{TimeoutMS: 200}, abi.ReasonTimeout},
		{"memory bomb under a 16 MiB budget", "memhog/memhog", grant.Budget{MemoryMB: 16}, abi.ReasonMemory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := h.Grant(t, func(c *grant.Claims) { c.Tools, c.Budget = []string{tt.tool}, tt.budget })
			resp := invoke(t, h.Agent(), tt.tool, `{}`, g)
			wantResponseProblem(t, resp, abi.CodeToolFailed, tt.reason)
			entries := entriesFor(t, h.Host, hosttest.DefaultRealm, resp.Receipt.Req)
			if !hasEntry(entries, "result", "failed", string(tt.reason)) {
				t.Fatalf("no failed result entry for %s: %+v", tt.reason, entries)
			}
			echoStillServes(t, h.Host, echoGrant)
		})
	}
}

// testIntentStrictJSON refuses intent bodies that are not exactly one
// known JSON object under the size cap.
func testIntentStrictJSON(t *testing.T, h *apiHost) {
	grant := h.Grant(t, nil)
	valid := `{"tool":"echo/echo","input":{"message":"hi"},"grant":"` + grant + `"}`

	tests := []struct {
		name string
		body string
		code abi.Code
	}{
		{"unknown field smuggled into the intent", `{"tool":"echo/echo","input":{"message":"hi"},"grant":"` + grant + `","admin":true}`, abi.CodeBadRequest},
		{"field name in other case", `{"TOOL":"echo/echo","input":{"message":"hi"},"grant":"` + grant + `"}`, abi.CodeBadRequest},
		{"trailing data after the intent", valid + `{"tool":"web/fetch"}`, abi.CodeBadRequest},
		{"trailing garbage", valid + `]`, abi.CodeBadRequest},
		{"two intents in one body", valid + valid, abi.CodeBadRequest},
		{"not JSON", `tool=echo/echo`, abi.CodeBadRequest},
		{"missing tool", `{"input":{},"grant":"` + grant + `"}`, abi.CodeBadRequest},
		{"duplicate tool member (last one wins in encoding/json)", `{"tool":"echo/echo","tool":"web/fetch","input":{"message":"hi"},"grant":"` + grant + `"}`, abi.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.Agent().Do(context.Background(), http.MethodPost, "/v1/intents", "application/json", []byte(tt.body))
			if resp == nil {
				t.Fatal(err)
			}
			wantResponseProblem(t, resp, tt.code, "")
		})
	}
	// A body over the cap is refused before its proof is even checked, so
	// the receipt names no request.
	t.Run("body over 1 MiB", func(t *testing.T) {
		body := []byte(`{"tool":"echo/echo","input":{"message":"` + strings.Repeat("a", 1<<20) + `"},"grant":"` + grant + `"}`)
		tok, err := h.AgentKey().SignJSON(identity.TypRequest, proofClaims(h.AgentKey(), h.DID(), http.MethodPost, "/v1/intents", body))
		if err != nil {
			t.Fatal(err)
		}
		resp := send(t, h.Host, http.MethodPost, "/v1/intents", "Airlock "+tok, body, "")
		wantProblem(t, resp.Status, resp.Body, abi.CodeTooLarge, "")
	})
	// the same body, well formed, works
	resp, err := h.Agent().Do(context.Background(), http.MethodPost, "/v1/intents", "application/json", []byte(valid))
	if resp == nil {
		t.Fatal(err)
	}
	wantOutput(t, resp)
}

// testUngrantedHostFunction: a tool whose grant lacks a capability is
// refused before it runs, and a tool that calls a host function its grant
// does not give finds it unlinked; both are audited as denials.
func testUngrantedHostFunction(t *testing.T, h *privateHost) {
	tg := newTarget(t, "127.0.0.1:0", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret")) })
	input := `{"url":"` + tg.URL + `/"}`

	tests := []struct {
		name  string
		tool  string
		input string
	}{
		{"tool needs http, grant gives none", "sneak/fetch", input},
		{"web/fetch without caps.http", "web/fetch", input},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := h.Grant(t, func(c *grant.Claims) { c.Tools = []string{tt.tool} })
			resp := invoke(t, h.Agent(), tt.tool, tt.input, g)
			wantResponseProblem(t, resp, abi.CodeForbidden, "")
			entries := entriesFor(t, h.Host, hosttest.DefaultRealm, resp.Receipt.Req)
			if len(entries) != 1 || entries[0].Action != "invoke" || entries[0].Decision != "deny" || entries[0].Index != resp.Receipt.Seq {
				t.Fatalf("want one invoke deny entry at seq %d, got %+v", resp.Receipt.Seq, entries)
			}
		})
	}

	t.Run("tool declaring no capability calls http_request anyway", func(t *testing.T) {
		g := h.Grant(t, func(c *grant.Claims) { c.Tools = []string{"sneak/quiet"} })
		resp := invoke(t, h.Agent(), "sneak/quiet", input, g)
		var out struct{ Code, Message string }
		if err := json.Unmarshal(wantOutput(t, resp), &out); err != nil {
			t.Fatal(err)
		}
		if out.Code != string(abi.CodeForbidden) {
			t.Fatalf("http_request answered %q (%s), want forbidden", out.Code, out.Message)
		}
		entries := entriesFor(t, h.Host, hosttest.DefaultRealm, resp.Receipt.Req)
		if !hasEntry(entries, "host_call", "deny", "http_request") {
			t.Fatalf("no host_call deny entry: %+v", entries)
		}
		for _, e := range entries {
			if e.Action == "egress" {
				t.Fatalf("the unlinked call reached the egress guard: %+v", e)
			}
		}
	})
	if n := tg.hits.Load(); n != 0 {
		t.Fatalf("the target saw %d requests", n)
	}
}
