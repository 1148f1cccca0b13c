package grant_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
)

// rootClaims is an operator grant to w.agent with every capability, so that
// each one can be widened by a delegated child.
func (w *world) rootClaims() grant.Claims {
	c := w.claims()
	c.Jti = "root-jti"
	c.Tools = []string{"echo/echo", "notes/*", "web/fetch"}
	c.Caps = grant.Caps{
		HTTP:    &grant.HTTPCap{Hosts: []string{"api.github.com", "*.example.org", "https://secure.example.net:8443"}},
		FS:      &grant.FSCap{Read: []string{"docs/"}, Write: []string{"scratch/"}},
		Memory:  &grant.MemoryCap{MaxDocs: 100},
		Secrets: []string{"GITHUB_TOKEN"},
		Mail:    &grant.MailCap{To: []string{"*@example.org", "ops@example.net"}},
		Call:    []string{"search/*"},
	}
	c.Budget = grant.Budget{CallsPerMinute: 60, TimeoutMS: 5000, MemoryMB: 64, EgressBytesPerDay: 1_000_000}
	c.Approval = []string{"mail/send"}
	return c
}

// childClaims narrows rootClaims for delegate, signed by w.agent.
func (w *world) childClaims(delegate *identity.Key) grant.Claims {
	return grant.Claims{
		Iss: w.agent.DID(), Sub: delegate.DID(), Aud: w.host.DID(), Jti: "child-jti",
		Iat: t0.Unix(), Nbf: t0.Unix(), Exp: t0.Add(30 * time.Minute).Unix(),
		Realm: "default", Prf: "root-jti",
		Tools: []string{"notes/read", "web/fetch"},
		Caps: grant.Caps{
			HTTP:    &grant.HTTPCap{Hosts: []string{"api.github.com", "a.example.org", "https://b.example.org", "https://secure.example.net:8443"}},
			FS:      &grant.FSCap{Read: []string{"docs/sub/"}, Write: []string{"scratch"}},
			Memory:  &grant.MemoryCap{MaxDocs: 10},
			Secrets: []string{"GITHUB_TOKEN"},
			Mail:    &grant.MailCap{To: []string{"*@example.org", "OPS@example.net"}},
			Call:    []string{"search/web"},
		},
		Budget:   grant.Budget{CallsPerMinute: 30, TimeoutMS: 1000, MemoryMB: 32, EgressBytesPerDay: 1000},
		Approval: []string{"mail/send", "web/fetch"},
	}
}

func TestVerifyChainAccepts(t *testing.T) {
	w := newWorld(t)
	v := w.verifier()
	bob, carol := newKey(t), newKey(t)
	root := signJSON(t, w.op, w.rootClaims())
	child := signJSON(t, w.agent, w.childClaims(bob))

	g, jtis, err := grant.VerifyChain(child, []string{root}, bob.DID(), v)
	if err != nil {
		t.Fatalf("valid two-link chain refused: %v", err)
	}
	if want := []string{"child-jti", "root-jti"}; !reflect.DeepEqual(jtis, want) {
		t.Errorf("jtis = %v, want %v (leaf first, every link)", jtis, want)
	}
	if g.Token != child || g.Hash == "" || g.Claims.Sub != bob.DID() {
		t.Errorf("returned grant is not the leaf: %+v", g.Claims)
	}
	if !g.AllowTool("notes/read") || g.AllowTool("notes/write") || g.AllowTool("echo/echo") {
		t.Error("the leaf grant does not answer with its own, narrower tools")
	}

	// A third link, delegated by bob to carol through Delegate.
	parent := w.childClaims(bob)
	grandchild, err := grant.Delegate(bob, &parent, grant.Claims{
		Sub: carol.DID(), Jti: "grandchild-jti", Tools: []string{"notes/read"},
	}, t0)
	if err != nil {
		t.Fatalf("Delegate: %v", err)
	}
	g, jtis, err = grant.VerifyChain(grandchild, []string{child, root}, carol.DID(), v)
	if err != nil {
		t.Fatalf("valid three-link chain refused: %v", err)
	}
	if want := []string{"grandchild-jti", "child-jti", "root-jti"}; !reflect.DeepEqual(jtis, want) {
		t.Errorf("jtis = %v, want %v", jtis, want)
	}
	if g.Claims.Budget != parent.Budget || !g.NeedsApproval("mail/send") {
		t.Errorf("Delegate did not inherit the parent's budget and approvals: %+v", g.Claims)
	}

	// An operator grant with no chain goes through Verify unchanged.
	g, jtis, err = grant.VerifyChain(root, nil, w.agent.DID(), v)
	if err != nil || len(jtis) != 1 || jtis[0] != "root-jti" || g.Claims.Sub != w.agent.DID() {
		t.Fatalf("root grant without chain: %v %v", jtis, err)
	}
}

func TestVerifyChainRefusesWidening(t *testing.T) {
	w := newWorld(t)
	bob := newKey(t)

	tests := []struct {
		name   string
		parent func(c *grant.Claims) // changes the operator's root grant
		child  func(c *grant.Claims) // changes the delegated grant
		want   string
		// inherited: Delegate repairs this gap from the parent instead
		// of refusing.
		inherited bool
	}{
		{name: "tool outside the parent's", child: func(c *grant.Claims) { c.Tools = []string{"mail/send"} }, want: "tools"},
		{name: "global wildcard over a listed parent", child: func(c *grant.Claims) { c.Tools = []string{"*"} }, want: "tools"},
		{name: "namespace wildcard broader than the parent's", child: func(c *grant.Claims) { c.Tools = []string{"*/read"} }, want: "tools"},
		{name: "bundle wildcard over a single parent tool", child: func(c *grant.Claims) { c.Tools = []string{"echo/*"} }, want: "tools"},

		{name: "http host outside the parent's", child: func(c *grant.Claims) { c.Caps.HTTP.Hosts = []string{"evil.example.com"} }, want: "caps.http.hosts"},
		{name: "http wildcard broader than the parent's", child: func(c *grant.Claims) { c.Caps.HTTP.Hosts = []string{"*.org"} }, want: "caps.http.hosts"},
		{name: "http apex not matched by the parent's wildcard", child: func(c *grant.Claims) { c.Caps.HTTP.Hosts = []string{"example.org"} }, want: "caps.http.hosts"},
		{name: "http look-alike suffix", child: func(c *grant.Claims) { c.Caps.HTTP.Hosts = []string{"evilexample.org"} }, want: "caps.http.hosts"},
		{name: "http nested wildcard is not compared (conservative)", child: func(c *grant.Claims) { c.Caps.HTTP.Hosts = []string{"*.a.example.org"} }, want: "caps.http.hosts"},
		{name: "http scheme widened to plain http", child: func(c *grant.Claims) { c.Caps.HTTP.Hosts = []string{"secure.example.net:8443"} }, want: "caps.http.hosts"},
		{name: "http port widened to any", child: func(c *grant.Claims) { c.Caps.HTTP.Hosts = []string{"https://secure.example.net"} }, want: "caps.http.hosts"},
		{name: "http port changed", child: func(c *grant.Claims) { c.Caps.HTTP.Hosts = []string{"https://secure.example.net:443"} }, want: "caps.http.hosts"},
		{name: "http IP literal under a name wildcard", child: func(c *grant.Claims) { c.Caps.HTTP.Hosts = []string{"169.254.169.254"} }, want: "caps.http.hosts"},
		{name: "http capability the parent lacks",
			parent: func(c *grant.Claims) { c.Caps.HTTP = nil }, want: "caps.http"},

		{name: "fs read root outside the parent's", child: func(c *grant.Claims) { c.Caps.FS.Read = []string{"etc/"} }, want: "caps.fs.read"},
		{name: "fs read root escaping with dot-dot", child: func(c *grant.Claims) { c.Caps.FS.Read = []string{"docs/../etc"} }, want: "caps.fs.read"},
		{name: "fs sibling sharing a name prefix", child: func(c *grant.Claims) { c.Caps.FS.Read = []string{"docs2/"} }, want: "caps.fs.read"},
		{name: "fs absolute root", child: func(c *grant.Claims) { c.Caps.FS.Read = []string{"/docs"} }, want: "caps.fs.read"},
		{name: "fs write under a read-only parent root", child: func(c *grant.Claims) { c.Caps.FS.Write = []string{"docs/"} }, want: "caps.fs.write"},
		{name: "fs capability the parent lacks",
			parent: func(c *grant.Claims) { c.Caps.FS = nil }, want: "caps.fs"},

		{name: "memory max_docs raised", child: func(c *grant.Claims) { c.Caps.Memory.MaxDocs = 1000 }, want: "caps.memory.max_docs"},
		{name: "memory max_docs unlimited under a limit", child: func(c *grant.Claims) { c.Caps.Memory.MaxDocs = 0 }, want: "caps.memory.max_docs"},
		{name: "memory capability the parent lacks",
			parent: func(c *grant.Claims) { c.Caps.Memory = nil }, want: "caps.memory"},

		{name: "secret the parent lacks", child: func(c *grant.Claims) { c.Caps.Secrets = []string{"AWS_SECRET_KEY"} }, want: "caps.secrets"},

		{name: "mail domain outside the parent's", child: func(c *grant.Claims) { c.Caps.Mail.To = []string{"*@evil.example"} }, want: "caps.mail.to"},
		{name: "mail address outside the parent's", child: func(c *grant.Claims) { c.Caps.Mail.To = []string{"boss@example.net"} }, want: "caps.mail.to"},
		{name: "mail domain wildcard over a single parent address", child: func(c *grant.Claims) { c.Caps.Mail.To = []string{"*@example.net"} }, want: "caps.mail.to"},
		{name: "mail capability the parent lacks",
			parent: func(c *grant.Claims) { c.Caps.Mail = nil }, want: "caps.mail"},

		{name: "call glob broader than the parent's", child: func(c *grant.Claims) { c.Caps.Call = []string{"*/*"} }, want: "caps.call"},
		{name: "call target the parent lacks", child: func(c *grant.Claims) { c.Caps.Call = []string{"mail/send"} }, want: "caps.call"},

		{name: "budget calls_per_minute raised", child: func(c *grant.Claims) { c.Budget.CallsPerMinute = 61 }, want: "budget.calls_per_minute"},
		{name: "budget calls_per_minute unlimited", child: func(c *grant.Claims) { c.Budget.CallsPerMinute = 0 }, want: "budget.calls_per_minute", inherited: true},
		{name: "budget timeout_ms raised", child: func(c *grant.Claims) { c.Budget.TimeoutMS = 5001 }, want: "budget.timeout_ms"},
		{name: "budget timeout_ms unlimited", child: func(c *grant.Claims) { c.Budget.TimeoutMS = 0 }, want: "budget.timeout_ms", inherited: true},
		{name: "budget memory_mb raised", child: func(c *grant.Claims) { c.Budget.MemoryMB = 65 }, want: "budget.memory_mb"},
		{name: "budget memory_mb unlimited", child: func(c *grant.Claims) { c.Budget.MemoryMB = 0 }, want: "budget.memory_mb", inherited: true},
		{name: "budget egress_bytes_per_day raised", child: func(c *grant.Claims) { c.Budget.EgressBytesPerDay = 1_000_001 }, want: "budget.egress_bytes_per_day"},
		{name: "budget egress_bytes_per_day unlimited", child: func(c *grant.Claims) { c.Budget.EgressBytesPerDay = 0 }, want: "budget.egress_bytes_per_day", inherited: true},

		{name: "expiry after the parent's", child: func(c *grant.Claims) { c.Exp = t0.Add(2 * time.Hour).Unix() }, want: "exp"},
		{name: "approval dropped", child: func(c *grant.Claims) { c.Approval = nil }, want: "approval", inherited: true},
		{name: "approval narrowed below the parent's glob",
			parent: func(c *grant.Claims) { c.Approval = []string{"web/*"} },
			child:  func(c *grant.Claims) { c.Approval = []string{"web/fetch"} }, want: "approval", inherited: true},
		{name: "realm switched", child: func(c *grant.Claims) { c.Realm = "other" }, want: "realm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := w.rootClaims()
			if tt.parent != nil {
				tt.parent(&rc)
			}
			cc := w.childClaims(bob)
			if tt.child != nil {
				tt.child(&cc)
			}
			root := signJSON(t, w.op, rc)
			child := signJSON(t, w.agent, cc)
			g, jtis, err := grant.VerifyChain(child, []string{root}, bob.DID(), w.verifier())
			if err == nil {
				t.Fatalf("widening delegation accepted: %+v", g.Claims)
			}
			if g != nil || jtis != nil {
				t.Error("VerifyChain returned a grant with an error")
			}
			if !errors.Is(err, grant.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
			// Delegate never signs a widening grant: it refuses, or (for a
			// zero budget or a missing approval) fills the gap from the
			// parent, and what it signs then verifies.
			tok, err := grant.Delegate(w.agent, &rc, cc, t0)
			if err == nil && !tt.inherited {
				t.Fatal("Delegate signed a widening grant")
			}
			if err == nil {
				if _, _, err := grant.VerifyChain(tok, []string{root}, bob.DID(), w.verifier()); err != nil {
					t.Fatalf("Delegate signed a grant VerifyChain refuses: %v", err)
				}
			}
		})
	}
}

func TestVerifyChainRefusesForgedChains(t *testing.T) {
	w := newWorld(t)
	bob := newKey(t)
	root := signJSON(t, w.op, w.rootClaims())
	child := signJSON(t, w.agent, w.childClaims(bob))

	// chainOf builds a valid chain of n links (root included), each
	// delegated by the previous holder to a fresh agent.
	chainOf := func(n int) (leaf string, chain []string, holder *identity.Key) {
		rc := w.rootClaims()
		tokens := []string{signJSON(t, w.op, rc)}
		parent, holder := rc, w.agent
		for i := 1; i < n; i++ {
			next := newKey(t)
			c := grant.Claims{Sub: next.DID(), Jti: "link-" + string(rune('a'+i)), Tools: []string{"notes/read"},
				Caps: grant.Caps{Memory: &grant.MemoryCap{MaxDocs: 1}}}
			tok, err := grant.Delegate(holder, &parent, c, t0)
			if err != nil {
				t.Fatal(err)
			}
			claims, err := readClaims(tok)
			if err != nil {
				t.Fatal(err)
			}
			tokens = append([]string{tok}, tokens...)
			parent, holder = *claims, next
		}
		return tokens[0], tokens[1:], holder
	}

	tests := []struct {
		name      string
		leaf      func() string
		chain     func() []string
		requester func() string // default bob
		want      string
	}{
		{
			name: "chain not rooted at an operator (agent signs its own root)",
			leaf: func() string { return child },
			chain: func() []string {
				rc := w.rootClaims()
				rc.Iss = w.agent.DID()
				return []string{signJSON(t, w.agent, rc)}
			},
			want: "not an operator",
		},
		{
			name: "root signed by an operator of another realm",
			leaf: func() string { return child },
			chain: func() []string {
				rc := w.rootClaims()
				rc.Iss = w.otherOp.DID()
				return []string{signJSON(t, w.otherOp, rc)}
			},
			want: "not an operator",
		},
		{
			name: "link signed by someone other than the parent's sub",
			leaf: func() string {
				c := w.childClaims(bob)
				c.Iss = w.stranger.DID()
				return signJSON(t, w.stranger, c)
			},
			want: "holder",
		},
		{
			name: "link naming the holder as iss but signed by another key",
			leaf: func() string { return signJSON(t, w.stranger, w.childClaims(bob)) },
			want: "iss does not name the signing key",
		},
		{
			name: "operator signs the link instead of the holder",
			leaf: func() string {
				c := w.childClaims(bob)
				c.Iss = w.op.DID()
				return signJSON(t, w.op, c)
			},
			want: "holder",
		},
		{
			name: "prf naming another grant",
			leaf: func() string {
				c := w.childClaims(bob)
				c.Prf = "some-other-jti"
				return signJSON(t, w.agent, c)
			},
			want: "prf",
		},
		{
			name: "link without prf inside a chain",
			leaf: func() string {
				c := w.childClaims(bob)
				c.Prf = ""
				return signJSON(t, w.agent, c)
			},
			want: "no prf",
		},
		{
			name: "link repeating its parent's jti",
			leaf: func() string {
				c := w.childClaims(bob)
				c.Jti = "root-jti"
				return signJSON(t, w.agent, c)
			},
			want: "repeats",
		},
		{
			name: "link for another host",
			leaf: func() string {
				c := w.childClaims(bob)
				c.Aud = w.stranger.DID()
				return signJSON(t, w.agent, c)
			},
			want: "another host",
		},
		{
			name: "expired link",
			leaf: func() string {
				c := w.childClaims(bob)
				c.Iat, c.Nbf, c.Exp = t0.Add(-3*time.Hour).Unix(), t0.Add(-3*time.Hour).Unix(), t0.Add(-2*time.Hour).Unix()
				return signJSON(t, w.agent, c)
			},
			want: "expired",
		},
		{
			name: "link of another token type",
			leaf: func() string { return sign(t, w.agent, identity.TypRequest, mustJSON(t, w.childClaims(bob))) },
			want: "typ",
		},
		{
			name: "expired root",
			chain: func() []string {
				rc := w.rootClaims()
				rc.Iat, rc.Nbf, rc.Exp = t0.Add(-3*time.Hour).Unix(), t0.Add(-3*time.Hour).Unix(), t0.Add(-2*time.Hour).Unix()
				return []string{signJSON(t, w.op, rc)}
			},
			want: "expired",
		},
		{
			name: "delegated root (prf) pretending to be the top",
			chain: func() []string {
				rc := w.rootClaims()
				rc.Prf = "older-jti"
				return []string{signJSON(t, w.op, rc)}
			},
			want: "delegated",
		},
		{
			name:      "leaf presented by another agent",
			requester: func() string { return w.stranger.DID() },
			want:      "another agent",
		},
		{
			name:      "parent presented as if it were the leaf's chain of itself",
			leaf:      func() string { return root },
			chain:     func() []string { return []string{root} },
			requester: func() string { return w.agent.DID() },
			want:      "no prf",
		},
		{
			name:  "delegated leaf presented without its chain",
			chain: func() []string { return nil },
			want:  "delegated",
		},
		{
			name: "chain in the wrong order",
			leaf: func() string { l, _, _ := chainOf(3); return l },
			chain: func() []string {
				_, c, _ := chainOf(3)
				return []string{c[1], c[0]}
			},
			want: "chain",
		},
		{
			name: "chain longer than the maximum",
			leaf: func() string { return "x" },
			chain: func() []string {
				return []string{"a", "b", "c", "d", "e"}
			},
			want: "longer than",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf, chain, requester := child, []string{root}, bob.DID()
			if tt.leaf != nil {
				leaf = tt.leaf()
			}
			if tt.chain != nil {
				chain = tt.chain()
			}
			if tt.requester != nil {
				requester = tt.requester()
			}
			g, jtis, err := grant.VerifyChain(leaf, chain, requester, w.verifier())
			if err == nil {
				t.Fatalf("forged chain accepted: %+v", g.Claims)
			}
			if g != nil || jtis != nil {
				t.Error("VerifyChain returned a grant with an error")
			}
			if !errors.Is(err, grant.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}

	t.Run("chain of the maximum length is accepted, one more is not", func(t *testing.T) {
		leaf, chain, holder := chainOf(grant.MaxChainLength)
		if _, jtis, err := grant.VerifyChain(leaf, chain, holder.DID(), w.verifier()); err != nil || len(jtis) != grant.MaxChainLength {
			t.Fatalf("chain of %d: %v (%d jtis)", grant.MaxChainLength, err, len(jtis))
		}
		leaf, chain, holder = chainOf(grant.MaxChainLength + 1)
		if _, _, err := grant.VerifyChain(leaf, chain, holder.DID(), w.verifier()); err == nil || !strings.Contains(err.Error(), "longer than") {
			t.Fatalf("chain of %d: err = %v", grant.MaxChainLength+1, err)
		}
	})
}

func TestDelegateRefuses(t *testing.T) {
	w := newWorld(t)
	bob := newKey(t)
	parent := w.rootClaims()

	tests := []struct {
		name   string
		holder *identity.Key
		child  grant.Claims
		want   string
	}{
		{name: "someone other than the holder delegates", holder: w.stranger,
			child: grant.Claims{Sub: bob.DID(), Tools: []string{"notes/read"}}, want: "holder"},
		{name: "iss set to another DID", holder: w.agent,
			child: grant.Claims{Iss: w.op.DID(), Sub: bob.DID(), Tools: []string{"notes/read"}}, want: "iss"},
		{name: "prf naming another grant", holder: w.agent,
			child: grant.Claims{Sub: bob.DID(), Prf: "x", Tools: []string{"notes/read"}}, want: "prf"},
		{name: "tools widened", holder: w.agent,
			child: grant.Claims{Sub: bob.DID(), Tools: []string{"*"}}, want: "tools"},
		{name: "expiry extended", holder: w.agent,
			child: grant.Claims{Sub: bob.DID(), Tools: []string{"notes/read"}, Exp: t0.Add(48 * time.Hour).Unix()}, want: "exp"},
		{name: "no tools", holder: w.agent, child: grant.Claims{Sub: bob.DID()}, want: "tools"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := grant.Delegate(tt.holder, &parent, tt.child, t0)
			if err == nil {
				t.Fatalf("Delegate signed %q", tok)
			}
			if !errors.Is(err, grant.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

// readClaims returns the claims of a grant token signed by anyone.
func readClaims(tok string) (*grant.Claims, error) {
	ver, err := identity.Verify(tok, identity.TypGrant)
	if err != nil {
		return nil, err
	}
	return grant.Parse(ver.Payload)
}

// FuzzVerifyChain feeds attacker-chosen leaves, chains (newline-separated)
// and requesters to VerifyChain. Whatever it accepts must be rooted at the
// trusted operator, be bound to the requester, list one jti per link, and
// narrow at every link; no input may panic.
func FuzzVerifyChain(f *testing.F) {
	w := newWorld(f)
	bob := newKey(f)
	root := signJSON(f, w.op, w.rootClaims())
	child := signJSON(f, w.agent, w.childClaims(bob))
	wide := w.childClaims(bob)
	wide.Tools = []string{"*"}
	f.Add(child, root, bob.DID())
	f.Add(root, "", w.agent.DID())
	f.Add(signJSON(f, w.agent, wide), root, bob.DID())
	f.Add(child, root+"\n"+root, bob.DID())
	f.Add(signJSON(f, w.stranger, w.childClaims(bob)), root, bob.DID())
	f.Add("", "", "")
	f.Add("a.b.c", "a.b.c\na.b.c\na.b.c\na.b.c\na.b.c", "did:key:z")
	v := w.verifier()
	f.Fuzz(func(t *testing.T, leaf, chainText, requester string) {
		var chain []string
		if chainText != "" {
			chain = strings.Split(chainText, "\n")
		}
		g, jtis, err := grant.VerifyChain(leaf, chain, requester, v)
		if err != nil {
			if g != nil || jtis != nil {
				t.Fatal("VerifyChain returned a grant with an error")
			}
			return
		}
		if len(chain)+1 > grant.MaxChainLength || len(jtis) != len(chain)+1 {
			t.Fatalf("accepted a chain of %d links with %d jtis", len(chain)+1, len(jtis))
		}
		if g.Claims.Sub != requester || g.Token != leaf {
			t.Fatalf("accepted leaf is not bound to the requester: %+v", g.Claims)
		}
		links := append([]string{leaf}, chain...)
		top, err := readClaims(links[len(links)-1])
		if err != nil || top.Iss != w.op.DID() || top.Prf != "" {
			t.Fatalf("accepted chain is not rooted at the operator: %+v %v", top, err)
		}
		for i := 0; i+1 < len(links); i++ {
			c, err1 := readClaims(links[i])
			p, err2 := readClaims(links[i+1])
			if err1 != nil || err2 != nil {
				t.Fatalf("accepted an unreadable link: %v %v", err1, err2)
			}
			if c.Iss != p.Sub || c.Prf != p.Jti || jtis[i] != c.Jti {
				t.Fatalf("accepted a broken link %d: %+v under %+v", i, c, p)
			}
			if err := grant.CheckNarrows(p, c); err != nil {
				t.Fatalf("accepted a widening link %d: %v", i, err)
			}
		}
	})
}
