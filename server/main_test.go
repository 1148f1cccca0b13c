package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/config"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/sdk/client"
)

// cacheDir is the wazero compilation cache shared by every host of this
// test process, so that each plugin module is compiled once.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "airlock-server-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// Plugin source directories (repo-relative).
const (
	echoPlugin   = "plugins/echo"
	webPlugin    = "plugins/web"
	spinPlugin   = "host/runtime/testdata/plugins/spin"
	memhogPlugin = "host/runtime/testdata/plugins/memhog"
	sneakPlugin  = "internal/hosttest/testdata/plugins/sneak"
)

// newHost starts a host sharing the process's compilation cache.
func newHost(tb testing.TB, opts ...hosttest.Option) *hosttest.Host {
	tb.Helper()
	return hosttest.New(tb, append([]hosttest.Option{hosttest.WithCacheDir(cacheDir)}, opts...)...)
}

// apiHost is the host most suites share: the default configuration, realm
// "default" and a realm "other" with its own operator and publisher, and
// echo, web, spin and memhog installed in "default". Suites use their own
// agent keys where they revoke, and their own bundle names where they
// install, so that they do not interfere.
type apiHost struct {
	*hosttest.Host
	otherOperator, otherPublisher *identity.Key
}

// TestAPI runs the suites that need no special configuration against one
// shared host, through real HTTP on loopback.
func TestAPI(t *testing.T) {
	otherOperator, otherPublisher := hosttest.NewKey(t), hosttest.NewKey(t)
	h := &apiHost{
		Host: newHost(t, hosttest.WithRealm("other", config.Realm{
			Operators: []string{otherOperator.DID()}, Publishers: []string{otherPublisher.DID()},
		})),
		otherOperator: otherOperator, otherPublisher: otherPublisher,
	}
	for _, p := range []string{echoPlugin, webPlugin, spinPlugin, memhogPlugin} {
		h.Install(t, hosttest.DefaultRealm, p, nil)
	}
	suites := []struct {
		name string
		run  func(*testing.T, *apiHost)
	}{
		{"RequestProofAttacks", testRequestProofAttacks},
		{"Handshake", testHandshake},
		{"HandshakeMalformed", testHandshakeMalformed},
		{"GrantAttacks", testGrantAttacks},
		{"InstallAttacks", testInstallAttacks},
		{"IntentSchema", testIntentSchema},
		{"IntentContainment", testIntentContainment},
		{"IntentStrictJSON", testIntentStrictJSON},
		{"EgressLoopbackRefusedByDefault", testEgressLoopbackRefusedByDefault},
		{"Receipts", testReceipts},
		{"OpenAPIMatchesRoutes", testOpenAPIMatchesRoutes},
		{"UnknownRouteIsAProblem", testUnknownRouteIsAProblem},
		{"AuditEndpoint", testAuditEndpoint},
		{"ToolListing", testToolListing},
		// These restart the host.
		{"RequestProofReplay", testRequestProofReplay},
		{"Revocation", testRevocation},
		{"InstallListDelete", testInstallListDelete},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) { s.run(t, h) })
	}
}

// privateHost opens 127.0.0.1/32 to egress (allow_private) and writes the
// intent service's audit entries through a failing appender that is off
// until a suite arms it. echo, web and sneak are installed.
type privateHost struct {
	*hosttest.Host
	audit *failingAppender
}

// TestPrivateEgress runs the suites that need a loopback target reachable
// by tools.
func TestPrivateEgress(t *testing.T) {
	fa := &failingAppender{}
	h := &privateHost{
		Host: newHost(t, hosttest.WithAllowPrivate("127.0.0.1/32"),
			hosttest.WithAuditAppender(func(next audit.Appender) audit.Appender { fa.next = next; return fa })),
		audit: fa,
	}
	for _, p := range []string{echoPlugin, webPlugin, sneakPlugin} {
		h.Install(t, hosttest.DefaultRealm, p, nil)
	}
	suites := []struct {
		name string
		run  func(*testing.T, *privateHost)
	}{
		{"EgressAllowPrivate", testEgressAllowPrivate},
		{"UngrantedHostFunction", testUngrantedHostFunction},
		{"AuditFailsClosed", testAuditFailsClosed},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) { s.run(t, h) })
	}
}

var b64 = base64.RawURLEncoding

// problemDoc is an RFC 9457 problem as the host writes it.
type problemDoc struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// wantProblem fails t unless status and body are the problem code (and
// reason, when not empty) with a matching HTTP status.
func wantProblem(t *testing.T, status int, body []byte, code abi.Code, reason abi.FailureReason) problemDoc {
	t.Helper()
	var p problemDoc
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("status %d, body %q is not a problem document: %v", status, body, err)
	}
	wantStatus := code.HTTPStatus()
	if status != wantStatus || p.Status != wantStatus || p.Code != string(code) {
		t.Fatalf("got %d %s (%s: %s), want %d %s", status, p.Code, p.Reason, p.Detail, wantStatus, code)
	}
	if reason != "" && p.Reason != string(reason) {
		t.Fatalf("got reason %q (%s), want %q", p.Reason, p.Detail, reason)
	}
	return p
}

// wantResponseProblem is wantProblem for a verified client response.
func wantResponseProblem(t *testing.T, resp *client.Response, code abi.Code, reason abi.FailureReason) problemDoc {
	t.Helper()
	if resp == nil {
		t.Fatalf("no response, want %s", code)
	}
	return wantProblem(t, resp.Status, resp.Body, code, reason)
}

// invoke sends an intent as c; transport and receipt errors fail t, a
// problem answer does not.
func invoke(t *testing.T, c *client.Client, tool, input, grant string) *client.Response {
	t.Helper()
	resp, err := c.DoJSON(context.Background(), http.MethodPost, "/v1/intents",
		map[string]any{"tool": tool, "input": json.RawMessage(input), "grant": grant}, nil)
	if resp == nil {
		t.Fatalf("intent %s: %v", tool, err)
	}
	return resp
}

// wantOutput fails t unless resp is a 200 intent answer and returns its output.
func wantOutput(t *testing.T, resp *client.Response) json.RawMessage {
	t.Helper()
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	var res struct {
		ID     string          `json:"id"`
		Output json.RawMessage `json:"output"`
		Flags  []string        `json:"flags"`
	}
	if err := json.Unmarshal(resp.Body, &res); err != nil || res.ID == "" || res.Flags == nil {
		t.Fatalf("malformed intent answer %s: %v", resp.Body, err)
	}
	return res.Output
}

// echoStillServes checks that the host still answers a plain echo intent.
func echoStillServes(t *testing.T, h *hosttest.Host, grant string) {
	t.Helper()
	out := wantOutput(t, invoke(t, h.Agent(), "echo/echo", `{"message":"still here"}`, grant))
	if string(out) != `{"message":"still here"}` {
		t.Fatalf("echo answered %s", out)
	}
}

// rawResponse is an answer to a hand-made request.
type rawResponse struct {
	Status  int
	Header  http.Header
	Body    []byte
	Receipt *identity.Receipt
}

// send makes a request with a hand-made Authorization header ("" = none)
// and checks the receipt against reqJTI, the jti the host should name
// ("" when it should not have accepted the proof).
func send(t *testing.T, h *hosttest.Host, method, target, auth string, body []byte, reqJTI string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(method, h.URL()+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	rcpt, err := identity.VerifyReceipt(resp.Header.Get("Airlock-Receipt"), h.DID(), reqJTI, resp.StatusCode, rb)
	if err != nil {
		t.Fatalf("%s %s → %d: receipt: %v", method, target, resp.StatusCode, err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: rb, Receipt: rcpt}
}

// proofClaims are the claims of a valid request proof by signer.
func proofClaims(signer *identity.Key, hostDID, method, target string, body []byte) map[string]any {
	jti, err := identity.NewJTI()
	if err != nil {
		panic(err)
	}
	now := time.Now().Unix()
	return map[string]any{
		"iss": signer.DID(), "aud": hostDID, "jti": jti, "iat": now, "exp": now + 60,
		"htm": method, "htu": target, "bh": identity.BodyHash(body),
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forge assembles a compact JWS from raw header and payload bytes, signing
// the signing input with sign (nil: empty signature).
func forge(header, payload []byte, sign func(signingInput []byte) []byte) string {
	in := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(in))
	}
	return in + "." + b64.EncodeToString(sig)
}

// edSigner signs with k's Ed25519 private key.
func edSigner(t *testing.T, k *identity.Key) func([]byte) []byte {
	t.Helper()
	priv, ok := k.Ed25519()
	if !ok {
		t.Fatal("not an Ed25519 key")
	}
	return func(in []byte) []byte { return ed25519.Sign(priv, in) }
}

// target is a loopback HTTP server that counts the requests it saw.
type target struct {
	*httptest.Server
	hits atomic.Int64
}

// newTarget serves handler on addr (e.g. "127.0.0.1:0"), loopback only.
func newTarget(t *testing.T, addr string, handler http.HandlerFunc) *target {
	t.Helper()
	tg := &target{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		handler(w, r)
	}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	tg.Server = srv
	return tg
}

// port is the target's port.
func (tg *target) port() string {
	_, p, _ := net.SplitHostPort(tg.Listener.Addr().String())
	return p
}

// entriesFor returns the audit entries of realm written for request jti.
func entriesFor(t *testing.T, h *hosttest.Host, realm, jti string) []audit.Entry {
	t.Helper()
	all, err := h.AuditLog().Entries(context.Background(), realm, 0, audit.MaxEntries)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for _, e := range all {
		if e.Request == jti {
			out = append(out, e)
		}
	}
	return out
}

// hasEntry reports whether entries hold one with action and decision whose
// reason contains reason.
func hasEntry(entries []audit.Entry, action, decision, reason string) bool {
	for _, e := range entries {
		if e.Action == action && e.Decision == decision && strings.Contains(e.Reason, reason) {
			return true
		}
	}
	return false
}
