package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/internal/hosttest"
)

// knownCodes are the problem codes of DESIGN §4.
var knownCodes = map[string]bool{
	"bad_request": true, "unauthenticated": true, "replay": true, "grant_invalid": true, "grant_revoked": true,
	"forbidden": true, "not_found": true, "schema_violation": true, "too_large": true, "budget_exceeded": true,
	"approval_required": true, "quarantined": true, "output_blocked": true, "tool_failed": true, "unavailable": true,
}

// serveFuzz runs one request through the server in-process and checks the
// invariants every answer keeps: a verifying receipt, and either a 2xx or
// a problem document with a known code that is not an unmapped error.
func serveFuzz(t *testing.T, h *hosttest.Host, req *http.Request, reqJTI string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.Server().Handler().ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	if _, err := identity.VerifyReceipt(rec.Header().Get("Airlock-Receipt"), h.DID(), reqJTI, rec.Code, body); err != nil {
		t.Fatalf("status %d: receipt: %v", rec.Code, err)
	}
	if rec.Code < 300 {
		if !json.Valid(body) {
			t.Fatalf("status %d with a body that is not JSON: %q", rec.Code, body)
		}
		return rec
	}
	var p problemDoc
	if err := json.Unmarshal(body, &p); err != nil || !knownCodes[p.Code] || p.Status != rec.Code {
		t.Fatalf("status %d, not a problem with a known code: %q", rec.Code, body)
	}
	if p.Code == "unavailable" {
		t.Fatalf("unavailable (an unmapped or internal error) for %q", body)
	}
	return rec
}

// FuzzIntentBody signs arbitrary bytes as an intent body: whatever the
// body, the host answers with a known problem or a tool result, never an
// internal error.
func FuzzIntentBody(f *testing.F) {
	h := newHost(f)
	h.Install(f, hosttest.DefaultRealm, echoPlugin, nil)
	g := h.Grant(f, nil)
	for _, seed := range []string{
		`{"tool":"echo/echo","input":{"message":"hi"},"grant":"` + g + `"}`,
		`{"tool":"echo/echo","input":{"message":"hi"},"grant":"` + g + `","x":1}`,
		`{"tool":"echo/echo","tool":"web/fetch","input":{},"grant":"` + g + `"}`,
		`{"tool":"echo/echo","input":"not an object","grant":"` + g + `"}`,
		`{"tool":"echo/echo","input":{"message":"hi"},"grant":"` + g + `","chain":["x"]}`,
		`{"tool":"../../etc/passwd","input":{},"grant":"` + g + `"}`,
		`{"tool":"echo/echo","input":{"message":"\ud800"},"grant":"` + g + `"}`,
		`{"tool":"echo/echo","input":{"message":"hi"},"grant":"a.b.c"}`,
		`{}`, `[]`, `null`, ``, `{"tool":`, "\x00",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c := proofClaims(h.AgentKey(), h.DID(), http.MethodPost, "/v1/intents", body)
		tok, err := h.AgentKey().SignJSON(identity.TypRequest, c)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/intents", bytes.NewReader(body))
		req.Header.Set("Authorization", "Airlock "+tok)
		jti := c["jti"].(string)
		if len(body) > 1<<20 {
			jti = "" // refused before the proof is checked
		}
		serveFuzz(t, h, req, jti)
	})
}

// FuzzHandshake posts arbitrary bytes to the unauthenticated handshake.
func FuzzHandshake(f *testing.F) {
	h := newHost(f)
	did := h.AgentKey().DID()
	nonce := b64.EncodeToString(make([]byte, 32))
	for _, seed := range []string{
		`{"did":"` + did + `","nonce":"` + nonce + `"}`,
		`{"did":"` + did + `","challenge":"` + nonce + `","response":"a.b.c"}`,
		`{"did":"` + did + `","nonce":"` + nonce + `","nonce":"x"}`,
		`{"did":"did:key:z","nonce":""}`,
		`{}`, `[]`, ``, `{"did":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/handshake", bytes.NewReader(body))
		rec := serveFuzz(t, h, req, "")
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("handshake answered %d: %s", rec.Code, rec.Body.Bytes())
		}
	})
}

// FuzzRevocationBody posts arbitrary revocation bodies as the operator:
// a known problem or a revocation, never an internal error.
func FuzzRevocationBody(f *testing.F) {
	h := newHost(f)
	for _, seed := range []string{
		`{"realm":"default","grant":"abc"}`,
		`{"realm":"default","agent":"` + h.AgentKey().DID() + `"}`,
		`{"realm":"default","publisher":"did:key:zzz"}`,
		`{"realm":"nowhere","grant":"abc"}`,
		`{"realm":"default"}`, `{"REALM":"default","grant":"x"}`, `[]`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c := proofClaims(h.OperatorKey(), h.DID(), http.MethodPost, "/v1/revocations", body)
		tok, err := h.OperatorKey().SignJSON(identity.TypRequest, c)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/revocations", bytes.NewReader(body))
		req.Header.Set("Authorization", "Airlock "+tok)
		jti := c["jti"].(string)
		if len(body) > 1<<20 {
			jti = ""
		}
		serveFuzz(t, h, req, jti)
	})
}
