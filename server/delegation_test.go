package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/sdk/client"
)

// delegationHost issues operator roots and delegated grants on one host.
type delegationHost struct {
	*hosttest.Host
}

// root issues an operator-signed grant to holder and returns it with its claims.
func (h delegationHost) root(tb testing.TB, holder *identity.Key, claims func(*grant.Claims)) (string, *grant.Claims) {
	tb.Helper()
	tok := h.Grant(tb, func(c *grant.Claims) {
		c.Sub = holder.DID()
		if claims != nil {
			claims(c)
		}
	})
	return tok, claimsOf(tb, tok)
}

// delegate signs child from parent as holder with grant.Delegate.
func (h delegationHost) delegate(t *testing.T, holder *identity.Key, parent *grant.Claims, child grant.Claims) (string, *grant.Claims) {
	t.Helper()
	tok, err := grant.Delegate(holder, parent, child, time.Now())
	if err != nil {
		t.Fatalf("delegate: %v", err)
	}
	return tok, claimsOf(t, tok)
}

// child is the claims a careful delegator would sign for sub from parent
// (what grant.Delegate fills in), for tests that sign by hand.
func child(t *testing.T, parent *grant.Claims, sub *identity.Key) grant.Claims {
	t.Helper()
	jti, err := identity.NewJTI()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	return grant.Claims{
		Iss: parent.Sub, Sub: sub.DID(), Aud: parent.Aud, Jti: jti, Iat: now, Nbf: now, Exp: parent.Exp,
		Realm: parent.Realm, Tools: parent.Tools, Budget: parent.Budget, Approval: parent.Approval, Prf: parent.Jti,
	}
}

// handSign signs claims as a grant with signer's key, bypassing every check
// of grant.Delegate.
func handSign(t *testing.T, signer *identity.Key, c grant.Claims) string {
	t.Helper()
	tok, err := signer.SignJSON(identity.TypGrant, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func claimsOf(tb testing.TB, tok string) *grant.Claims {
	tb.Helper()
	_, payload, err := identity.ParseUnverified(tok)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := grant.Parse(payload)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// invokeChain sends an intent under leaf with its delegation chain (nearest
// parent first) as agent.
func invokeChain(t *testing.T, h *hosttest.Host, agent *identity.Key, tool, leaf string, chain ...string) *client.Response {
	t.Helper()
	body := map[string]any{"tool": tool, "input": json.RawMessage(`{"message":"delegated"}`), "grant": leaf}
	if chain != nil {
		body["chain"] = chain
	}
	resp, _ := h.Client(agent).DoJSON(context.Background(), http.MethodPost, "/v1/intents", body, nil)
	if resp == nil {
		t.Fatalf("intent %s: no answer", tool)
	}
	return resp
}

// TestDelegation: an agent holding an operator grant can hand another agent
// a narrower one; anything that widens it, breaks the chain or loses its
// operator root is refused, and revoking any ancestor (grant or delegator)
// refuses the child.
func TestDelegation(t *testing.T) {
	h := delegationHost{newHost(t)}
	h.Install(t, hosttest.DefaultRealm, echoPlugin, nil)
	h.Install(t, hosttest.DefaultRealm, webPlugin, nil)

	a, b := hosttest.NewKey(t), hosttest.NewKey(t)
	parent, pc := h.root(t, a, func(c *grant.Claims) {
		c.Tools = []string{"echo/*", "web/*"}
		c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"example.org"}}
	})
	leaf, lc := h.delegate(t, a, pc, grant.Claims{Sub: b.DID(), Tools: []string{"echo/*"}})

	t.Run("attenuated grant serves the delegate", func(t *testing.T) {
		resp := invokeChain(t, h.Host, b, "echo/echo", leaf, parent)
		if out := wantOutput(t, resp); string(out) != `{"message":"delegated"}` {
			t.Fatalf("output %s", out)
		}
		entries := entriesFor(t, h.Host, hosttest.DefaultRealm, resp.Receipt.Req)
		if len(entries) == 0 || entries[0].Grant != lc.Jti || entries[0].Actor != b.DID() {
			t.Fatalf("audit does not name the delegated grant and its holder: %+v", entries)
		}
	})

	refused := []struct {
		name  string
		agent *identity.Key
		tool  string
		leaf  string
		chain []string
		code  abi.Code
	}{
		{"delegate calls a tool the parent has but the child lacks", b, "web/fetch", leaf, []string{parent}, abi.CodeForbidden},
		{"child presented without its chain", b, "echo/echo", leaf, nil, abi.CodeGrantInvalid},
		{"delegate presents the parent grant issued to its delegator", b, "echo/echo", parent, nil, abi.CodeGrantInvalid},
		{"a third agent presents the delegate's grant and chain", hosttest.NewKey(t), "echo/echo", leaf, []string{parent}, abi.CodeGrantInvalid},
		{"chain names an unrelated operator grant", b, "echo/echo", leaf, []string{h.Grant(t, nil)}, abi.CodeGrantInvalid},
		{"child presented as its own root", b, "echo/echo", leaf, []string{leaf}, abi.CodeGrantInvalid},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			wantResponseProblem(t, invokeChain(t, h.Host, tt.agent, tt.tool, tt.leaf, tt.chain...), tt.code, "")
		})
	}

	t.Run("grant.Delegate refuses to sign a widening", func(t *testing.T) {
		if _, err := grant.Delegate(a, pc, grant.Claims{Sub: b.DID(), Tools: []string{"*"}}, time.Now()); err == nil {
			t.Fatal("grant.Delegate signed a child asking for every tool")
		}
	})

	// Widening children, signed by hand with the delegator's own key so that
	// only the host's chain check stands between them and a tool.
	narrow, nc := h.root(t, a, func(c *grant.Claims) {
		c.Tools = []string{"echo/*"}
		c.Budget = grant.Budget{CallsPerMinute: 30, TimeoutMS: 2000}
		c.Approval = []string{"echo/other"}
		c.Exp = time.Now().Add(30 * time.Minute).Unix()
	})
	stranger := hosttest.NewKey(t)
	widening := []struct {
		name   string
		signer *identity.Key
		edit   func(*grant.Claims)
	}{
		{"child widens tools to every tool", a, func(c *grant.Claims) { c.Tools = []string{"*"} }},
		{"child widens tools to another bundle", a, func(c *grant.Claims) { c.Tools = []string{"echo/*", "web/fetch"} }},
		{"child raises calls_per_minute", a, func(c *grant.Claims) { c.Budget.CallsPerMinute = 3000 }},
		{"child lifts the budget to unlimited", a, func(c *grant.Claims) { c.Budget = grant.Budget{} }},
		{"child raises timeout_ms", a, func(c *grant.Claims) { c.Budget.TimeoutMS = 60000 }},
		{"child outlives its parent", a, func(c *grant.Claims) { c.Exp = time.Now().Add(2 * time.Hour).Unix() }},
		{"child adds an http capability the parent lacks", a, func(c *grant.Claims) {
			c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"evil.example"}}
		}},
		{"child adds agent memory the parent lacks", a, func(c *grant.Claims) { c.Caps.Memory = &grant.MemoryCap{MaxDocs: 1} }},
		{"child drops the parent's approval gate", a, func(c *grant.Claims) { c.Approval = nil }},
		{"child moves to another realm", a, func(c *grant.Claims) { c.Realm = "other" }},
		{"child names another host", a, func(c *grant.Claims) { c.Aud = stranger.DID() }},
		{"child without prf", a, func(c *grant.Claims) { c.Prf = "" }},
		{"child whose prf names another grant", a, func(c *grant.Claims) { c.Prf = lc.Jti }},
		{"child signed by the delegate itself", b, func(c *grant.Claims) { c.Iss = b.DID() }},
		{"child signed by a stranger claiming to be the holder", stranger, func(c *grant.Claims) {}},
	}
	t.Run("control: the hand-signed narrow child is served", func(t *testing.T) {
		wantOutput(t, invokeChain(t, h.Host, b, "echo/echo", handSign(t, a, child(t, nc, b)), narrow))
	})
	for _, tt := range widening {
		t.Run(tt.name, func(t *testing.T) {
			c := child(t, nc, b)
			tt.edit(&c)
			wantResponseProblem(t, invokeChain(t, h.Host, b, "echo/echo", handSign(t, tt.signer, c), narrow), abi.CodeGrantInvalid, "")
		})
	}

	t.Run("chain not rooted at an operator", func(t *testing.T) {
		fakeRoot := h.GrantSignedBy(t, stranger, func(c *grant.Claims) { c.Sub = a.DID(); c.Tools = []string{"echo/*"} })
		selfRoot := h.GrantSignedBy(t, a, func(c *grant.Claims) { c.Sub = a.DID(); c.Tools = []string{"echo/*"} })
		for name, root := range map[string]string{"stranger-signed root": fakeRoot, "self-issued root": selfRoot} {
			t.Run(name, func(t *testing.T) {
				c := child(t, claimsOf(t, root), b)
				wantResponseProblem(t, invokeChain(t, h.Host, b, "echo/echo", handSign(t, a, c), root), abi.CodeGrantInvalid, "")
			})
		}
	})

	t.Run("two hops: the grandchild is served until the middle link is revoked", func(t *testing.T) {
		c := hosttest.NewKey(t)
		mid, mc := h.delegate(t, a, pc, grant.Claims{Sub: b.DID(), Tools: []string{"echo/*"}})
		grandchild, _ := h.delegate(t, b, mc, grant.Claims{Sub: c.DID(), Tools: []string{"echo/echo"}})
		wantOutput(t, invokeChain(t, h.Host, c, "echo/echo", grandchild, mid, parent))
		wantResponseProblem(t, invokeChain(t, h.Host, c, "echo/echo", grandchild, parent), abi.CodeGrantInvalid, "")
		if _, err := h.Operator().Revoke(context.Background(), hosttest.DefaultRealm, "grant", mc.Jti); err != nil {
			t.Fatal(err)
		}
		wantResponseProblem(t, invokeChain(t, h.Host, c, "echo/echo", grandchild, mid, parent), abi.CodeGrantRevoked, "")
		wantOutput(t, invokeChain(t, h.Host, b, "echo/echo", leaf, parent)) // a sibling is untouched
	})

	t.Run("parent revoked: child refused", func(t *testing.T) {
		p, ppc := h.root(t, a, func(c *grant.Claims) { c.Tools = []string{"echo/*"} })
		kid, _ := h.delegate(t, a, ppc, grant.Claims{Sub: b.DID(), Tools: []string{"echo/*"}})
		wantOutput(t, invokeChain(t, h.Host, b, "echo/echo", kid, p))
		if _, err := h.Operator().Revoke(context.Background(), hosttest.DefaultRealm, "grant", ppc.Jti); err != nil {
			t.Fatal(err)
		}
		resp := invokeChain(t, h.Host, b, "echo/echo", kid, p)
		wantResponseProblem(t, resp, abi.CodeGrantRevoked, "")
		if !hasEntry(entriesFor(t, h.Host, hosttest.DefaultRealm, resp.Receipt.Req), "invoke", "deny", "revoked") {
			t.Fatal("the refusal is not audited")
		}
	})

	t.Run("delegator revoked: child refused", func(t *testing.T) {
		delegator := hosttest.NewKey(t)
		p, ppc := h.root(t, delegator, func(c *grant.Claims) { c.Tools = []string{"echo/*"} })
		kid, _ := h.delegate(t, delegator, ppc, grant.Claims{Sub: b.DID(), Tools: []string{"echo/*"}})
		wantOutput(t, invokeChain(t, h.Host, b, "echo/echo", kid, p))
		if _, err := h.Operator().Revoke(context.Background(), hosttest.DefaultRealm, "agent", delegator.DID()); err != nil {
			t.Fatal(err)
		}
		wantResponseProblem(t, invokeChain(t, h.Host, b, "echo/echo", kid, p), abi.CodeGrantRevoked, "")
		wantOutput(t, invokeChain(t, h.Host, b, "echo/echo", leaf, parent)) // b's other delegation stands
	})
}

// FuzzDelegatedGrant signs arbitrary claims as a child of an operator grant
// with the holder's key: the host answers a known problem, or serves the
// child only when it is a well-formed grant for the delegate that narrows
// its parent.
func FuzzDelegatedGrant(f *testing.F) {
	h := delegationHost{newHost(f)}
	h.Install(f, hosttest.DefaultRealm, echoPlugin, nil)
	a, b := hosttest.NewKey(f), hosttest.NewKey(f)
	parent, pc := h.root(f, a, func(c *grant.Claims) {
		c.Tools = []string{"echo/*"}
		c.Budget.CallsPerMinute = 1000
	})
	seed := func(edit func(*grant.Claims)) []byte {
		jti, _ := identity.NewJTI()
		now := time.Now().Unix()
		c := grant.Claims{Iss: a.DID(), Sub: b.DID(), Aud: pc.Aud, Jti: jti, Iat: now, Nbf: now, Exp: pc.Exp,
			Realm: pc.Realm, Tools: []string{"echo/echo"}, Budget: pc.Budget, Prf: pc.Jti}
		if edit != nil {
			edit(&c)
		}
		raw, _ := json.Marshal(c)
		return raw
	}
	f.Add(seed(nil))
	f.Add(seed(func(c *grant.Claims) { c.Tools = []string{"*"} }))
	f.Add(seed(func(c *grant.Claims) { c.Budget.CallsPerMinute = 0 }))
	f.Add(seed(func(c *grant.Claims) { c.Exp += 3600 }))
	f.Add(seed(func(c *grant.Claims) { c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"*.example.org"}} }))
	f.Add(seed(func(c *grant.Claims) { c.Prf = "" }))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, claims []byte) {
		leaf, err := a.Sign(identity.TypGrant, claims)
		if err != nil {
			t.Fatal(err)
		}
		body := mustJSON(t, map[string]any{"tool": "echo/echo", "input": map[string]string{"message": "x"}, "grant": leaf, "chain": []string{parent}})
		c := proofClaims(b, h.DID(), http.MethodPost, "/v1/intents", body)
		tok, err := b.SignJSON(identity.TypRequest, c)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/intents", bytes.NewReader(body))
		req.Header.Set("Authorization", "Airlock "+tok)
		jti := c["jti"].(string)
		if len(body) > 1<<20 {
			jti = ""
		}
		rec := serveFuzz(t, h.Host, req, jti)
		if rec.Code != http.StatusOK {
			return
		}
		cc, err := grant.Parse(claims)
		if err != nil {
			t.Fatalf("served a child whose claims do not parse: %v", err)
		}
		if cc.Sub != b.DID() || cc.Iss != a.DID() || cc.Prf != pc.Jti {
			t.Fatalf("served a child not bound to its parent and delegate: %+v", cc)
		}
		if err := grant.CheckNarrows(pc, cc); err != nil {
			t.Fatalf("served a widening child: %v", err)
		}
	})
}

// A delegated grant that keeps the memory capability reaches the
// delegate's own memory (the body carries the chain, as for an intent);
// the delegator's store stays apart, and the child without its chain is
// refused.
func TestDelegatedMemory(t *testing.T) {
	h := delegationHost{newHost(t)}
	ctx := context.Background()
	a, b := hosttest.NewKey(t), hosttest.NewKey(t)
	parent, pc := h.root(t, a, func(c *grant.Claims) {
		c.Tools = []string{"echo/*"}
		c.Caps.Memory = &grant.MemoryCap{MaxDocs: 10}
	})
	leaf, _ := h.delegate(t, a, pc, grant.Claims{Sub: b.DID(), Tools: []string{"echo/*"},
		Caps: grant.Caps{Memory: &grant.MemoryCap{MaxDocs: 5}}})
	chain := []string{parent}

	bc, ac := h.Client(b), h.Client(a)
	if _, err := bc.MemoryPut(ctx, leaf, chain, []abi.Document{{ID: "d1", Content: "the delegate's note on tide tables"}}); err != nil {
		t.Fatalf("delegated put: %v", err)
	}
	res, _, err := bc.MemoryQuery(ctx, leaf, chain, abi.MemoryQueryRequest{Query: "tide tables", K: 3})
	if err != nil || len(res) != 1 || res[0].ID != "d1" {
		t.Fatalf("delegated query: %v %+v", err, res)
	}
	res, _, err = ac.MemoryQuery(ctx, parent, nil, abi.MemoryQueryRequest{Query: "tide tables", K: 3})
	if err != nil || len(res) != 0 {
		t.Fatalf("the delegator's own store: %v %+v, want empty", err, res)
	}
	// The child's max_docs (5), not the parent's (10), bounds the store:
	// one note and five more is six.
	var five []abi.Document
	for i := range 5 {
		five = append(five, abi.Document{ID: fmt.Sprintf("n%d", i), Content: "note"})
	}
	if _, err := bc.MemoryPut(ctx, leaf, chain, five); !isProblem(err, abi.CodeBudgetExceeded) {
		t.Fatalf("a put past the child's max_docs: %v, want budget_exceeded", err)
	}
	if _, _, err := bc.MemoryQuery(ctx, leaf, nil, abi.MemoryQueryRequest{Query: "tide"}); !isProblem(err, abi.CodeGrantInvalid) {
		t.Fatalf("the child without its chain: %v, want grant_invalid", err)
	}
	// A child that drops the memory capability gets none.
	bare, _ := h.delegate(t, a, pc, grant.Claims{Sub: b.DID(), Tools: []string{"echo/*"}})
	if _, _, err := bc.MemoryQuery(ctx, bare, chain, abi.MemoryQueryRequest{Query: "tide"}); !isProblem(err, abi.CodeForbidden) {
		t.Fatalf("a child without the memory capability: %v, want forbidden", err)
	}
}

// isProblem reports whether err is the host's problem with code.
func isProblem(err error, code abi.Code) bool {
	var p *client.Problem
	return errors.As(err, &p) && p.Code == string(code)
}
