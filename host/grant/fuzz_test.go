package grant_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
)

// FuzzParse feeds attacker-chosen claims to Parse and Compile. Whatever
// they accept must survive a round trip unchanged and compile to the same
// decisions, and no input may panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"iss":"i","sub":"s","aud":"a","jti":"j","iat":1,"exp":2,"realm":"default","tools":["x/y"]}`,
		`{"iss":"i","sub":"s","aud":"a","jti":"j","iat":1,"nbf":1,"exp":2,"realm":"r","tools":["*","n/*"],` +
			`"caps":{"http":{"hosts":["api.github.com","*.example.org","https://h:8443"]},"fs":{"read":["docs/"],"write":["s/"]},` +
			`"memory":{"max_docs":10},"secrets":["GITHUB_TOKEN"],"mail":{"to":["*@example.org"]},"call":["search/*"]},` +
			`"budget":{"calls_per_minute":60,"timeout_ms":5000,"memory_mb":64,"egress_bytes_per_day":10000000},` +
			`"approval":["mail/send"],"prf":"p"}`,
		`{"tools":["web/**"]}`,
		`{"iss":"i","iss":"j"}`,
		`{}{}`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := grant.Parse(data)
		if err != nil {
			return
		}
		if c.Exp <= c.Iat || len(c.Tools) == 0 || !grant.ValidRealm(c.Realm) {
			t.Fatalf("Parse accepted claims that break its own rules: %+v", c)
		}
		g, cerr := grant.Compile(c)
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := grant.Parse(again)
		if err != nil {
			t.Fatalf("accepted claims do not round-trip: %v", err)
		}
		again2, err := json.Marshal(c2)
		if err != nil {
			t.Fatal(err)
		}
		// Compare encodings, not values: an empty list and an absent one
		// mean the same.
		if !bytes.Equal(again, again2) {
			t.Fatalf("round trip changed the claims:\n%+v\n%+v", c, c2)
		}
		g2, cerr2 := grant.Compile(c2)
		if (cerr == nil) != (cerr2 == nil) {
			t.Fatalf("Compile is not deterministic: %v vs %v", cerr, cerr2)
		}
		if cerr != nil {
			return
		}
		for _, tool := range append(append([]string{"web/fetch", "x/y", "*", "a", "/"}, c.Tools...), c.Approval...) {
			if g.AllowTool(tool) != g2.AllowTool(tool) || g.NeedsApproval(tool) != g2.NeedsApproval(tool) ||
				g.AllowCall(tool) != g2.AllowCall(tool) {
				t.Fatalf("decisions for %q differ after a round trip", tool)
			}
		}
		for _, tool := range c.Tools {
			if tool != "*" && !g.AllowTool(tool) && !containsWildcard(tool) {
				t.Fatalf("a listed literal tool %q is not allowed", tool)
			}
		}
	})
}

func containsWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '*' {
			return true
		}
	}
	return false
}

// FuzzVerify feeds attacker-chosen tokens to Verify. The only tokens it may
// ever accept are the ones the trusted operator signed for this agent and
// host; every other input is refused without a panic.
func FuzzVerify(f *testing.F) {
	w := newWorld(f)
	good := map[string]bool{}
	issue := func(k *identity.Key, typ string, c grant.Claims) string {
		tok := sign(f, k, typ, mustJSON(f, c))
		return tok
	}
	c := w.claims()
	tok := issue(w.op, identity.TypGrant, c)
	good[tok] = true
	f.Add(tok)
	c.Tools = []string{"*"}
	c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"*.example.org"}}
	tok = issue(w.op, identity.TypGrant, c)
	good[tok] = true
	f.Add(tok)
	f.Add(issue(w.stranger, identity.TypGrant, w.claims()))
	f.Add(issue(w.op, identity.TypRequest, w.claims()))
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	v := &grant.Verifier{HostDID: w.host.DID(), Trust: w.trust, Now: func() time.Time { return t0 }}
	f.Fuzz(func(t *testing.T, token string) {
		g, err := v.Verify(token, w.agent.DID())
		if err != nil {
			if g != nil {
				t.Fatal("Verify returned a grant with an error")
			}
			return
		}
		if !good[token] {
			t.Fatalf("Verify accepted a token nobody trusted signed: %q", token)
		}
		if g.Claims.Sub != w.agent.DID() || g.Claims.Aud != w.host.DID() || g.Claims.Iss != w.op.DID() {
			t.Fatalf("accepted grant is bound to someone else: %+v", g.Claims)
		}
	})
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
