package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/sdk/client"
)

// absentRealm is a realm no configuration names.
const absentRealm = "nowhere"

// wantSameAnswer fails t unless elsewhere (about another realm's state) and
// absent (about state that exists nowhere) are the same answer: the same
// status and the same body. Receipts differ by nature and are not compared.
// rename holds pairs of names the agent itself chose (the tool it asked
// for), replaced in elsewhere's body before the comparison.
func wantSameAnswer(t *testing.T, elsewhere, absent *client.Response, rename ...string) {
	t.Helper()
	body := string(elsewhere.Body)
	if len(rename) > 0 {
		body = strings.NewReplacer(rename...).Replace(body)
	}
	if elsewhere.Status != absent.Status || body != string(absent.Body) {
		t.Fatalf("the answers tell the realms apart:\nelsewhere: %d %s\nabsent:    %d %s",
			elsewhere.Status, elsewhere.Body, absent.Status, absent.Body)
	}
}

// testRealms: an operator of one realm can do nothing in another, an
// agent's grant reaches only its own realm, and every refusal is the answer
// a realm (or tool) that does not exist gets.
func testRealms(t *testing.T, h *capHost) {
	ctx := context.Background()
	other := h.Client(h.otherOperator)
	// What realm "other" holds: a plugin "hidden" and a secret OTHER_TOKEN.
	hidden := hosttest.BundleBytes(t, hosttest.BuildBundle(t, echoPlugin, h.otherPublisher, func(m *bundle.Manifest) { m.Name = "hidden" }))
	if resp, err := other.Install(ctx, otherRealm, hidden); err != nil || resp.Status != http.StatusCreated {
		t.Fatalf("install into %s by its operator: %v %+v", otherRealm, err, resp)
	}
	otherValue := "other-realm-" + canary("token")
	if resp, err := other.DoJSON(ctx, http.MethodPut, "/v1/secrets/"+otherRealm+"/"+secretName,
		map[string]string{"value": otherValue}, nil); err != nil || resp.Status != http.StatusNoContent {
		t.Fatalf("set a secret in %s by its operator: %v %+v", otherRealm, err, resp)
	}
	own := hosttest.BundleBytes(t, h.Bundle(t, echoPlugin, func(m *bundle.Manifest) { m.Name = "intruder" }))

	op := h.Operator()
	do := func(t *testing.T, method, target string, in any) *client.Response {
		t.Helper()
		resp, err := op.DoJSON(ctx, method, target, in, nil)
		if resp == nil {
			t.Fatalf("%s %s: %v", method, target, err)
		}
		return resp
	}
	q := func(realm string) string { return "?" + url.Values{"realm": {realm}}.Encode() }
	operatorTests := []struct {
		name string
		do   func(t *testing.T, realm string) *client.Response
	}{
		{"operator of default installs into another realm", func(t *testing.T, realm string) *client.Response {
			resp, err := op.Install(ctx, realm, own)
			if resp == nil {
				t.Fatal(err)
			}
			return resp
		}},
		{"operator of default lists another realm's plugins", func(t *testing.T, realm string) *client.Response {
			return do(t, http.MethodGet, "/v1/plugins"+q(realm), nil)
		}},
		{"operator of default removes another realm's plugin", func(t *testing.T, realm string) *client.Response {
			return do(t, http.MethodDelete, "/v1/plugins/hidden"+q(realm), nil)
		}},
		{"operator of default approves another realm's plugin", func(t *testing.T, realm string) *client.Response {
			return do(t, http.MethodPost, "/v1/plugins/hidden/approve"+q(realm), map[string]string{"manifest_sha256": "00"})
		}},
		{"operator of default sets a secret in another realm", func(t *testing.T, realm string) *client.Response {
			return do(t, http.MethodPut, "/v1/secrets/"+realm+"/"+secretName, map[string]string{"value": "operator-of-default-value"})
		}},
		{"operator of default deletes a secret in another realm", func(t *testing.T, realm string) *client.Response {
			return do(t, http.MethodDelete, "/v1/secrets/"+realm+"/"+secretName, nil)
		}},
		{"operator of default lists another realm's secrets", func(t *testing.T, realm string) *client.Response {
			return do(t, http.MethodGet, "/v1/secrets/"+realm, nil)
		}},
		{"operator of default reads another realm's audit log", func(t *testing.T, realm string) *client.Response {
			return do(t, http.MethodGet, "/v1/audit"+q(realm), nil)
		}},
		{"operator of default revokes an agent in another realm", func(t *testing.T, realm string) *client.Response {
			return do(t, http.MethodPost, "/v1/revocations", map[string]string{"realm": realm, "agent": h.AgentKey().DID()})
		}},
	}
	for _, tt := range operatorTests {
		t.Run(tt.name, func(t *testing.T) {
			elsewhere := tt.do(t, otherRealm)
			wantResponseProblem(t, elsewhere, abi.CodeForbidden, "")
			wantSameAnswer(t, elsewhere, tt.do(t, absentRealm))
		})
	}
	t.Run("the other realm is untouched", func(t *testing.T) {
		var list struct {
			Plugins []struct {
				Name string `json:"name"`
			} `json:"plugins"`
		}
		resp, err := other.DoJSON(ctx, http.MethodGet, "/v1/plugins"+q(otherRealm), nil, &list)
		if err != nil || len(list.Plugins) != 1 || list.Plugins[0].Name != "hidden" {
			t.Fatalf("%s lists %+v (%v)", otherRealm, resp, err)
		}
		sec, err := h.Vault().Get(ctx, otherRealm, secretName)
		if err != nil || string(sec.Expose()) != otherValue {
			t.Fatalf("the other realm's secret changed (%v)", err)
		}
		if _, ok := h.Registry().Get(otherRealm, "intruder"); ok {
			t.Fatal("the default operator's bundle was installed into the other realm")
		}
	})

	defaultGrant := h.Grant(t, nil)
	otherGrant := h.GrantSignedBy(t, h.otherOperator, func(c *grant.Claims) { c.Realm = otherRealm })
	agentTests := []struct {
		name                  string
		grant                 string
		elsewhere, absentTool string
		code                  abi.Code
	}{
		{"agent of default invokes a tool installed only in another realm", defaultGrant, "hidden/echo", "ghost/echo", abi.CodeNotFound},
		{"agent of other invokes a tool installed only in default", otherGrant, "echo/echo", "ghost/echo", abi.CodeNotFound},
	}
	for _, tt := range agentTests {
		t.Run(tt.name, func(t *testing.T) {
			elsewhere := invoke(t, h.Agent(), tt.elsewhere, `{"message":"hi"}`, tt.grant)
			wantResponseProblem(t, elsewhere, tt.code, "")
			wantSameAnswer(t, elsewhere, invoke(t, h.Agent(), tt.absentTool, `{"message":"hi"}`, tt.grant))
		})
	}
	t.Run("operator of default signs a grant for another realm", func(t *testing.T) {
		forged := func(realm string) string {
			return h.Grant(t, func(c *grant.Claims) { c.Realm = realm })
		}
		elsewhere := invoke(t, h.Agent(), "hidden/echo", `{"message":"hi"}`, forged(otherRealm))
		wantResponseProblem(t, elsewhere, abi.CodeGrantInvalid, "")
		wantSameAnswer(t, elsewhere, invoke(t, h.Agent(), "hidden/echo", `{"message":"hi"}`, forged(absentRealm)))
	})
	t.Run("nested call to a tool installed only in another realm", func(t *testing.T) {
		g := h.Grant(t, func(c *grant.Claims) { c.Tools, c.Caps.Call = []string{"caller/call"}, []string{"*"} })
		elsewhere := invoke(t, h.Agent(), "caller/call", `{"tool":"hidden/echo","input":{"message":"hi"}}`, g)
		wantToolError(t, elsewhere, abi.CodeNotFound)
		wantSameAnswer(t, elsewhere, invoke(t, h.Agent(), "caller/call", `{"tool":"ghost/echo","input":{"message":"hi"}}`, g), "hidden/echo", "ghost/echo")
	})
	t.Run("another realm's secret is never injected", func(t *testing.T) {
		up := newUpstream(t, "127.0.0.1:0", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
		g := h.Grant(t, func(c *grant.Claims) {
			c.Tools = []string{"hdr/request"}
			c.Caps.HTTP = &grant.HTTPCap{Hosts: []string{"127.0.0.1"}}
			c.Caps.Secrets = []string{secretName}
		})
		resp := invoke(t, h.Agent(), "hdr/request", string(mustJSON(t, map[string]string{"url": up.URL + "/"})), g)
		var out hdrOutput
		if err := json.Unmarshal(wantOutput(t, resp), &out); err != nil || out.Status != http.StatusOK {
			t.Fatalf("hdr answered %+v (%v)", out, err)
		}
		seen, n := up.last()
		if n != 1 || bytes.Contains([]byte(seen.Get("Authorization")), []byte(otherValue)) {
			t.Fatalf("the upstream saw %d requests carrying the other realm's secret", n)
		}
	})
}
