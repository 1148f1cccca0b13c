package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/sdk/client"
)

// testGrantAttacks presents grants that must not open the echo tool.
func testGrantAttacks(t *testing.T, h *apiHost) {
	otherOperator := h.otherOperator
	untrusted, otherAgent := hosttest.NewKey(t), hosttest.NewKey(t)
	now := time.Now()

	tests := []struct {
		name  string
		grant string
		tool  string // default echo/echo
		code  abi.Code
	}{
		{"grant from an untrusted key", h.GrantSignedBy(t, untrusted, nil), "", abi.CodeGrantInvalid},
		{"grant issued to another agent", h.Grant(t, func(c *grant.Claims) { c.Sub = otherAgent.DID() }), "", abi.CodeGrantInvalid},
		{"expired grant", h.Grant(t, func(c *grant.Claims) {
			c.Iat, c.Nbf, c.Exp = now.Add(-2*time.Hour).Unix(), now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
		}), "", abi.CodeGrantInvalid},
		{"grant not yet valid", h.Grant(t, func(c *grant.Claims) {
			c.Nbf, c.Exp = now.Add(time.Hour).Unix(), now.Add(2*time.Hour).Unix()
		}), "", abi.CodeGrantInvalid},
		{"grant for a realm that is not configured", h.Grant(t, func(c *grant.Claims) { c.Realm = "nowhere" }), "", abi.CodeGrantInvalid},
		{"grant for a realm where the operator is not trusted", h.Grant(t, func(c *grant.Claims) { c.Realm = "other" }), "", abi.CodeGrantInvalid},
		{"grant for another host (wrong aud)", h.Grant(t, func(c *grant.Claims) { c.Aud = untrusted.DID() }), "", abi.CodeGrantInvalid},
		{"operator key names another operator as iss", h.Grant(t, func(c *grant.Claims) { c.Iss = otherOperator.DID() }), "", abi.CodeGrantInvalid},
		{"tool not listed in the grant", h.Grant(t, func(c *grant.Claims) { c.Tools = []string{"web/fetch"} }), "", abi.CodeForbidden},
		{"tool granted but not installed", h.Grant(t, func(c *grant.Claims) { c.Tools = []string{"ghost/tool"} }), "ghost/tool", abi.CodeNotFound},
		{"garbage instead of a grant", "not.a.grant", "", abi.CodeGrantInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tool := tt.tool
			if tool == "" {
				tool = "echo/echo"
			}
			resp := invoke(t, h.Agent(), tool, `{"message":"hi"}`, tt.grant)
			wantResponseProblem(t, resp, tt.code, "")
			entries := entriesFor(t, h.Host, "", resp.Receipt.Req)
			if len(entries) != 1 || entries[0].Decision != "deny" || entries[0].Index != resp.Receipt.Seq {
				t.Fatalf("want exactly one deny entry at the receipt's seq %d, got %+v", resp.Receipt.Seq, entries)
			}
		})
	}
	echoStillServes(t, h.Host, h.Grant(t, nil))
}

// testRevocation revokes a grant by jti, then an agent; each takes effect
// on the next intent.
func testRevocation(t *testing.T, h *apiHost) {
	otherOperator := h.otherOperator
	ctx := context.Background()
	// A separate agent, so that revoking it does not touch other tests.
	victim := hosttest.NewKey(t)
	agent := h.Client(victim)
	const jti = "grant-to-be-revoked"
	first := h.Grant(t, func(c *grant.Claims) { c.Sub, c.Jti = victim.DID(), jti })
	second := h.Grant(t, func(c *grant.Claims) { c.Sub = victim.DID() })

	wantOutput(t, invoke(t, agent, "echo/echo", `{"message":"before"}`, first))

	t.Run("revoked grant by jti", func(t *testing.T) {
		if _, err := h.Operator().Revoke(ctx, hosttest.DefaultRealm, "grant", jti); err != nil {
			t.Fatal(err)
		}
		wantResponseProblem(t, invoke(t, agent, "echo/echo", `{"message":"after"}`, first), abi.CodeGrantRevoked, "")
		// the agent's other grant still works
		wantOutput(t, invoke(t, agent, "echo/echo", `{"message":"other grant"}`, second))
	})
	t.Run("revoked agent", func(t *testing.T) {
		if _, err := h.Operator().Revoke(ctx, hosttest.DefaultRealm, "agent", victim.DID()); err != nil {
			t.Fatal(err)
		}
		wantResponseProblem(t, invoke(t, agent, "echo/echo", `{"message":"after"}`, second), abi.CodeGrantRevoked, "")
		fresh := h.Grant(t, func(c *grant.Claims) { c.Sub = victim.DID() })
		wantResponseProblem(t, invoke(t, agent, "echo/echo", `{"message":"new grant"}`, fresh), abi.CodeGrantRevoked, "")
	})
	t.Run("revocation survives a restart", func(t *testing.T) {
		h.Restart(t)
		wantResponseProblem(t, invoke(t, h.Client(victim), "echo/echo", `{"message":"restarted"}`, second), abi.CodeGrantRevoked, "")
	})
	t.Run("unrevoked agent unaffected", func(t *testing.T) {
		echoStillServes(t, h.Host, h.Grant(t, nil))
	})

	refusals := []struct {
		name   string
		client func() *client.Client
		body   map[string]string
		code   abi.Code
	}{
		{"agent revoking its own revocation target", func() *client.Client { return h.Agent() },
			map[string]string{"realm": hosttest.DefaultRealm, "agent": h.AgentKey().DID()}, abi.CodeForbidden},
		{"operator of another realm revoking here", func() *client.Client { return h.Client(otherOperator) },
			map[string]string{"realm": hosttest.DefaultRealm, "agent": h.AgentKey().DID()}, abi.CodeForbidden},
		{"revocation in a realm that does not exist", func() *client.Client { return h.Operator() },
			map[string]string{"realm": "nowhere", "agent": h.AgentKey().DID()}, abi.CodeForbidden},
		{"two targets at once", func() *client.Client { return h.Operator() },
			map[string]string{"realm": hosttest.DefaultRealm, "agent": h.AgentKey().DID(), "grant": "x"}, abi.CodeBadRequest},
		{"agent that is not a did:key", func() *client.Client { return h.Operator() },
			map[string]string{"realm": hosttest.DefaultRealm, "agent": "mallory"}, abi.CodeBadRequest},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := tt.client().DoJSON(ctx, http.MethodPost, "/v1/revocations", tt.body, nil)
			wantResponseProblem(t, resp, tt.code, "")
		})
	}
	// none of the refused revocations took effect
	echoStillServes(t, h.Host, h.Grant(t, nil))
}
