package grant_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
)

// t0 is the fixed "now" of every test: grants are issued and checked
// against it, so no test depends on the wall clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// world is an operator trusted in realm "default", an operator trusted only
// in realm "other", an agent, a host and a stranger nobody trusts.
type world struct {
	op, otherOp, agent, host, stranger *identity.Key
}

func newKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return &world{op: newKey(t), otherOp: newKey(t), agent: newKey(t), host: newKey(t), stranger: newKey(t)}
}

func (w *world) trust(realm, did string) bool {
	switch realm {
	case "default":
		return did == w.op.DID()
	case "other":
		return did == w.otherOp.DID()
	}
	return false
}

func (w *world) verifier() *grant.Verifier {
	return &grant.Verifier{HostDID: w.host.DID(), Trust: w.trust, Now: func() time.Time { return t0 }}
}

// claims is a valid grant of the default operator for the agent.
func (w *world) claims() grant.Claims {
	return grant.Claims{
		Iss: w.op.DID(), Sub: w.agent.DID(), Aud: w.host.DID(), Jti: "jti-1",
		Iat: t0.Unix(), Nbf: t0.Unix(), Exp: t0.Add(time.Hour).Unix(),
		Realm: "default", Tools: []string{"echo/echo", "notes/*"},
	}
}

// rawClaims marshals c into a map so that tests can add, drop or retype
// members before signing.
func rawClaims(t testing.TB, c grant.Claims) map[string]any {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sign signs payload with k as typ, bypassing Issue's checks: it is what an
// attacker (or a buggy issuer) can produce.
func sign(t testing.TB, k *identity.Key, typ string, payload []byte) string {
	t.Helper()
	tok, err := k.Sign(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func signJSON(t testing.TB, k *identity.Key, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, k, identity.TypGrant, b)
}

func TestVerifyRefuses(t *testing.T) {
	w := newWorld(t)
	b64 := base64.RawURLEncoding

	tests := []struct {
		name      string
		token     func() string
		requester func() string // default: the agent
		verifier  func(v *grant.Verifier)
		want      string // substring of the error
	}{
		{
			name:  "no grant presented",
			token: func() string { return "" },
			want:  "no grant",
		},
		{
			name:  "oversized token",
			token: func() string { return strings.Repeat("a", grant.MaxTokenBytes+1) },
			want:  "too large",
		},
		{
			name: "grant signed by an untrusted key",
			token: func() string {
				c := w.claims()
				c.Iss = w.stranger.DID()
				return signJSON(t, w.stranger, c)
			},
			want: "not an operator trusted",
		},
		{
			name: "grant presented by another agent",
			token: func() string {
				return signJSON(t, w.op, w.claims())
			},
			requester: func() string { return w.stranger.DID() },
			want:      "another agent",
		},
		{
			name: "expired grant",
			token: func() string {
				c := w.claims()
				c.Iat, c.Nbf, c.Exp = t0.Add(-2*time.Hour).Unix(), t0.Add(-2*time.Hour).Unix(), t0.Add(-time.Hour).Unix()
				return signJSON(t, w.op, c)
			},
			want: "expired",
		},
		{
			name: "expired within the clock skew is still expired after it",
			token: func() string {
				c := w.claims()
				c.Iat, c.Nbf, c.Exp = t0.Add(-2*time.Hour).Unix(), t0.Add(-2*time.Hour).Unix(), t0.Add(-identity.MaxClockSkew).Unix()
				return signJSON(t, w.op, c)
			},
			want: "expired",
		},
		{
			name: "grant not yet valid",
			token: func() string {
				c := w.claims()
				c.Nbf = t0.Add(10 * time.Minute).Unix()
				return signJSON(t, w.op, c)
			},
			want: "not yet valid",
		},
		{
			name: "operator not trusted in the grant's realm",
			token: func() string {
				c := w.claims()
				c.Realm = "other"
				return signJSON(t, w.op, c)
			},
			want: "not an operator trusted",
		},
		{
			name: "realm operator of another realm",
			token: func() string {
				c := w.claims()
				c.Iss = w.otherOp.DID()
				return signJSON(t, w.otherOp, c)
			},
			want: "not an operator trusted",
		},
		{
			name: "no trust function configured",
			token: func() string {
				return signJSON(t, w.op, w.claims())
			},
			verifier: func(v *grant.Verifier) { v.Trust = nil },
			want:     "not an operator trusted",
		},
		{
			name: "grant for another host (aud)",
			token: func() string {
				c := w.claims()
				c.Aud = w.stranger.DID()
				return signJSON(t, w.op, c)
			},
			want: "another host",
		},
		{
			name: "request proof replayed as a grant (typ of another kind)",
			token: func() string {
				b, _ := json.Marshal(w.claims())
				return sign(t, w.op, identity.TypRequest, b)
			},
			want: "typ",
		},
		{
			name: "manifest signature replayed as a grant",
			token: func() string {
				b, _ := json.Marshal(w.claims())
				return sign(t, w.op, identity.TypManifest, b)
			},
			want: "typ",
		},
		{
			name: "iss names a trusted operator but a stranger signed",
			token: func() string {
				return signJSON(t, w.stranger, w.claims())
			},
			want: "iss does not name the signing key",
		},
		{
			name: "unknown claim",
			token: func() string {
				m := rawClaims(t, w.claims())
				m["admin"] = true
				return signJSON(t, w.op, m)
			},
			want: "unknown field",
		},
		{
			name: "unknown capability",
			token: func() string {
				m := rawClaims(t, w.claims())
				m["caps"] = map[string]any{"shell": map[string]any{"cmd": "*"}}
				return signJSON(t, w.op, m)
			},
			want: "unknown field",
		},
		{
			name: "trailing data after the claims",
			token: func() string {
				b, _ := json.Marshal(w.claims())
				return sign(t, w.op, identity.TypGrant, append(b, []byte(`{"tools":["*"]}`)...))
			},
			want: "trailing data",
		},
		{
			name: "delegated grant (prf) presented without its chain",
			token: func() string {
				c := w.claims()
				c.Prf = "parent-jti"
				return signJSON(t, w.op, c)
			},
			want: "delegated",
		},
		{
			name: "exp equal to iat",
			token: func() string {
				c := w.claims()
				c.Exp = c.Iat
				return signJSON(t, w.op, c)
			},
			want: "exp must be after",
		},
		{
			name: "exp before nbf",
			token: func() string {
				c := w.claims()
				c.Nbf = c.Exp + 1
				return signJSON(t, w.op, c)
			},
			want: "exp must be after",
		},
		{
			name: "no exp (grant for ever)",
			token: func() string {
				m := rawClaims(t, w.claims())
				delete(m, "exp")
				return signJSON(t, w.op, m)
			},
			want: "exp are required",
		},
		{
			name: "no sub (grant for any agent)",
			token: func() string {
				m := rawClaims(t, w.claims())
				m["sub"] = ""
				return signJSON(t, w.op, m)
			},
			requester: func() string { return "" },
			want:      "required",
		},
		{
			name: "signed bad tool glob",
			token: func() string {
				c := w.claims()
				c.Tools = []string{"web/**"}
				return signJSON(t, w.op, c)
			},
			want: "tool pattern",
		},
		{
			name: "signed bad http host pattern",
			token: func() string {
				c := w.claims()
				c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"evil.example/path"}}
				return signJSON(t, w.op, c)
			},
			want: "caps.http.hosts",
		},
		{
			name: "claims are not JSON",
			token: func() string {
				return sign(t, w.op, identity.TypGrant, []byte("tools=*"))
			},
			want: "claims",
		},
		{
			name: "payload swapped after signing",
			token: func() string {
				tok := signJSON(t, w.op, w.claims())
				parts := strings.Split(tok, ".")
				c := w.claims()
				c.Tools = []string{"*"}
				b, _ := json.Marshal(c)
				parts[1] = b64.EncodeToString(b)
				return strings.Join(parts, ".")
			},
			want: "signature",
		},
		{
			name: "alg none",
			token: func() string {
				hdr := b64.EncodeToString([]byte(`{"alg":"none","typ":"` + identity.TypGrant + `","kid":"` + w.op.KID() + `"}`))
				b, _ := json.Marshal(w.claims())
				return hdr + "." + b64.EncodeToString(b) + "."
			},
			want: "algorithm",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := w.verifier()
			if tt.verifier != nil {
				tt.verifier(v)
			}
			requester := w.agent.DID()
			if tt.requester != nil {
				requester = tt.requester()
			}
			g, err := v.Verify(tt.token(), requester)
			if err == nil {
				t.Fatalf("Verify accepted the grant: %+v", g.Claims)
			}
			if !errors.Is(err, grant.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "grant: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name   string
		claims func() grant.Claims
		now    time.Time
	}{
		{name: "fresh grant", claims: w.claims, now: t0},
		{
			name: "nbf slightly ahead within the clock skew",
			claims: func() grant.Claims {
				c := w.claims()
				c.Nbf = t0.Add(identity.MaxClockSkew / 2).Unix()
				return c
			},
			now: t0,
		},
		{
			name: "realm operator of the other realm in its own realm",
			claims: func() grant.Claims {
				c := w.claims()
				c.Iss, c.Realm = w.otherOp.DID(), "other"
				return c
			},
			now: t0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.claims()
			signer := w.op
			if c.Iss == w.otherOp.DID() {
				signer = w.otherOp
			}
			tok := signJSON(t, signer, c)
			v := w.verifier()
			v.Now = func() time.Time { return tt.now }
			g, err := v.Verify(tok, w.agent.DID())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if g.Token != tok || len(g.Hash) != 64 {
				t.Errorf("Token/Hash not set: %q %q", g.Token, g.Hash)
			}
			if g.Claims.Sub != w.agent.DID() || g.Claims.Realm != c.Realm {
				t.Errorf("claims = %+v", g.Claims)
			}
		})
	}
}

func TestIssueRefusesInvalidGrants(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name   string
		mutate func(c *grant.Claims)
		want   string
	}{
		{"double-star tool glob", func(c *grant.Claims) { c.Tools = []string{"web/**"} }, "tool pattern"},
		{"tool glob with empty bundle", func(c *grant.Claims) { c.Tools = []string{"/x"} }, "tool pattern"},
		{"tool glob with upper case", func(c *grant.Claims) { c.Tools = []string{"Web/fetch"} }, "tool pattern"},
		{"tool glob with a third segment", func(c *grant.Claims) { c.Tools = []string{"web/fetch/x"} }, "tool pattern"},
		{"tool glob without a bundle", func(c *grant.Claims) { c.Tools = []string{"fetch"} }, "tool pattern"},
		{"partial wildcard", func(c *grant.Claims) { c.Tools = []string{"web/fe*"} }, "tool pattern"},
		{"bad approval glob", func(c *grant.Claims) { c.Approval = []string{"mail/**"} }, "approval"},
		{"bad call glob", func(c *grant.Claims) { c.Caps.Call = []string{"../x"} }, "caps.call"},
		{"no tools", func(c *grant.Claims) { c.Tools = nil }, "at least one tool"},
		{"http host with a path", func(c *grant.Claims) { c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"api.github.com/repos"}} }, "caps.http.hosts"},
		{"http host with credentials", func(c *grant.Claims) {
			c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"user:pw@api.github.com"}}
		}, "caps.http.hosts"},
		{"http wildcard in the middle", func(c *grant.Claims) { c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"api.*.com"}} }, "caps.http.hosts"},
		{"http any host", func(c *grant.Claims) { c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"*"}} }, "caps.http.hosts"},
		{"http scheme other than http(s)", func(c *grant.Claims) { c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"file://etc"}} }, "caps.http.hosts"},
		{"http cap with no hosts", func(c *grant.Claims) { c.Caps.HTTP = &grant.HTTPCap{} }, "caps.http.hosts is empty"},
		{"secret name not a name", func(c *grant.Claims) { c.Caps.Secrets = []string{"github token"} }, "caps.secrets"},
		{"negative budget", func(c *grant.Claims) { c.Budget.CallsPerMinute = -1 }, "budget"},
		{"negative memory quota", func(c *grant.Claims) { c.Caps.Memory = &grant.MemoryCap{MaxDocs: -1} }, "max_docs"},
		{"bad realm name", func(c *grant.Claims) { c.Realm = "Default" }, "realm"},
		{"realm path traversal", func(c *grant.Claims) { c.Realm = "../default" }, "realm"},
		{"exp before iat", func(c *grant.Claims) { c.Exp = c.Iat - 1 }, "exp must be after"},
		{"exp equal to iat", func(c *grant.Claims) { c.Exp = c.Iat }, "exp must be after"},
		{"no exp", func(c *grant.Claims) { c.Exp = 0 }, "exp are required"},
		{"no agent", func(c *grant.Claims) { c.Sub = "" }, "required"},
		{"no host", func(c *grant.Claims) { c.Aud = "" }, "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := w.claims()
			c.Iss, c.Jti = "", ""
			tt.mutate(&c)
			tok, err := grant.Issue(w.op, c, t0)
			if err == nil {
				t.Fatalf("Issue signed an invalid grant: %s", tok)
			}
			if !errors.Is(err, grant.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if tok != "" {
				t.Errorf("Issue returned a token with an error")
			}
		})
	}
}

func TestIssueFillsDefaults(t *testing.T) {
	w := newWorld(t)
	c := w.claims()
	c.Iss, c.Jti, c.Iat, c.Nbf = "", "", 0, 0
	tok1, err := grant.Issue(w.op, c, t0)
	if err != nil {
		t.Fatal(err)
	}
	tok2, err := grant.Issue(w.op, c, t0)
	if err != nil {
		t.Fatal(err)
	}
	g1, err := w.verifier().Verify(tok1, w.agent.DID())
	if err != nil {
		t.Fatal(err)
	}
	g2, err := w.verifier().Verify(tok2, w.agent.DID())
	if err != nil {
		t.Fatal(err)
	}
	if g1.Claims.Iss != w.op.DID() {
		t.Errorf("iss = %q, want the operator DID", g1.Claims.Iss)
	}
	if g1.Claims.Iat != t0.Unix() || g1.Claims.Nbf != t0.Unix() {
		t.Errorf("iat/nbf = %d/%d, want %d", g1.Claims.Iat, g1.Claims.Nbf, t0.Unix())
	}
	if g1.Claims.Jti == "" || g1.Claims.Jti == g2.Claims.Jti {
		t.Errorf("jti not random: %q and %q", g1.Claims.Jti, g2.Claims.Jti)
	}
	if g1.Hash == g2.Hash {
		t.Errorf("two grants share a hash")
	}
}

func TestAllowTool(t *testing.T) {
	tests := []struct {
		name  string
		tools []string
		tool  string
		want  bool
	}{
		{"exact match", []string{"web/fetch"}, "web/fetch", true},
		{"other tool of the same bundle", []string{"web/fetch"}, "web/post", false},
		{"same tool name in another bundle", []string{"web/fetch"}, "evil/fetch", false},
		{"prefix of a tool name", []string{"web/fetch"}, "web/fetchall", false},
		{"bundle glob", []string{"notes/*"}, "notes/read", true},
		{"bundle glob does not cover another bundle", []string{"notes/*"}, "notesx/read", false},
		{"bundle glob does not cover a bundle prefix", []string{"notes/*"}, "note/read", false},
		{"tool glob across bundles", []string{"*/read"}, "files/read", true},
		{"tool glob across bundles, other tool", []string{"*/read"}, "files/write", false},
		{"everything", []string{"*"}, "mail/send", true},
		{"tool id without a slash", []string{"*"}, "mail", false},
		{"empty tool id", []string{"*/*"}, "", false},
		{"path traversal in the tool id", []string{"web/fetch"}, "web/fetch/../../admin", false},
		{"case folding", []string{"web/fetch"}, "Web/Fetch", false},
		{"second pattern matches", []string{"web/fetch", "echo/*"}, "echo/echo", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := compile(t, grant.Claims{Tools: tt.tools})
			if got := g.AllowTool(tt.tool); got != tt.want {
				t.Errorf("AllowTool(%q) with %v = %v, want %v", tt.tool, tt.tools, got, tt.want)
			}
		})
	}
}

// compile parses and compiles c after filling the required claims.
func compile(t testing.TB, c grant.Claims) *grant.Grant {
	t.Helper()
	c.Iss, c.Sub, c.Aud, c.Jti = "did:key:zIss", "did:key:zSub", "did:key:zAud", "j"
	c.Iat, c.Exp, c.Realm = 1, 2, "default"
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	p, err := grant.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	g, err := grant.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestNeedsApprovalAndAllowCall(t *testing.T) {
	g := compile(t, grant.Claims{
		Tools:    []string{"*"},
		Approval: []string{"mail/send", "pay/*"},
		Caps:     grant.Caps{Call: []string{"search/*"}},
	})
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"approval listed exactly", g.NeedsApproval("mail/send"), true},
		{"approval by bundle glob", g.NeedsApproval("pay/refund"), true},
		{"no approval for an unlisted tool", g.NeedsApproval("mail/read"), false},
		{"nested call allowed by glob", g.AllowCall("search/web"), true},
		{"nested call outside the list (escalation via tool_call)", g.AllowCall("mail/send"), false},
		{"tools glob does not grant nested calls", g.AllowCall("echo/echo"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	none := compile(t, grant.Claims{Tools: []string{"*"}})
	if none.NeedsApproval("mail/send") || none.AllowCall("search/web") {
		t.Errorf("a grant without approval/call lists answered yes")
	}
}

func TestAllowsPerCapability(t *testing.T) {
	full := grant.Caps{
		HTTP:    &grant.HTTPCap{Hosts: []string{"api.github.com", "*.example.org"}},
		FS:      &grant.FSCap{Read: []string{"docs/"}},
		Memory:  &grant.MemoryCap{MaxDocs: 10},
		Secrets: []string{"GITHUB_TOKEN"},
		Mail:    &grant.MailCap{To: []string{"*@example.org"}},
		Call:    []string{"search/*"},
	}
	tests := []struct {
		name string
		caps grant.Caps
		cap  abi.Capability
		want bool
	}{
		{"log is always allowed", grant.Caps{}, abi.CapNone, true},
		{"http not granted", grant.Caps{}, abi.CapHTTP, false},
		{"http granted", full, abi.CapHTTP, true},
		{"fs not granted", grant.Caps{}, abi.CapFS, false},
		{"fs with no roots is not fs", grant.Caps{FS: &grant.FSCap{}}, abi.CapFS, false},
		{"fs write only", grant.Caps{FS: &grant.FSCap{Write: []string{"scratch/"}}}, abi.CapFS, true},
		{"fs granted", full, abi.CapFS, true},
		{"memory not granted", grant.Caps{}, abi.CapMemory, false},
		{"memory granted", full, abi.CapMemory, true},
		{"mail not granted", grant.Caps{}, abi.CapMail, false},
		{"mail with no recipients is not mail", grant.Caps{Mail: &grant.MailCap{}}, abi.CapMail, false},
		{"mail granted", full, abi.CapMail, true},
		{"call not granted", grant.Caps{}, abi.CapCall, false},
		{"call granted", full, abi.CapCall, true},
		{"secrets not granted", grant.Caps{}, abi.CapSecrets, false},
		{"secrets granted", full, abi.CapSecrets, true},
		{"unknown capability", full, abi.Capability("shell"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := compile(t, grant.Claims{Tools: []string{"*"}, Caps: tt.caps})
			if got := g.Allows(tt.cap); got != tt.want {
				t.Errorf("Allows(%q) = %v, want %v", tt.cap, got, tt.want)
			}
		})
	}

	g := compile(t, grant.Claims{Tools: []string{"*"}, Caps: full})
	if !g.AllowSecret("GITHUB_TOKEN") || g.AllowSecret("AWS_SECRET") {
		t.Errorf("AllowSecret does not follow caps.secrets")
	}
	if g.HTTPHosts() == nil {
		t.Errorf("HTTPHosts is nil with http granted")
	}
	if compile(t, grant.Claims{Tools: []string{"*"}}).HTTPHosts() != nil {
		t.Errorf("HTTPHosts is not nil without http")
	}
}

func TestParseStrict(t *testing.T) {
	valid := `{"iss":"i","sub":"s","aud":"a","jti":"j","iat":1,"exp":2,"realm":"default","tools":["x/y"]}`
	for _, ok := range []string{
		valid,
		strings.Replace(valid, `"tools"`, `"caps":{"http":{"hosts":["A.b"]},"fs":{"read":["Docs/"],"write":[]}},"budget":{},"tools"`, 1),
		"\n " + valid + "\n",
	} {
		if _, err := grant.Parse([]byte(ok)); err != nil {
			t.Fatalf("valid claims %s refused: %v", ok, err)
		}
	}
	tests := []struct {
		name, in string
	}{
		{"unknown top-level claim", strings.Replace(valid, `"iss"`, `"scope":"admin","iss"`, 1)},
		{"unknown nested field", strings.Replace(valid, `"tools"`, `"caps":{"http":{"hosts":["a.b"],"any":true}},"tools"`, 1)},
		{"trailing object", valid + `{}`},
		{"trailing garbage", valid + `x`},
		{"not an object", `["x/y"]`},
		{"empty", ``},
		{"null", `null`},
		{"string where a list is expected", strings.Replace(valid, `["x/y"]`, `"x/y"`, 1)},
		{"float time", strings.Replace(valid, `"exp":2`, `"exp":2.5`, 1)},
		{"duplicate sub (parser differential: last one wins in Go)", strings.Replace(valid, `"sub":"s"`, `"sub":"s","sub":"victim"`, 1)},
		{"case-variant duplicate sub", strings.Replace(valid, `"sub":"s"`, `"sub":"s","Sub":"victim"`, 1)},
		{"upper-case claim name", strings.Replace(valid, `"aud":"a"`, `"AUD":"a"`, 1)},
		{"duplicate nested member", strings.Replace(valid, `"tools"`, `"caps":{"http":{"hosts":["a.b"],"hosts":["evil.example"]}},"tools"`, 1)},
		{"duplicate tools after an array", strings.Replace(valid, `"realm"`, `"tools":["*"],"realm"`, 1)},
		{"negative egress budget", strings.Replace(valid, `"tools"`, `"budget":{"egress_bytes_per_day":-1},"tools"`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := grant.Parse([]byte(tt.in)); err == nil {
				t.Fatalf("Parse accepted %q: %+v", tt.in, c)
			} else if !errors.Is(err, grant.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestValidRealm(t *testing.T) {
	for _, tt := range []struct {
		realm string
		want  bool
	}{
		{"default", true}, {"team-1", true}, {"a_b", true}, {"0", true},
		{"", false}, {"Default", false}, {"-x", false}, {"a b", false}, {"a/b", false},
		{"..", false}, {strings.Repeat("a", 64), true}, {strings.Repeat("a", 65), false},
	} {
		if got := grant.ValidRealm(tt.realm); got != tt.want {
			t.Errorf("ValidRealm(%q) = %v, want %v", tt.realm, got, tt.want)
		}
	}
}
