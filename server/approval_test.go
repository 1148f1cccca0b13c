package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/internal/hosttest"
)

type pendingAnswer struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func holdIntent(t *testing.T, h *hosttest.Host, g, msg string) pendingAnswer {
	t.Helper()
	resp := invoke(t, h.Agent(), "echo/echo", `{"message":"`+msg+`"}`, g)
	if resp.Status != http.StatusAccepted {
		t.Fatalf("intent needing approval: status %d, want 202: %s", resp.Status, resp.Body)
	}
	var p pendingAnswer
	if err := json.Unmarshal(resp.Body, &p); err != nil || p.ID == "" || p.Status != "pending" {
		t.Fatalf("malformed 202 answer %s: %v", resp.Body, err)
	}
	return p
}

func intentStatus(t *testing.T, h *hosttest.Host, id string) (int, map[string]json.RawMessage) {
	t.Helper()
	resp, _ := h.Agent().DoJSON(context.Background(), http.MethodGet, "/v1/intents/"+id, nil, nil)
	if resp == nil {
		t.Fatal("no answer")
	}
	var v map[string]json.RawMessage
	_ = json.Unmarshal(resp.Body, &v)
	return resp.Status, v
}

func decide(t *testing.T, h *hosttest.Host, id, decision string) (int, []byte) {
	t.Helper()
	resp, _ := h.Operator().DoJSON(context.Background(), http.MethodPost, "/v1/approvals/"+id+"?realm=default",
		map[string]string{"decision": decision}, nil)
	if resp == nil {
		t.Fatal("no answer")
	}
	return resp.Status, resp.Body
}

// TestApprovalGate: an intent for a tool that needs approval is held (202),
// runs exactly once when an operator allows it, and is visible only to the
// agent that sent it.
func TestApprovalGate(t *testing.T) {
	h := newHost(t)
	h.Install(t, hosttest.DefaultRealm, echoPlugin, nil)
	g := h.Grant(t, func(c *grant.Claims) { c.Tools = []string{"echo/*"}; c.Approval = []string{"echo/echo"} })

	t.Run("held, approved, run once, fetched by its agent", func(t *testing.T) {
		p := holdIntent(t, h, g, "needs a human")
		if st, v := intentStatus(t, h, p.ID); st != 200 || string(v["status"]) != `"pending"` {
			t.Fatalf("GET pending intent: %d %v", st, v)
		}
		var list struct {
			Approvals []struct {
				ID, Tool, Agent string
			} `json:"approvals"`
		}
		if _, err := h.Operator().DoJSON(context.Background(), http.MethodGet, "/v1/approvals?realm=default", nil, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Approvals) != 1 || list.Approvals[0].ID != p.ID || list.Approvals[0].Agent != h.AgentKey().DID() {
			t.Fatalf("approvals list = %+v", list.Approvals)
		}
		st, body := decide(t, h, p.ID, "allow")
		if st != 200 {
			t.Fatalf("allow: %d %s", st, body)
		}
		st, v := intentStatus(t, h, p.ID)
		if st != 200 || string(v["status"]) != `"done"` || string(v["output"]) != `{"message":"needs a human"}` {
			t.Fatalf("GET approved intent: %d %s %s", st, v["status"], v["output"])
		}
		// approval replayed → runs once
		if st, body := decide(t, h, p.ID, "allow"); st != 404 {
			t.Fatalf("replayed approval: %d %s, want 404", st, body)
		}
		all, err := h.AuditLog().Entries(context.Background(), "default", 0, audit.MaxEntries)
		if err != nil {
			t.Fatal(err)
		}
		results := 0
		for _, e := range all {
			if e.Action == "result" && e.Tool == "echo/echo" {
				results++
			}
		}
		if results != 1 {
			t.Fatalf("the approved intent ran %d times, want once", results)
		}
	})

	t.Run("approval id guessed by another agent gets nothing", func(t *testing.T) {
		p := holdIntent(t, h, g, "mine")
		other := hosttest.NewKey(t)
		unknown, _ := h.Client(other).DoJSON(context.Background(), http.MethodGet, "/v1/intents/doesnotexist", nil, nil)
		guessed, _ := h.Client(other).DoJSON(context.Background(), http.MethodGet, "/v1/intents/"+p.ID, nil, nil)
		if guessed.Status != 404 || unknown.Status != 404 || string(guessed.Body) != string(unknown.Body) {
			t.Fatalf("another agent's view of the id: %d %s; unknown id: %d %s", guessed.Status, guessed.Body, unknown.Status, unknown.Body)
		}
		// an operator of another realm cannot decide it either (same answer as unknown)
		if st, _ := decide(t, h, "doesnotexist", "allow"); st != 404 {
			t.Fatalf("unknown approval id: %d", st)
		}
	})

	t.Run("denied intent never runs", func(t *testing.T) {
		p := holdIntent(t, h, g, "refuse me")
		if st, body := decide(t, h, p.ID, "deny"); st != 200 {
			t.Fatalf("deny: %d %s", st, body)
		}
		if st, v := intentStatus(t, h, p.ID); st != 200 || string(v["status"]) != `"denied"` || v["output"] != nil {
			t.Fatalf("GET denied intent: %d %v", st, v)
		}
		if st, _ := decide(t, h, p.ID, "allow"); st != 404 {
			t.Fatal("a denied intent was approved afterwards")
		}
	})

	t.Run("agent is not an operator", func(t *testing.T) {
		p := holdIntent(t, h, g, "self approval")
		resp, _ := h.Agent().DoJSON(context.Background(), http.MethodPost, "/v1/approvals/"+p.ID+"?realm=default",
			map[string]string{"decision": "allow"}, nil)
		wantResponseProblem(t, resp, abi.CodeForbidden, "")
		decide(t, h, p.ID, "deny")
	})

	t.Run("mail tools need approval by default", func(t *testing.T) {
		h.Install(t, hosttest.DefaultRealm, "plugins/mail", nil)
		mg := h.Grant(t, func(c *grant.Claims) {
			c.Tools = []string{"mail/*"}
			c.Caps.Mail = &grant.MailCap{To: []string{"*@example.org"}}
		})
		resp := invoke(t, h.Agent(), "mail/send", `{"to":["a@example.org"],"subject":"hi","body":"hello"}`, mg)
		if resp.Status != http.StatusAccepted {
			t.Fatalf("mail/send without approval: status %d, want 202: %s", resp.Status, resp.Body)
		}
		var p pendingAnswer
		_ = json.Unmarshal(resp.Body, &p)
		decide(t, h, p.ID, "deny")
	})

	t.Run("a flood of approval requests is capped", func(t *testing.T) {
		flood := h.Grant(t, func(c *grant.Claims) { c.Tools = []string{"echo/*"}; c.Approval = []string{"echo/echo"} })
		var ids []string
		for {
			resp := invoke(t, h.Agent(), "echo/echo", `{"message":"flood"}`, flood)
			if resp.Status == http.StatusAccepted {
				var p pendingAnswer
				_ = json.Unmarshal(resp.Body, &p)
				ids = append(ids, p.ID)
				if len(ids) > 50 {
					t.Fatal("no cap on pending approvals")
				}
				continue
			}
			wantResponseProblem(t, resp, abi.CodeBudgetExceeded, "")
			break
		}
		for _, id := range ids {
			decide(t, h, id, "deny")
		}
	})
}
