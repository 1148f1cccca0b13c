package server_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/identity"
)

// testReceipts: every answer, whatever its status, carries a receipt the
// host signed over that status and those exact body bytes; an intent's
// receipt names the request and the audit index of its last entry.
func testReceipts(t *testing.T, h *apiHost) {
	g := h.Grant(t, nil)
	intent := func(tool, input string) []byte {
		return mustJSON(t, map[string]any{"tool": tool, "input": json.RawMessage(input), "grant": g})
	}

	tests := []struct {
		name   string
		method string
		target string
		signed bool   // send a valid agent proof
		body   []byte // nil: none
		status int
		audit  bool // the receipt's seq is the request's last audit entry
	}{
		{"host info, unauthenticated", http.MethodGet, "/v1/host", false, nil, http.StatusOK, false},
		{"health check", http.MethodGet, "/healthz", false, nil, http.StatusOK, false},
		{"unknown route", http.MethodGet, "/v1/nothing-here", false, nil, http.StatusNotFound, false},
		{"wrong method on a known route", http.MethodPut, "/v1/intents", false, nil, http.StatusMethodNotAllowed, false},
		{"unauthenticated intent", http.MethodPost, "/v1/intents", false, intent("echo/echo", `{"message":"hi"}`), http.StatusUnauthorized, false},
		{"intent answered 200", http.MethodPost, "/v1/intents", true, intent("echo/echo", `{"message":"hi"}`), http.StatusOK, true},
		{"intent refused by schema (422)", http.MethodPost, "/v1/intents", true, intent("echo/echo", `{"message":1}`), http.StatusUnprocessableEntity, true},
		{"intent for a tool not installed (404)", http.MethodPost, "/v1/intents", true, intent("ghost/tool", `{}`), http.StatusNotFound, true},
		{"agent on an operator endpoint (403)", http.MethodGet, "/v1/plugins?realm=default", true, nil, http.StatusForbidden, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth, jti := "", ""
			if tt.signed {
				c := proofClaims(h.AgentKey(), h.DID(), tt.method, tt.target, tt.body)
				tok, err := h.AgentKey().SignJSON(identity.TypRequest, c)
				if err != nil {
					t.Fatal(err)
				}
				auth, jti = "Airlock "+tok, c["jti"].(string)
			}
			// send verifies the receipt: host signature, req, status, body hash.
			resp := send(t, h.Host, tt.method, tt.target, auth, tt.body, jti)
			if resp.Status != tt.status {
				t.Fatalf("status %d (%s), want %d", resp.Status, resp.Body, tt.status)
			}
			wantAud := ""
			if tt.signed {
				wantAud = h.AgentKey().DID()
			}
			if resp.Receipt.Aud != wantAud || resp.Receipt.Iss != h.DID() {
				t.Fatalf("receipt iss %q aud %q, want %q %q", resp.Receipt.Iss, resp.Receipt.Aud, h.DID(), wantAud)
			}
			// A receipt for other bytes or another status does not verify.
			if _, err := identity.VerifyReceipt(resp.Header.Get("Airlock-Receipt"), h.DID(), jti, resp.Status, append(resp.Body, ' ')); err == nil {
				t.Fatal("receipt verifies for a body with one more byte")
			}
			if _, err := identity.VerifyReceipt(resp.Header.Get("Airlock-Receipt"), h.DID(), jti, resp.Status+1, resp.Body); err == nil {
				t.Fatal("receipt verifies for another status")
			}
			if !tt.audit {
				return
			}
			entries := entriesFor(t, h.Host, "", jti)
			if len(entries) == 0 {
				t.Fatal("no audit entry for the intent")
			}
			if last := entries[len(entries)-1].Index; resp.Receipt.Seq != last {
				t.Fatalf("receipt seq %d, last audit entry of the request %d", resp.Receipt.Seq, last)
			}
		})
	}
}

// testOpenAPIMatchesRoutes: the served OpenAPI document names exactly the
// routes the server registers, no more, no fewer.
func testOpenAPIMatchesRoutes(t *testing.T, h *apiHost) {
	resp := send(t, h.Host, http.MethodGet, "/openapi.json", "", nil, "")
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d", resp.Status)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(resp.Body, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q, want 3.x", doc.OpenAPI)
	}
	methods := map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true}
	var spec []string
	for path, item := range doc.Paths {
		for m := range item {
			if methods[m] {
				spec = append(spec, strings.ToUpper(m)+" "+path)
			}
		}
	}
	var routes []string
	for _, r := range h.Server().Echo().Routes() {
		segs := strings.Split(r.Path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, ":") {
				segs[i] = "{" + s[1:] + "}"
			}
		}
		routes = append(routes, r.Method+" "+strings.Join(segs, "/"))
	}
	sort.Strings(spec)
	sort.Strings(routes)
	if strings.Join(spec, "\n") != strings.Join(routes, "\n") {
		t.Fatalf("openapi.json and the router differ\nonly in openapi.json: %v\nonly in the router: %v",
			minus(spec, routes), minus(routes, spec))
	}
}

// minus returns the elements of a not in b.
func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}

// testUnknownRouteIsAProblem: unknown routes answer a problem, not Echo's
// own error shape.
func testUnknownRouteIsAProblem(t *testing.T, h *apiHost) {
	resp := send(t, h.Host, http.MethodGet, "/v1/../etc/passwd", "", nil, "")
	wantProblem(t, resp.Status, resp.Body, abi.CodeNotFound, "")
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q", ct)
	}
}
