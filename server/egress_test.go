package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/sdk/client"
)

// fetchGrant grants web/fetch with caps.http.hosts.
func fetchGrant(t *testing.T, h *hosttest.Host, hosts ...string) string {
	t.Helper()
	return h.Grant(t, func(c *grant.Claims) {
		c.Tools = []string{"web/fetch"}
		c.Caps.HTTP = &grant.HTTPCap{Hosts: hosts}
	})
}

// wantEgressRefused fails t unless resp is web/fetch failing because its
// http_request was answered "forbidden", with an egress deny audit entry
// whose reason contains why.
func wantEgressRefused(t *testing.T, h *hosttest.Host, resp *client.Response, why string) {
	t.Helper()
	// web/fetch turns the host's error answer into its own error (a trap).
	p := wantResponseProblem(t, resp, abi.CodeToolFailed, abi.ReasonTrap)
	if !strings.Contains(p.Detail, string(abi.CodeForbidden)) {
		t.Fatalf("web/fetch failed with %q, want its http_request forbidden", p.Detail)
	}
	entries := entriesFor(t, h, hosttest.DefaultRealm, resp.Receipt.Req)
	if !hasEntry(entries, "egress", "deny", why) {
		t.Fatalf("no egress deny entry %q: %+v", why, entries)
	}
}

// testEgressLoopbackRefusedByDefault: with no allow_private, every spelling
// of a loopback address is refused at connect time, even when the grant
// names it, and the loopback server never sees a request.
func testEgressLoopbackRefusedByDefault(t *testing.T, h *apiHost) {
	tg := newTarget(t, "127.0.0.1:0", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("internal")) })
	g := fetchGrant(t, h.Host, "127.0.0.1", "[::ffff:127.0.0.1]")
	port := tg.port()

	tests := []struct {
		name string
		url  string
	}{
		{"loopback dotted quad", "http://127.0.0.1:" + port + "/"},
		{"loopback short form 127.1", "http://127.1:" + port + "/"},
		{"loopback as one hex number", "http://0x7f000001:" + port + "/"},
		{"loopback as one decimal number", "http://2130706433:" + port + "/"},
		{"loopback in octal", "http://0177.0.0.1:" + port + "/"},
		{"IPv4-mapped IPv6 loopback", "http://[::ffff:127.0.0.1]:" + port + "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := invoke(t, h.Agent(), "web/fetch", `{"url":"`+tt.url+`"}`, g)
			wantEgressRefused(t, h.Host, resp, "address refused")
		})
	}
	if n := tg.hits.Load(); n != 0 {
		t.Fatalf("the loopback server saw %d requests", n)
	}
}

// testEgressAllowPrivate: with allow_private 127.0.0.1/32 the grant's host
// list decides, every redirect is judged again, and 127.0.0.2 stays closed.
func testEgressAllowPrivate(t *testing.T, h *privateHost) {
	closed := newTarget(t, "127.0.0.2:0", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("closed")) })
	open := newTarget(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, closed.URL+"/", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("hello from loopback"))
	})

	t.Run("granted host inside allow_private is fetched", func(t *testing.T) {
		resp := invoke(t, h.Agent(), "web/fetch", `{"url":"`+open.URL+`/"}`, fetchGrant(t, h.Host, "127.0.0.1"))
		var out struct {
			Status      int    `json:"status"`
			ContentType string `json:"content_type"`
			Body        string `json:"body"`
		}
		if err := json.Unmarshal(wantOutput(t, resp), &out); err != nil {
			t.Fatal(err)
		}
		if out.Status != 200 || out.Body != "hello from loopback" || out.ContentType != "text/plain" {
			t.Fatalf("fetched %+v", out)
		}
		if !hasEntry(entriesFor(t, h.Host, hosttest.DefaultRealm, resp.Receipt.Req), "egress", "allow", "127.0.0.1") {
			t.Fatal("no egress allow entry")
		}
	})
	hitsAfterFetch := open.hits.Load()

	t.Run("host not in the grant", func(t *testing.T) {
		resp := invoke(t, h.Agent(), "web/fetch", `{"url":"`+open.URL+`/"}`, fetchGrant(t, h.Host, "example.org"))
		wantEgressRefused(t, h.Host, resp, "host not allowed")
		if n := open.hits.Load(); n != hitsAfterFetch {
			t.Fatalf("the server saw %d requests for a host the grant does not name", n-hitsAfterFetch)
		}
	})
	t.Run("port not in the grant", func(t *testing.T) {
		resp := invoke(t, h.Agent(), "web/fetch", `{"url":"`+open.URL+`/"}`, fetchGrant(t, h.Host, "127.0.0.1:1"))
		wantEgressRefused(t, h.Host, resp, "host not allowed")
		if n := open.hits.Load(); n != hitsAfterFetch {
			t.Fatalf("the server saw %d requests for a port the grant does not name", n-hitsAfterFetch)
		}
	})
	t.Run("redirect to an address outside allow_private", func(t *testing.T) {
		resp := invoke(t, h.Agent(), "web/fetch", `{"url":"`+open.URL+`/redirect"}`, fetchGrant(t, h.Host, "127.0.0.1", "127.0.0.2"))
		wantEgressRefused(t, h.Host, resp, "address refused")
		if n := open.hits.Load(); n != hitsAfterFetch+1 {
			t.Fatalf("the first server saw %d requests, want the 1 that redirected", n-hitsAfterFetch)
		}
	})
	t.Run("redirect to a host not in the grant", func(t *testing.T) {
		resp := invoke(t, h.Agent(), "web/fetch", `{"url":"`+open.URL+`/redirect"}`, fetchGrant(t, h.Host, "127.0.0.1"))
		wantEgressRefused(t, h.Host, resp, "host not allowed")
	})
	if n := closed.hits.Load(); n != 0 {
		t.Fatalf("127.0.0.2 saw %d requests", n)
	}
	echoStillServes(t, h.Host, h.Grant(t, nil))
}
