package server_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/config"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/sdk/client"
)

// Plugin source directories of the capability suites (repo-relative).
const (
	filesPlugin    = "plugins/files"
	mailPlugin     = "plugins/mail"
	starlarkPlugin = "plugins/starlark"
	callerPlugin   = "host/intent/testdata/plugins/caller"
	twicePlugin    = "host/intent/testdata/plugins/twice"
	hdrPlugin      = "host/intent/testdata/plugins/hdr"
)

// otherRealm is the second realm of capHost, with its own operator and
// publisher.
const otherRealm = "other"

// capHost is the host the capability suites share: egress opened to
// 127.0.0.0/8 (so that a test can tell a bound loopback host from an
// unbound one), the mail relay pointing at an in-test SMTP server, realm
// "other" with its own operator and publisher, one more publisher trusted
// in "default" that a suite may revoke, and echo, web, files, mail,
// starlark, caller, twice and hdr installed in "default". Suites that
// revoke or spend budgets use their own agent keys.
type capHost struct {
	*hosttest.Host
	smtp                          *smtpServer
	otherOperator, otherPublisher *identity.Key
	revocablePublisher            *identity.Key
}

// TestCapabilities runs the attacks against every capability of DESIGN §3
// through real HTTP on loopback.
func TestCapabilities(t *testing.T) {
	smtp := newSMTPServer(t)
	otherOperator, otherPublisher, revocable := hosttest.NewKey(t), hosttest.NewKey(t), hosttest.NewKey(t)
	h := &capHost{
		Host: newHost(t,
			hosttest.WithAllowPrivate("127.0.0.0/8"),
			hosttest.WithRealm(otherRealm, config.Realm{
				Operators: []string{otherOperator.DID()}, Publishers: []string{otherPublisher.DID()},
			}),
			hosttest.WithConfig(func(c *config.Config) {
				c.Mail.Relay = smtp.addr()
				r := c.Realms[hosttest.DefaultRealm]
				r.Publishers = append(r.Publishers, revocable.DID())
				c.Realms[hosttest.DefaultRealm] = r
			})),
		smtp:          smtp,
		otherOperator: otherOperator, otherPublisher: otherPublisher, revocablePublisher: revocable,
	}
	for _, p := range []string{echoPlugin, webPlugin, filesPlugin, starlarkPlugin, callerPlugin, twicePlugin, hdrPlugin} {
		h.Install(t, hosttest.DefaultRealm, p, nil)
	}
	// mail/send needs human approval by default (TestApprovalGate checks
	// that); these suites test the mail capability itself, so the operator
	// installs it without the gate.
	h.Install(t, hosttest.DefaultRealm, mailPlugin, func(m *bundle.Manifest) {
		for i := range m.Tools {
			m.Tools[i].Approval = false
		}
	})
	suites := []struct {
		name string
		run  func(*testing.T, *capHost)
	}{
		{"Files", testFiles},
		{"Mail", testMail},
		{"NestedCalls", testNestedCalls},
		{"RevocationDuringRun", testRevocationDuringRun},
		{"Starlark", testStarlark},
		{"Secrets", testSecrets},
		{"Realms", testRealms},
		{"Budgets", testBudgets},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) { s.run(t, h) })
	}
}

// grantFor issues a grant in realm "default" to agent (nil: the host's
// agent), changed by claims.
func grantFor(t *testing.T, h *hosttest.Host, agent *identity.Key, claims func(*grant.Claims)) string {
	t.Helper()
	return h.Grant(t, func(c *grant.Claims) {
		if agent != nil {
			c.Sub = agent.DID()
		}
		if claims != nil {
			claims(c)
		}
	})
}

// wantToolError fails t unless resp is tool_failed because the tool
// surfaced the host's error code (a tool that returns the host's answer
// as its own error). It returns the problem.
func wantToolError(t *testing.T, resp *client.Response, code abi.Code) problemDoc {
	t.Helper()
	p := wantResponseProblem(t, resp, abi.CodeToolFailed, "")
	if !strings.Contains(p.Detail, "host: "+string(code)) {
		t.Fatalf("tool failed with %q, want the host's %s", p.Detail, code)
	}
	return p
}

// auditEntries reads every entry of realm through GET /v1/audit, as the
// operator (signer) of that realm.
func auditEntries(t *testing.T, c *client.Client, realm string) []audit.Entry {
	t.Helper()
	var all []audit.Entry
	for from := int64(0); ; {
		var page struct {
			Entries []audit.Entry `json:"entries"`
		}
		q := url.Values{"realm": {realm}, "from": {fmt.Sprint(from)}, "limit": {"1000"}}
		resp, err := c.DoJSON(context.Background(), http.MethodGet, "/v1/audit?"+q.Encode(), nil, &page)
		if err != nil {
			t.Fatalf("GET /v1/audit: %v", err)
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("GET /v1/audit: %d %s", resp.Status, resp.Body)
		}
		all = append(all, page.Entries...)
		if len(page.Entries) < 1000 {
			return all
		}
		from = page.Entries[len(page.Entries)-1].Index + 1
	}
}

// canary returns a unique marker that must never show up where it should not.
func canary(what string) string { return strings.ToUpper(what) + "-CANARY-" + rand.Text() }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// testFiles: fs_* are confined to the grant's roots under the realm's file
// area; traversal, absolute paths and symbolic links that lead out are
// refused and nothing from outside ever reaches the answer.
func testFiles(t *testing.T, h *capHost) {
	area := filepath.Join(h.DataDir(), "files", hosttest.DefaultRealm)
	outsideDir := t.TempDir()
	outside, private, otherRealmFile := canary("outside"), canary("private"), canary("other realm")
	writeFile(t, filepath.Join(outsideDir, "outside.txt"), outside)
	writeFile(t, filepath.Join(area, "docs", "hello.txt"), "hello from docs")
	writeFile(t, filepath.Join(area, "private", "secret.txt"), private)
	writeFile(t, filepath.Join(h.DataDir(), "files", otherRealm, "docs", "theirs.txt"), otherRealmFile)
	// Links planted by someone outside the sandbox.
	symlink(t, filepath.Join(outsideDir, "outside.txt"), filepath.Join(area, "docs", "abs-link"))
	symlink(t, "/etc/passwd", filepath.Join(area, "docs", "passwd"))
	symlink(t, "../private/secret.txt", filepath.Join(area, "docs", "up-link"))
	symlink(t, outsideDir, filepath.Join(area, "docs", "dir-link"))
	symlink(t, "../../"+otherRealm+"/docs", filepath.Join(area, "docs", "other-realm"))
	symlink(t, "../../..", filepath.Join(area, "docs", "data-dir"))
	symlink(t, filepath.Join(outsideDir, "outside.txt"), filepath.Join(area, "scratch", "planted"))
	symlink(t, outsideDir, filepath.Join(area, "scratch", "dir-link"))
	hostKey, err := os.ReadFile(filepath.Join(h.DataDir(), "host.key"))
	if err != nil {
		t.Fatal(err)
	}
	var jwk struct{ D string }
	if err := json.Unmarshal(hostKey, &jwk); err != nil || jwk.D == "" {
		t.Fatalf("host.key is not a private JWK: %v", err)
	}
	// What must never appear in an answer.
	never := []string{outside, private, otherRealmFile, "root:x:0", jwk.D}

	g := h.Grant(t, func(c *grant.Claims) {
		c.Tools = []string{"files/*"}
		c.Caps.FS = &grant.FSCap{Read: []string{"docs/"}, Write: []string{"scratch/"}}
	})

	t.Run("read, list and write inside the roots", func(t *testing.T) {
		var read struct{ Content string }
		if err := json.Unmarshal(wantOutput(t, invoke(t, h.Agent(), "files/read", `{"path":"docs/hello.txt"}`, g)), &read); err != nil {
			t.Fatal(err)
		}
		if read.Content != "hello from docs" {
			t.Fatalf("read %q", read.Content)
		}
		var list struct {
			Entries []struct {
				Name string
				Dir  bool
				Size int64
			}
		}
		if err := json.Unmarshal(wantOutput(t, invoke(t, h.Agent(), "files/list", `{"path":"docs/"}`, g)), &list); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range list.Entries {
			found = found || (e.Name == "hello.txt" && !e.Dir && e.Size == int64(len("hello from docs")))
		}
		if !found {
			t.Fatalf("listing of docs/ lacks hello.txt: %+v", list.Entries)
		}
		out := wantOutput(t, invoke(t, h.Agent(), "files/write", `{"path":"scratch/note.txt","content":"a note"}`, g))
		if string(out) != `{"written":6}` {
			t.Fatalf("write answered %s", out)
		}
		if b, err := os.ReadFile(filepath.Join(area, "scratch", "note.txt")); err != nil || string(b) != "a note" {
			t.Fatalf("scratch/note.txt holds %q (%v)", b, err)
		}
	})

	tests := []struct {
		name string
		tool string
		path string
		code abi.Code
	}{
		{"path traversal by ..", "files/read", "docs/../private/secret.txt", abi.CodeBadRequest},
		{"path traversal by .. to /etc/passwd", "files/read", "../../../../../../etc/passwd", abi.CodeBadRequest},
		{"path traversal by .. out of a root and back in", "files/read", "docs/../docs/hello.txt", abi.CodeBadRequest},
		{"absolute path", "files/read", "/etc/passwd", abi.CodeBadRequest},
		{"absolute path into the realm's own area", "files/read", filepath.Join(area, "private", "secret.txt"), abi.CodeBadRequest},
		{"backslash traversal", "files/read", `docs\..\private\secret.txt`, abi.CodeBadRequest},
		{"NUL byte truncation", "files/read", "docs/hello.txt\x00.png", abi.CodeBadRequest},
		{"percent-encoded traversal is a file name, not decoded", "files/read", "docs/%2e%2e/private/secret.txt", abi.CodeNotFound},
		{"sibling directory the grant does not name", "files/read", "private/secret.txt", abi.CodeForbidden},
		{"read from a write-only root", "files/read", "scratch/note.txt", abi.CodeForbidden},
		{"symlink created outside to a file outside", "files/read", "docs/abs-link", abi.CodeForbidden},
		{"symlink created outside to /etc/passwd", "files/read", "docs/passwd", abi.CodeForbidden},
		{"symlink in the root pointing out to a sibling", "files/read", "docs/up-link", abi.CodeForbidden},
		{"directory symlink pointing out", "files/read", "docs/dir-link/outside.txt", abi.CodeForbidden},
		{"symlink into another realm's area", "files/read", "docs/other-realm/theirs.txt", abi.CodeForbidden},
		{"symlink climbing to the host key", "files/read", "docs/data-dir/host.key", abi.CodeForbidden},
		{"list through a directory symlink pointing out", "files/list", "docs/dir-link", abi.CodeForbidden},
		{"list by traversal", "files/list", "docs/..", abi.CodeBadRequest},
		{"list a sibling directory the grant does not name", "files/list", "private", abi.CodeForbidden},
		{"write outside the write root", "files/write", "docs/planted.txt", abi.CodeForbidden},
		{"write by traversal out of the write root", "files/write", "scratch/../docs/planted.txt", abi.CodeBadRequest},
		{"write to an absolute path", "files/write", filepath.Join(outsideDir, "planted.txt"), abi.CodeBadRequest},
		{"write through a directory symlink pointing out", "files/write", "scratch/dir-link/planted.txt", abi.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := map[string]string{"path": tt.path}
			if tt.tool == "files/write" {
				in["content"] = "planted"
			}
			resp := invoke(t, h.Agent(), tt.tool, string(mustJSON(t, in)), g)
			wantToolError(t, resp, tt.code)
			for _, s := range never {
				if strings.Contains(string(resp.Body), s) {
					t.Fatalf("the answer carries content from outside the roots: %s", resp.Body)
				}
			}
			if !hasEntry(entriesFor(t, h.Host, hosttest.DefaultRealm, resp.Receipt.Req), "file", "deny", "") {
				t.Fatal("the refusal was not audited")
			}
		})
	}
	t.Run("write to a planted symlink replaces the link, never the target", func(t *testing.T) {
		resp := invoke(t, h.Agent(), "files/write", `{"path":"scratch/planted","content":"overwritten"}`, g)
		if resp.Status != http.StatusOK {
			wantToolError(t, resp, abi.CodeForbidden)
		}
		if b, err := os.ReadFile(filepath.Join(outsideDir, "outside.txt")); err != nil || string(b) != outside {
			t.Fatalf("the link's target now holds %q (%v)", b, err)
		}
	})
	if _, err := os.Stat(filepath.Join(outsideDir, "planted.txt")); err == nil {
		t.Fatal("a file was written outside the data directory")
	}
	if _, err := os.Stat(filepath.Join(area, "docs", "planted.txt")); err == nil {
		t.Fatal("a file was written into the read-only root")
	}
}

// smtpServer is a minimal SMTP relay on loopback that accepts every message
// and records its envelope and data.
type smtpServer struct {
	ln    net.Listener
	conns atomic.Int64

	mu   sync.Mutex
	mail []envelope
}

// envelope is one message the relay accepted.
type envelope struct {
	From string
	To   []string
	Data string
}

func newSMTPServer(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			wg.Go(func() { s.serve(conn) })
		}
	})
	return s
}

func (s *smtpServer) addr() string { return s.ln.Addr().String() }

// delivered returns a copy of the accepted messages.
func (s *smtpServer) delivered() []envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]envelope(nil), s.mail...)
}

// serve speaks 220 / EHLO / MAIL / RCPT / DATA / QUIT on one connection.
func (s *smtpServer) serve(conn net.Conn) {
	defer conn.Close()
	tp := textproto.NewConn(conn)
	reply := func(line string) bool { return tp.PrintfLine("%s", line) == nil }
	if !reply("220 relay.test ESMTP") {
		return
	}
	var cur envelope
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			cur = envelope{}
			if !reply("250 relay.test") {
				return
			}
		case "MAIL":
			cur = envelope{From: angle(arg)}
			if !reply("250 ok") {
				return
			}
		case "RCPT":
			cur.To = append(cur.To, angle(arg))
			if !reply("250 ok") {
				return
			}
		case "DATA":
			if !reply("354 go ahead") {
				return
			}
			var b strings.Builder
			sc := bufio.NewScanner(tp.DotReader())
			for sc.Scan() {
				b.WriteString(sc.Text() + "\n")
			}
			cur.Data = b.String()
			s.mu.Lock()
			s.mail = append(s.mail, cur)
			s.mu.Unlock()
			cur = envelope{}
			if !reply("250 queued") {
				return
			}
		case "RSET", "NOOP":
			if !reply("250 ok") {
				return
			}
		case "QUIT":
			reply("221 bye")
			return
		default:
			if !reply("502 not implemented") {
				return
			}
		}
	}
}

// angle returns the address between < and > in "FROM:<a@b> ...".
func angle(arg string) string {
	_, rest, _ := strings.Cut(arg, "<")
	addr, _, _ := strings.Cut(rest, ">")
	return addr
}

// testMail: mail_send reaches the configured relay only for recipients that
// caps.mail.to allows; anything else is refused before a connection opens.
func testMail(t *testing.T, h *capHost) {
	g := h.Grant(t, func(c *grant.Claims) {
		c.Tools = []string{"mail/send"}
		c.Caps.Mail = &grant.MailCap{To: []string{"*@example.org"}}
	})
	send := func(t *testing.T, to []string, subject string) *client.Response {
		t.Helper()
		in := mustJSON(t, map[string]any{"to": to, "subject": subject, "body": "The report is ready."})
		return invoke(t, h.Agent(), "mail/send", string(in), g)
	}

	t.Run("recipient in the allowlist is delivered", func(t *testing.T) {
		before := len(h.smtp.delivered())
		out := wantOutput(t, send(t, []string{"a@example.org"}, "Weekly report"))
		if string(out) != `{"sent":1}` {
			t.Fatalf("mail/send answered %s", out)
		}
		got := h.smtp.delivered()
		if len(got) != before+1 {
			t.Fatalf("the relay got %d messages, want 1", len(got)-before)
		}
		m := got[len(got)-1]
		if m.From != h.Config().Mail.From || len(m.To) != 1 || m.To[0] != "a@example.org" {
			t.Fatalf("envelope from %q to %q", m.From, m.To)
		}
		if !strings.Contains(m.Data, "Subject: Weekly report") || !strings.Contains(m.Data, "The report is ready.") {
			t.Fatalf("message data %q", m.Data)
		}
	})

	tests := []struct {
		name    string
		to      []string
		subject string
		code    abi.Code
	}{
		{"recipient outside the allowlist", []string{"evil@attacker.test"}, "hi", abi.CodeForbidden},
		{"one allowed recipient and one outside", []string{"a@example.org", "evil@attacker.test"}, "hi", abi.CodeForbidden},
		{"allowed domain as a prefix of another domain", []string{"a@example.org.attacker.test"}, "hi", abi.CodeForbidden},
		{"allowed domain as a subdomain label", []string{"a@attacker.example.org.test"}, "hi", abi.CodeForbidden},
		{"percent hack relaying through the allowed domain", []string{"evil%attacker.test@example.org"}, "hi", abi.CodeForbidden},
		{"display name hiding another address", []string{"a@example.org <evil@attacker.test>"}, "hi", abi.CodeForbidden},
		{"CRLF in a recipient adds an SMTP command", []string{"a@example.org>\r\nRCPT TO:<evil@attacker.test"}, "hi", abi.CodeForbidden},
		{"CRLF in the subject adds a Bcc header", []string{"a@example.org"}, "hi\r\nBcc: evil@attacker.test", abi.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conns := h.smtp.conns.Load()
			resp := send(t, tt.to, tt.subject)
			wantToolError(t, resp, tt.code)
			if n := h.smtp.conns.Load() - conns; n != 0 {
				t.Fatalf("the relay saw %d connections for a refused message", n)
			}
			if !hasEntry(entriesFor(t, h.Host, hosttest.DefaultRealm, resp.Receipt.Req), "mail", "deny", "") {
				t.Fatal("the refusal was not audited")
			}
		})
	}
	for _, m := range h.smtp.delivered() {
		for _, rcpt := range m.To {
			if !strings.HasSuffix(rcpt, "@example.org") {
				t.Fatalf("the relay got a message for %q", rcpt)
			}
		}
		if strings.Contains(m.Data, "attacker.test") {
			t.Fatalf("a delivered message names the attacker: %q", m.Data)
		}
	}
}

// testNestedCalls: tool_call reaches only the tools caps.call names, runs
// the callee under the caller's grant (never more), and is audited with
// its parent.
func testNestedCalls(t *testing.T, h *capHost) {
	tg := newTarget(t, "127.0.0.1:0", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("reached")) })
	fetch := `{"tool":"web/fetch","input":{"url":"` + tg.URL + `/"}}`

	t.Run("call inside caps.call is served and audited under its parent", func(t *testing.T) {
		g := h.Grant(t, func(c *grant.Claims) { c.Tools, c.Caps.Call = []string{"caller/call"}, []string{"echo/*"} })
		resp := invoke(t, h.Agent(), "caller/call", `{"tool":"echo/echo","input":{"message":"hi"}}`, g)
		if out := wantOutput(t, resp); string(out) != `{"output":{"message":"hi"}}` {
			t.Fatalf("caller answered %s", out)
		}
		var parent, child *audit.Entry
		entries := auditEntries(t, h.Operator(), hosttest.DefaultRealm)
		for i, e := range entries {
			if e.Request != resp.Receipt.Req {
				continue
			}
			switch {
			case e.Action == "invoke" && e.Tool == "caller/call" && e.Decision == "allow":
				parent = &entries[i]
			case e.Action == "tool_call" && e.Tool == "echo/echo" && e.Decision == "allow":
				child = &entries[i]
			}
		}
		if parent == nil || child == nil {
			t.Fatalf("want an invoke entry and a tool_call entry for the request: %+v", entries)
		}
		if child.Parent == nil || *child.Parent != parent.Index || child.Grant != parent.Grant || child.Actor != parent.Actor {
			t.Fatalf("tool_call entry %+v does not hang under invoke entry %d", *child, parent.Index)
		}
	})

	tests := []struct {
		name   string
		claims func(*grant.Claims)
		input  string
		code   abi.Code
		reason string // of the tool_call deny entry
	}{
		{"call to a tool outside caps.call", func(c *grant.Claims) {
			c.Caps.Call = []string{"echo/*"}
			c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"127.0.0.1"}} // web/fetch itself would be allowed
		}, fetch, abi.CodeForbidden, "not in caps.call"},
		{"callee needs a capability the caller's grant lacks", func(c *grant.Claims) {
			c.Caps.Call = []string{"web/*"}
		}, fetch, abi.CodeForbidden, "capability http"},
		{"call to a tool installed nowhere", func(c *grant.Claims) {
			c.Caps.Call = []string{"*"}
		}, `{"tool":"ghost/haunt","input":{}}`, abi.CodeNotFound, "not found"},
		{"nesting deeper than the limit", func(c *grant.Claims) {
			c.Caps.Call = []string{"caller/*", "echo/*"}
		}, nested(6, `{"tool":"echo/echo","input":{"message":"deep"}}`), abi.CodeToolFailed, "nesting too deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := h.Grant(t, func(c *grant.Claims) { c.Tools = []string{"caller/call"}; tt.claims(c) })
			resp := invoke(t, h.Agent(), "caller/call", tt.input, g)
			wantToolError(t, resp, tt.code)
			if !hasEntry(entriesFor(t, h.Host, hosttest.DefaultRealm, resp.Receipt.Req), "tool_call", "deny", tt.reason) {
				t.Fatalf("no tool_call deny entry %q", tt.reason)
			}
		})
	}
	if n := tg.hits.Load(); n != 0 {
		t.Fatalf("a refused callee reached the network %d times", n)
	}
}

// nested wraps inner in depth caller/call levels.
func nested(depth int, inner string) string {
	for range depth {
		inner = `{"tool":"caller/call","input":` + inner + `}`
	}
	return inner
}

// twiceOutput is the output of twice/fetch2.
type twiceOutput struct {
	First, Second struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
		Error  string `json:"error"`
	}
}

// testRevocationDuringRun: a revocation posted while a tool runs takes
// effect at the tool's next host-function call.
func testRevocationDuringRun(t *testing.T, h *capHost) {
	// twice-pub is twice from a publisher that only this suite revokes.
	raw := hosttest.BundleBytes(t, hosttest.BuildBundle(t, twicePlugin, h.revocablePublisher, func(m *bundle.Manifest) { m.Name = "twice-pub" }))
	if resp, err := h.Operator().Install(context.Background(), hosttest.DefaultRealm, raw); err != nil || resp.Status != http.StatusCreated {
		t.Fatalf("install twice-pub: %v %+v", err, resp)
	}

	tests := []struct {
		name string
		tool string
		// revocation is the body of POST /v1/revocations for agent and grant jti.
		revocation func(agent *identity.Key, jti string) map[string]string
		code       abi.Code
	}{
		{"grant revoked while its tool runs", "twice/fetch2", func(_ *identity.Key, jti string) map[string]string {
			return map[string]string{"realm": hosttest.DefaultRealm, "grant": jti}
		}, abi.CodeGrantRevoked},
		{"agent revoked while its tool runs", "twice/fetch2", func(agent *identity.Key, _ string) map[string]string {
			return map[string]string{"realm": hosttest.DefaultRealm, "agent": agent.DID()}
		}, abi.CodeGrantRevoked},
		{"publisher revoked while its tool runs", "twice-pub/fetch2", func(*identity.Key, string) map[string]string {
			return map[string]string{"realm": hosttest.DefaultRealm, "publisher": h.revocablePublisher.DID()}
		}, abi.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started, release := make(chan struct{}, 1), make(chan struct{})
			first := newTarget(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
				started <- struct{}{}
				select {
				case <-release:
				case <-r.Context().Done():
				}
				_, _ = w.Write([]byte("first"))
			})
			second := newTarget(t, "127.0.0.1:0", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("second")) })
			agent := hosttest.NewKey(t)
			jti, err := identity.NewJTI()
			if err != nil {
				t.Fatal(err)
			}
			g := grantFor(t, h.Host, agent, func(c *grant.Claims) {
				c.Jti, c.Tools = jti, []string{tt.tool}
				c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"127.0.0.1"}}
			})
			input := `{"first":"` + first.URL + `/","second":"` + second.URL + `/"}`

			type answer struct {
				resp *client.Response
				err  error
			}
			done := make(chan answer, 1)
			go func() {
				resp, err := h.Client(agent).DoJSON(context.Background(), http.MethodPost, "/v1/intents",
					map[string]any{"tool": tt.tool, "input": json.RawMessage(input), "grant": g}, nil)
				done <- answer{resp, err}
			}()
			select {
			case <-started:
			case a := <-done:
				t.Fatalf("the tool ended before its first request: %v %+v", a.err, a.resp)
			}
			rev, err := h.Operator().DoJSON(context.Background(), http.MethodPost, "/v1/revocations", tt.revocation(agent, jti), nil)
			close(release)
			if err != nil || rev.Status != http.StatusOK {
				t.Fatalf("revocation: %v %+v", err, rev)
			}
			a := <-done
			if a.resp == nil {
				t.Fatalf("intent: %v", a.err)
			}
			var out twiceOutput
			if err := json.Unmarshal(wantOutput(t, a.resp), &out); err != nil {
				t.Fatal(err)
			}
			if out.First.Status != http.StatusOK || out.First.Body != "first" {
				t.Fatalf("first request: %+v", out.First)
			}
			if out.Second.Error != string(tt.code) {
				t.Fatalf("second request answered %+v, want %s", out.Second, tt.code)
			}
			if n := second.hits.Load(); n != 0 {
				t.Fatalf("the second upstream saw %d requests after the revocation", n)
			}
			if !hasEntry(entriesFor(t, h.Host, hosttest.DefaultRealm, a.resp.Receipt.Req), "host_call", "deny", "http_request") {
				t.Fatal("the refused host call was not audited")
			}
			// and new intents are refused at once
			again := invoke(t, h.Client(agent), tt.tool, input, g)
			wantResponseProblem(t, again, tt.code, "")
			if n := second.hits.Load(); n != 0 {
				t.Fatalf("the second upstream saw %d requests", n)
			}
		})
	}
}

// testStarlark: agent-supplied Starlark runs in the sandbox under the
// grant's limits and with no host function beyond what the tool and grant
// give.
func testStarlark(t *testing.T, h *capHost) {
	tg := newTarget(t, "127.0.0.1:0", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("reached")) })
	g := h.Grant(t, func(c *grant.Claims) {
		c.Tools = []string{"starlark/*"}
		c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"127.0.0.1"}}
		c.Budget.TimeoutMS = 3000
	})
	run := func(t *testing.T, tool, code string, input any) *client.Response {
		t.Helper()
		return invoke(t, h.Agent(), tool, string(mustJSON(t, map[string]any{"code": code, "input": input})), g)
	}

	t.Run("agent code runs", func(t *testing.T) {
		out := wantOutput(t, run(t, "starlark/run", `result = input["a"] + 1`, map[string]int{"a": 41}))
		var res struct {
			Result int      `json:"result"`
			Prints []string `json:"prints"`
		}
		if err := json.Unmarshal(out, &res); err != nil || res.Result != 42 {
			t.Fatalf("run answered %s (%v)", out, err)
		}
	})
	attacks := []struct {
		name string
		code string
	}{
		{"infinite loop", "while True:\n    pass"},
		{"http_get from run, which has no http", `result = http_get("` + tg.URL + `/")`},
		{"load of a module", `load("os", "system")`},
		{"unbounded recursion", "def f():\n    return f()\nresult = f()"},
	}
	for _, tt := range attacks {
		t.Run(tt.name, func(t *testing.T) {
			wantResponseProblem(t, run(t, "starlark/run", tt.code, nil), abi.CodeToolFailed, "")
		})
	}
	if n := tg.hits.Load(); n != 0 {
		t.Fatalf("starlark/run reached the network %d times", n)
	}
	t.Run("run_http reaches the granted host", func(t *testing.T) {
		out := wantOutput(t, run(t, "starlark/run_http", `result = http_get("`+tg.URL+`/")["body"]`, nil))
		if !strings.Contains(string(out), `"result":"reached"`) || tg.hits.Load() != 1 {
			t.Fatalf("run_http answered %s after %d requests", out, tg.hits.Load())
		}
	})
	echoStillServes(t, h.Host, h.Grant(t, nil))
}
