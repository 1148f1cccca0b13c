package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/internal/hosttest"
)

// testBudgets: a grant's budget is enforced per agent with budget_exceeded,
// and one agent exhausting its budget leaves every other agent served.
func testBudgets(t *testing.T, h *capHost) {
	t.Run("calls per minute: agent A floods while agent B is served", func(t *testing.T) {
		a, b := hosttest.NewKey(t), hosttest.NewKey(t)
		budget := func(c *grant.Claims) { c.Tools, c.Budget.CallsPerMinute = []string{"echo/echo"}, 3 }
		ga, gb := grantFor(t, h.Host, a, budget), grantFor(t, h.Host, b, budget)
		msg := `{"message":"hi"}`
		for i := range 3 {
			if out := wantOutput(t, invoke(t, h.Client(a), "echo/echo", msg, ga)); string(out) != msg {
				t.Fatalf("call %d of A answered %s", i+1, out)
			}
		}
		resp := invoke(t, h.Client(a), "echo/echo", msg, ga)
		if resp.Status != http.StatusTooManyRequests {
			t.Fatalf("A's 4th call answered %d, want 429", resp.Status)
		}
		wantResponseProblem(t, resp, abi.CodeBudgetExceeded, "")
		if !hasEntry(entriesFor(t, h.Host, hosttest.DefaultRealm, resp.Receipt.Req), "invoke", "deny", "calls per minute") {
			t.Fatal("the refusal was not audited")
		}
		// B has its own budget, untouched by A's flood.
		for i := range 3 {
			if out := wantOutput(t, invoke(t, h.Client(b), "echo/echo", msg, gb)); string(out) != msg {
				t.Fatalf("call %d of B answered %s", i+1, out)
			}
		}
		// A's second grant does not reset A's budget either.
		wantResponseProblem(t, invoke(t, h.Client(a), "echo/echo", msg, grantFor(t, h.Host, a, budget)), abi.CodeBudgetExceeded, "")
	})

	t.Run("egress bytes per day: the second fetch is refused", func(t *testing.T) {
		tg := newTarget(t, "127.0.0.1:0", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(strings.Repeat("x", 200)))
		})
		a, b := hosttest.NewKey(t), hosttest.NewKey(t)
		fetch := func(c *grant.Claims) {
			c.Tools = []string{"web/fetch"}
			c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"127.0.0.1"}}
			c.Budget.EgressBytesPerDay = 100
		}
		ga, gb := grantFor(t, h.Host, a, fetch), grantFor(t, h.Host, b, fetch)
		input := `{"url":"` + tg.URL + `/"}`
		fetched := func(resp []byte) {
			t.Helper()
			var out struct{ Status int }
			if err := json.Unmarshal(resp, &out); err != nil || out.Status != http.StatusOK {
				t.Fatalf("fetch answered %s (%v)", resp, err)
			}
		}

		fetched(wantOutput(t, invoke(t, h.Client(a), "web/fetch", input, ga)))
		resp := invoke(t, h.Client(a), "web/fetch", input, ga)
		wantToolError(t, resp, abi.CodeBudgetExceeded)
		if !hasEntry(entriesFor(t, h.Host, hosttest.DefaultRealm, resp.Receipt.Req), "egress", "deny", "egress bytes per day") {
			t.Fatal("the refusal was not audited")
		}
		if n := tg.hits.Load(); n != 1 {
			t.Fatalf("the target saw %d requests, want only the first", n)
		}
		// B spends its own budget.
		fetched(wantOutput(t, invoke(t, h.Client(b), "web/fetch", input, gb)))
	})
}
