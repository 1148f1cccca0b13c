package server_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/internal/hosttest"
)

// testRequestProofAttacks sends one valid intent body with request proofs
// broken the ways an attacker would try; every one must be refused before
// the tool runs, with a receipt that names no request.
func testRequestProofAttacks(t *testing.T, h *apiHost) {
	agent, attacker := h.AgentKey(), hosttest.NewKey(t)
	body := mustJSON(t, map[string]any{
		"tool": "echo/echo", "input": map[string]string{"message": "hi"}, "grant": h.Grant(t, nil),
	})
	const path = "/v1/intents"

	// claims returns valid proof claims changed by mutate.
	claims := func(signer *identity.Key, mutate func(map[string]any)) map[string]any {
		c := proofClaims(signer, h.DID(), http.MethodPost, path, body)
		if mutate != nil {
			mutate(c)
		}
		return c
	}
	// signed returns "Airlock <jws>" over claims by signer.
	signed := func(signer *identity.Key, mutate func(map[string]any)) string {
		tok, err := signer.SignJSON(identity.TypRequest, claims(signer, mutate))
		if err != nil {
			t.Fatal(err)
		}
		return "Airlock " + tok
	}
	hdr := func(alg string, extra map[string]any) []byte {
		m := map[string]any{"alg": alg, "typ": identity.TypRequest, "kid": agent.KID()}
		for k, v := range extra {
			m[k] = v
		}
		return mustJSON(t, m)
	}
	payload := mustJSON(t, claims(agent, nil))
	attackerJWK, err := attacker.PublicJWK()
	if err != nil {
		t.Fatal(err)
	}
	agentPriv, _ := agent.Ed25519()
	jsonSerialized, err := jws.Sign(payload, jws.WithJSON(), jws.WithKey(jwa.EdDSA(), agentPriv))
	if err != nil {
		t.Fatal(err)
	}
	agentJWK, err := agent.PublicJWK()
	if err != nil {
		t.Fatal(err)
	}
	hs256 := func(key []byte) func([]byte) []byte {
		return func(in []byte) []byte {
			m := hmac.New(sha256.New, key)
			m.Write(in)
			return m.Sum(nil)
		}
	}

	tests := []struct {
		name string
		auth string
		body []byte // nil: the signed body
	}{
		{"unsigned request (no Authorization)", "", nil},
		{"bearer token instead of a proof", "Bearer " + signed(agent, nil)[len("Airlock "):], nil},
		{"alg none", "Airlock " + forge(hdr("none", nil), payload, nil), nil},
		{"HS256 keyed with the agent's public key", "Airlock " + forge(hdr("HS256", nil), payload,
			hs256([]byte(agent.Public().(ed25519.PublicKey)))), nil},
		{"HS256 keyed with the agent's public JWK", "Airlock " + forge(hdr("HS256", nil), payload, hs256(agentJWK)), nil},
		{"embedded jwk header with the attacker's key", "Airlock " + forge(hdr(identity.AlgEdDSA, map[string]any{"jwk": attackerJWK}), payload, edSigner(t, attacker)), nil},
		{"jku header pointing at the attacker", "Airlock " + forge(hdr(identity.AlgEdDSA, map[string]any{"jku": "http://127.0.0.1:9/jwks.json"}), payload, edSigner(t, agent)), nil},
		{"JSON serialization", "Airlock " + string(jsonSerialized), nil},
		{"signed by the attacker under the agent's kid", "Airlock " + forge(hdr(identity.AlgEdDSA, nil), payload, edSigner(t, attacker)), nil},
		{"wrong aud (proof for another host)", signed(agent, func(c map[string]any) { c["aud"] = attacker.DID() }), nil},
		{"missing exp", signed(agent, func(c map[string]any) { delete(c, "exp") }), nil},
		{"lifetime over 120 s", signed(agent, func(c map[string]any) { c["exp"] = c["iat"].(int64) + 121 }), nil},
		{"expired proof", signed(agent, func(c map[string]any) {
			c["iat"], c["exp"] = c["iat"].(int64)-600, c["iat"].(int64)-540
		}), nil},
		{"body changed after signing", signed(agent, nil), mustJSON(t, map[string]any{
			"tool": "echo/echo", "input": map[string]string{"message": "changed"}, "grant": h.Grant(t, nil),
		})},
		{"proof for another path", signed(agent, func(c map[string]any) { c["htu"] = "/v1/plugins?realm=default" }), nil},
		{"proof for another method", signed(agent, func(c map[string]any) { c["htm"] = http.MethodGet }), nil},
		{"kid ≠ iss (attacker claims to be the agent)", signed(attacker, func(c map[string]any) { c["iss"] = agent.DID() }), nil},
		{"short jti", signed(agent, func(c map[string]any) { c["jti"] = "AAECAwQFBgc" }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := body
			if tt.body != nil {
				b = tt.body
			}
			resp := send(t, h.Host, http.MethodPost, path, tt.auth, b, "")
			wantProblem(t, resp.Status, resp.Body, abi.CodeUnauthenticated, "")
			if resp.Receipt.Aud != "" || resp.Receipt.Req != "" {
				t.Fatalf("receipt names requester %q request %q for a refused proof", resp.Receipt.Aud, resp.Receipt.Req)
			}
		})
	}
}

// testRequestProofReplay replays a valid proof, on the same host and after
// a restart; both must answer replay (409) without running anything.
func testRequestProofReplay(t *testing.T, h *apiHost) {
	grant := h.Grant(t, nil)

	// valid returns a fresh intent body with its proof and jti.
	valid := func(t *testing.T) (body []byte, auth, jti string) {
		body = mustJSON(t, map[string]any{"tool": "echo/echo", "input": map[string]string{"message": "once"}, "grant": grant})
		c := proofClaims(h.AgentKey(), h.DID(), http.MethodPost, "/v1/intents", body)
		tok, err := h.AgentKey().SignJSON(identity.TypRequest, c)
		if err != nil {
			t.Fatal(err)
		}
		return body, "Airlock " + tok, c["jti"].(string)
	}

	tests := []struct {
		name    string
		restart bool
	}{
		{"replay of a used proof", false},
		{"replay after restart", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, auth, jti := valid(t)
			first := send(t, h.Host, http.MethodPost, "/v1/intents", auth, body, jti)
			if first.Status != http.StatusOK {
				t.Fatalf("first use: %d %s", first.Status, first.Body)
			}
			if tt.restart {
				h.Restart(t)
			}
			before := h.AuditLog().Size()
			again := send(t, h.Host, http.MethodPost, "/v1/intents", auth, body, "")
			wantProblem(t, again.Status, again.Body, abi.CodeReplay, "")
			if n := len(entriesFor(t, h.Host, hosttest.DefaultRealm, jti)); n != 2 {
				t.Fatalf("request %s has %d audit entries, want the 2 of its first use", jti, n)
			}
			if after := h.AuditLog().Size(); after != before {
				t.Fatalf("replay wrote %d audit entries", after-before)
			}
		})
	}
}

// testHandshake runs the mutual challenge-response and its attacks.
func testHandshake(t *testing.T, h *apiHost) {
	agent, attacker := h.AgentKey(), hosttest.NewKey(t)

	// start runs step one and checks the host's signature over our nonce.
	start := func(t *testing.T, did string) string {
		t.Helper()
		nonce := make([]byte, 32)
		if _, err := rand.Read(nonce); err != nil {
			t.Fatal(err)
		}
		n := base64.RawURLEncoding.EncodeToString(nonce)
		resp := send(t, h.Host, http.MethodPost, "/v1/handshake", "", mustJSON(t, map[string]string{"did": did, "nonce": n}), "")
		if resp.Status != http.StatusOK {
			t.Fatalf("step one: %d %s", resp.Status, resp.Body)
		}
		var ans struct{ Host, Signature, Challenge string }
		if err := json.Unmarshal(resp.Body, &ans); err != nil {
			t.Fatal(err)
		}
		ver, err := identity.Verify(ans.Signature, identity.TypHandshake)
		if err != nil || ver.Signer != h.DID() || ans.Host != h.DID() {
			t.Fatalf("host answer not signed by the host: %v (signer %v)", err, ver)
		}
		var signedAns struct {
			Nonce, DID, Challenge string
			Exp                   int64
		}
		if err := json.Unmarshal(ver.Payload, &signedAns); err != nil {
			t.Fatal(err)
		}
		if signedAns.Nonce != n || signedAns.DID != did || signedAns.Challenge != ans.Challenge {
			t.Fatalf("host signed %+v, not our nonce and its challenge", signedAns)
		}
		return ans.Challenge
	}
	// finish runs step two: did answers challenge with a response signed by signer for aud.
	finish := func(t *testing.T, did, challenge string, signer *identity.Key, aud string) rawResponse {
		t.Helper()
		resp, err := signer.SignJSON(identity.TypHandshake, map[string]string{"challenge": challenge, "aud": aud})
		if err != nil {
			t.Fatal(err)
		}
		return send(t, h.Host, http.MethodPost, "/v1/handshake", "",
			mustJSON(t, map[string]string{"did": did, "challenge": challenge, "response": resp}), "")
	}

	t.Run("full two-step handshake", func(t *testing.T) {
		c := start(t, agent.DID())
		resp := finish(t, agent.DID(), c, agent, h.DID())
		if resp.Status != http.StatusOK || string(resp.Body) != `{"ok":true}` {
			t.Fatalf("step two: %d %s", resp.Status, resp.Body)
		}
		if resp.Receipt.Aud != agent.DID() {
			t.Fatalf("receipt aud %q, want the caller", resp.Receipt.Aud)
		}
	})

	tests := []struct {
		name string
		run  func(t *testing.T) rawResponse
	}{
		{"response signed by another key", func(t *testing.T) rawResponse {
			return finish(t, agent.DID(), start(t, agent.DID()), attacker, h.DID())
		}},
		{"challenge issued to another caller", func(t *testing.T) rawResponse {
			return finish(t, attacker.DID(), start(t, agent.DID()), attacker, h.DID())
		}},
		{"reused challenge", func(t *testing.T) rawResponse {
			c := start(t, agent.DID())
			if ok := finish(t, agent.DID(), c, agent, h.DID()); ok.Status != http.StatusOK {
				t.Fatalf("first answer: %d %s", ok.Status, ok.Body)
			}
			return finish(t, agent.DID(), c, agent, h.DID())
		}},
		{"response for another host (wrong aud)", func(t *testing.T) rawResponse {
			return finish(t, agent.DID(), start(t, agent.DID()), agent, attacker.DID())
		}},
		{"challenge with its expiry moved", func(t *testing.T) rawResponse {
			b, err := base64.RawURLEncoding.DecodeString(start(t, agent.DID()))
			if err != nil || len(b) < 24 {
				t.Fatalf("challenge %x: %v", b, err)
			}
			b[23]++ // the expiry's last byte: one second later
			return finish(t, agent.DID(), base64.RawURLEncoding.EncodeToString(b), agent, h.DID())
		}},
		{"challenge the host never issued", func(t *testing.T) rawResponse {
			return finish(t, agent.DID(), base64.RawURLEncoding.EncodeToString(make([]byte, 32)), agent, h.DID())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.run(t)
			wantProblem(t, resp.Status, resp.Body, abi.CodeUnauthenticated, "")
		})
	}
}

// testHandshakeMalformed checks that malformed handshakes are bad requests.
func testHandshakeMalformed(t *testing.T, h *apiHost) {
	did := h.AgentKey().DID()
	tests := []struct {
		name string
		body string
	}{
		{"short nonce", `{"did":"` + did + `","nonce":"AAEC"}`},
		{"did is not a did:key", `{"did":"did:web:127.0.0.1","nonce":"` + b64.EncodeToString(make([]byte, 32)) + `"}`},
		{"unknown field", `{"did":"` + did + `","nonce":"` + b64.EncodeToString(make([]byte, 32)) + `","admin":true}`},
		{"both steps at once", `{"did":"` + did + `","nonce":"` + b64.EncodeToString(make([]byte, 32)) + `","challenge":"x","response":"y"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, h.Host, http.MethodPost, "/v1/handshake", "", []byte(tt.body), "")
			wantProblem(t, resp.Status, resp.Body, abi.CodeBadRequest, "")
		})
	}
}
