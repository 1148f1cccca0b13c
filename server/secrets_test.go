package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/sdk/client"
)

// secretName is the secret that twice and hdr bind to 127.0.0.1 as
// "Authorization: Bearer {}".
const secretName = "API_TOKEN"

// upstream is a loopback server that records the credential headers of
// every request it sees.
type upstream struct {
	*target
	mu   sync.Mutex
	seen []http.Header
}

func newUpstream(t *testing.T, addr string, handler http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	u.target = newTarget(t, addr, func(w http.ResponseWriter, r *http.Request) {
		h := http.Header{}
		for _, k := range []string{"Authorization", "Proxy-Authorization", "Cookie"} {
			if v, ok := r.Header[k]; ok {
				h[k] = v
			}
		}
		u.mu.Lock()
		u.seen = append(u.seen, h)
		u.mu.Unlock()
		handler(w, r)
	})
	return u
}

// last returns the credential headers of the latest request and how many
// requests there were.
func (u *upstream) last() (http.Header, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil, 0
	}
	return u.seen[len(u.seen)-1], len(u.seen)
}

// hdrOutput is the output of hdr/request.
type hdrOutput struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	Error  string `json:"error"`
}

// testSecrets: secret values are write-only, injected at the boundary for
// bound hosts only, never forwarded from the agent, and never leave in a
// request, a response, an output, the audit log or the database.
func testSecrets(t *testing.T, h *capHost) {
	value := "tok_" + rand.Text() + rand.Text()
	// every body the host answers in this suite; none may carry the value
	var bodies [][]byte
	keep := func(resp *client.Response) *client.Response {
		if resp != nil {
			bodies = append(bodies, resp.Body)
		}
		return resp
	}
	do := func(t *testing.T, c *client.Client, method, target string, in any) *client.Response {
		t.Helper()
		resp, err := c.DoJSON(context.Background(), method, target, in, nil)
		if resp == nil {
			t.Fatalf("%s %s: %v", method, target, err)
		}
		return keep(resp)
	}
	secretPath := "/v1/secrets/" + hosttest.DefaultRealm + "/" + secretName

	t.Run("operator sets a secret", func(t *testing.T) {
		resp := do(t, h.Operator(), http.MethodPut, secretPath, map[string]string{"value": value})
		if resp.Status != http.StatusNoContent || len(resp.Body) != 0 {
			t.Fatalf("PUT answered %d %s", resp.Status, resp.Body)
		}
	})
	t.Run("listing names the secret and never its value", func(t *testing.T) {
		var list struct {
			Secrets []struct {
				Name string `json:"name"`
			} `json:"secrets"`
		}
		resp := do(t, h.Operator(), http.MethodGet, "/v1/secrets/"+hosttest.DefaultRealm, nil)
		if resp.Status != http.StatusOK {
			t.Fatalf("GET answered %d %s", resp.Status, resp.Body)
		}
		if err := json.Unmarshal(resp.Body, &list); err != nil || len(list.Secrets) == 0 || list.Secrets[0].Name != secretName {
			t.Fatalf("listing %s (%v)", resp.Body, err)
		}
	})
	t.Run("agent cannot manage secrets", func(t *testing.T) {
		for _, r := range []struct{ method, target string }{
			{http.MethodPut, secretPath},
			{http.MethodDelete, secretPath},
			{http.MethodGet, "/v1/secrets/" + hosttest.DefaultRealm},
		} {
			var in any
			if r.method == http.MethodPut {
				in = map[string]string{"value": "agent-chosen-value"}
			}
			wantResponseProblem(t, do(t, h.Agent(), r.method, r.target, in), abi.CodeForbidden, "")
		}
		sec, err := h.Vault().Get(context.Background(), hosttest.DefaultRealm, secretName)
		if err != nil || string(sec.Expose()) != value {
			t.Fatalf("the agent changed the secret (%v)", err)
		}
	})
	t.Run("secret body with a smuggled field", func(t *testing.T) {
		resp := do(t, h.Operator(), http.MethodPut, secretPath, map[string]string{"value": value, "realm": otherRealm})
		wantResponseProblem(t, resp, abi.CodeBadRequest, "")
	})

	bound := newUpstream(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			_, _ = w.Write([]byte("you sent: " + r.Header.Get("Authorization")))
		case "/echo-b64-header":
			w.Header().Set("X-Debug", base64.StdEncoding.EncodeToString([]byte(r.Header.Get("Authorization"))))
			_, _ = w.Write([]byte("ok"))
		default:
			_, _ = w.Write([]byte("ok"))
		}
	})
	unbound := newUpstream(t, "127.0.0.2:0", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	// /redirect on the bound host sends the tool on to the unbound one.
	redirector := newUpstream(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, unbound.URL+"/", http.StatusFound)
	})
	g := h.Grant(t, func(c *grant.Claims) {
		c.Tools = []string{"twice/*", "hdr/*", "echo/*"}
		c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"127.0.0.1", "127.0.0.2"}}
		c.Caps.Secrets = []string{secretName}
	})
	bearer := "Bearer " + value
	twice := func(t *testing.T, first, second string) (twiceOutput, *client.Response) {
		t.Helper()
		resp := keep(invoke(t, h.Agent(), "twice/fetch2", `{"first":"`+first+`","second":"`+second+`"}`, g))
		var out twiceOutput
		if err := json.Unmarshal(wantOutput(t, resp), &out); err != nil {
			t.Fatal(err)
		}
		return out, resp
	}

	t.Run("bound host receives the credential", func(t *testing.T) {
		out, _ := twice(t, bound.URL+"/", bound.URL+"/")
		if out.First.Status != 200 || out.Second.Status != 200 {
			t.Fatalf("twice answered %+v", out)
		}
		seen, n := bound.last()
		if n != 2 || seen.Get("Authorization") != bearer || len(seen["Authorization"]) != 1 {
			t.Fatalf("the bound host saw %d requests, last with Authorization %q", n, seen.Get("Authorization"))
		}
	})
	t.Run("upstream echoes the credential back", func(t *testing.T) {
		for _, path := range []string{"/echo", "/echo-b64-header"} {
			out, resp := twice(t, bound.URL+path, bound.URL+path)
			if out.First.Error != string(abi.CodeForbidden) || out.Second.Error != string(abi.CodeForbidden) {
				t.Fatalf("%s: the tool got %+v, want the response withheld", path, out)
			}
			if !hasEntry(entriesFor(t, h.Host, hosttest.DefaultRealm, resp.Receipt.Req), "dlp", "deny", "response carried a credential") {
				t.Fatalf("%s: the withheld response was not audited", path)
			}
		}
	})
	t.Run("injection toward an unbound host", func(t *testing.T) {
		before := unbound.hits.Load()
		out, _ := twice(t, unbound.URL+"/", unbound.URL+"/")
		if out.First.Status != 200 || unbound.hits.Load() != before+2 {
			t.Fatalf("twice answered %+v", out)
		}
		if seen, _ := unbound.last(); len(seen) != 0 {
			t.Fatalf("the unbound host saw credentials %v", seen)
		}
	})
	t.Run("redirect from the bound host to an unbound one", func(t *testing.T) {
		before := unbound.hits.Load()
		out, _ := twice(t, redirector.URL+"/", redirector.URL+"/")
		if out.First.Status != 200 || unbound.hits.Load() != before+2 {
			t.Fatalf("twice answered %+v", out)
		}
		if seen, _ := unbound.last(); len(seen) != 0 {
			t.Fatalf("the redirect carried credentials to the unbound host: %v", seen)
		}
	})

	hdr := func(t *testing.T, in map[string]any) hdrOutput {
		t.Helper()
		resp := keep(invoke(t, h.Agent(), "hdr/request", string(mustJSON(t, in)), g))
		var out hdrOutput
		if err := json.Unmarshal(wantOutput(t, resp), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	agentHeaders := []struct {
		name    string
		headers map[string]string
	}{
		{"agent sends its own Authorization header", map[string]string{"Authorization": "Bearer agent-forged"}},
		{"agent sends its own authorization header in lower case", map[string]string{"authorization": "Bearer agent-forged"}},
		{"agent sends Proxy-Authorization", map[string]string{"Proxy-Authorization": "Basic YWdlbnQ6Zm9yZ2Vk"}},
		{"agent sends a Cookie", map[string]string{"COOKIE": "session=agent-forged"}},
	}
	for _, tt := range agentHeaders {
		t.Run(tt.name+" to an unbound host", func(t *testing.T) {
			out := hdr(t, map[string]any{"url": unbound.URL + "/", "headers": tt.headers})
			if out.Status != 200 {
				t.Fatalf("hdr answered %+v", out)
			}
			if seen, _ := unbound.last(); len(seen) != 0 {
				t.Fatalf("the agent's credential was forwarded: %v", seen)
			}
		})
		t.Run(tt.name+" to the bound host", func(t *testing.T) {
			out := hdr(t, map[string]any{"url": bound.URL + "/", "headers": tt.headers})
			if out.Status != 200 {
				t.Fatalf("hdr answered %+v", out)
			}
			seen, _ := bound.last()
			if len(seen) != 1 || len(seen["Authorization"]) != 1 || seen.Get("Authorization") != bearer {
				t.Fatalf("the bound host saw %v, want only the vault's Authorization", redact(seen, value))
			}
		})
	}

	exfil := []struct {
		name string
		in   map[string]any
	}{
		{"secret in the outgoing URL", map[string]any{"url": unbound.URL + "/?k=" + value}},
		{"secret percent-encoded in the URL", map[string]any{"url": unbound.URL + "/?k=" + percentAll(value)}},
		{"secret in the outgoing body", map[string]any{"method": "POST", "url": unbound.URL + "/", "body": "token=" + value}},
		{"secret base64'd in the body", map[string]any{"method": "POST", "url": unbound.URL + "/", "body": base64.StdEncoding.EncodeToString([]byte(value))}},
		{"secret hex in a header", map[string]any{"url": unbound.URL + "/", "headers": map[string]string{"X-Data": hex.EncodeToString([]byte(value))}}},
		{"secret to the bound host in the body", map[string]any{"method": "POST", "url": bound.URL + "/", "body": value}},
	}
	for _, tt := range exfil {
		t.Run(tt.name, func(t *testing.T) {
			hits := unbound.hits.Load() + bound.hits.Load()
			if out := hdr(t, tt.in); out.Error != string(abi.CodeForbidden) {
				t.Fatalf("hdr answered %+v, want forbidden", out)
			}
			if n := unbound.hits.Load() + bound.hits.Load() - hits; n != 0 {
				t.Fatalf("the request left the host (%d requests)", n)
			}
		})
	}

	output := []struct {
		name    string
		message string
	}{
		{"secret in the tool output", value},
		{"secret base64'd in the tool output", base64.StdEncoding.EncodeToString([]byte(value))},
		{"secret base64url'd inside a longer blob", base64.RawURLEncoding.EncodeToString([]byte("x" + value + "y"))},
		{"secret split with dashes in the tool output", splitEvery(value, 4, "-")},
		{"secret hex in the tool output", strings.ToUpper(hex.EncodeToString([]byte(value)))},
		{"secret percent-encoded in the tool output", percentAll(value)},
	}
	for _, tt := range output {
		t.Run(tt.name, func(t *testing.T) {
			resp := keep(invoke(t, h.Agent(), "echo/echo", string(mustJSON(t, map[string]string{"message": tt.message})), g))
			wantResponseProblem(t, resp, abi.CodeOutputBlocked, "")
			if strings.Contains(string(resp.Body), tt.message) {
				t.Fatalf("the problem carries the output: %s", resp.Body)
			}
		})
	}

	t.Run("value in no answer", func(t *testing.T) {
		for _, b := range bodies {
			if bytes.Contains(b, []byte(value)) {
				t.Fatalf("an answer carries the secret value: %s", strings.ReplaceAll(string(b), value, "<VALUE>"))
			}
		}
	})
	t.Run("value in no audit entry", func(t *testing.T) {
		entries := auditEntries(t, h.Operator(), hosttest.DefaultRealm)
		raw := mustJSON(t, entries)
		for _, form := range leakForms(value) {
			if bytes.Contains(raw, []byte(form)) {
				t.Fatal("the audit log carries the secret value")
			}
		}
		if !hasEntry(entries, "secret_set", "allow", secretName) {
			t.Fatal("setting the secret was not audited")
		}
	})
	t.Run("value in no file of the data directory", func(t *testing.T) {
		err := filepath.WalkDir(h.DataDir(), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, form := range leakForms(value) {
				if bytes.Contains(b, []byte(form)) {
					t.Errorf("%s holds the secret value", path)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(h.DataDir(), "airlock.db")); err != nil {
			t.Fatalf("no database to search: %v", err)
		}
	})
}

// leakForms are the spellings of value a leak check looks for.
func leakForms(value string) []string {
	return []string{value, base64.StdEncoding.EncodeToString([]byte(value)), hex.EncodeToString([]byte(value))}
}

// percentAll percent-encodes every byte of s.
func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{s[i]})))
	}
	return b.String()
}

// splitEvery inserts sep after every n bytes of s.
func splitEvery(s string, n int, sep string) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), sep)
}

// redact replaces value in the headers, for failure messages.
func redact(hdr http.Header, value string) http.Header {
	out := http.Header{}
	for k, vs := range hdr {
		for _, v := range vs {
			out[k] = append(out[k], strings.ReplaceAll(v, value, "<VALUE>"))
		}
	}
	return out
}
