package identity_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/airlock-dev/airlock/host/identity"
)

var (
	testNow  = time.Unix(1_700_000_000, 0)
	testBody = []byte(`{"tool":"web/fetch","input":{}}`)
)

const (
	testMethod = "POST"
	testPath   = "/v1/intents?realm=default"
)

// proofFixture holds the parties of a request-proof test.
type proofFixture struct {
	host, agent, agentP256, attacker *identity.Key
}

func newProofFixture(t *testing.T) *proofFixture {
	return &proofFixture{
		host:      mustKey(t, identity.KeyEd25519),
		agent:     mustKey(t, identity.KeyEd25519),
		agentP256: mustKey(t, identity.KeyP256),
		attacker:  mustKey(t, identity.KeyEd25519),
	}
}

// claims returns valid proof claims for signer, for the test request.
func (f *proofFixture) claims(signer *identity.Key) map[string]any {
	return map[string]any{
		"iss": signer.DID(),
		"aud": f.host.DID(),
		"jti": "AAECAwQFBgcICQoLDA0ODw",
		"iat": testNow.Unix(),
		"exp": testNow.Unix() + 60,
		"htm": testMethod,
		"htu": testPath,
		"bh":  identity.BodyHash(testBody),
	}
}

func (f *proofFixture) verifier(replay identity.ReplayStore) *identity.RequestVerifier {
	return &identity.RequestVerifier{
		HostDID: f.host.DID(),
		Replay:  replay,
		Now:     func() time.Time { return testNow },
	}
}

func TestRequestVerify(t *testing.T) {
	f := newProofFixture(t)
	edPriv, _ := f.agent.Ed25519()
	attackerPriv, _ := f.attacker.Ed25519()
	edPub := f.agent.Public().(ed25519.PublicKey)

	// signed returns "Airlock <jws>" for claims changed by mutate.
	signed := func(signer *identity.Key, mutate func(map[string]any)) string {
		c := f.claims(signer)
		if mutate != nil {
			mutate(c)
		}
		tok, err := signer.SignJSON(identity.TypRequest, c)
		if err != nil {
			t.Fatal(err)
		}
		return "Airlock " + tok
	}
	// hdr is a protected header naming the agent's Ed25519 key.
	hdr := func(alg string, extra map[string]any) []byte {
		h := map[string]any{"alg": alg, "typ": identity.TypRequest, "kid": f.agent.KID()}
		for k, v := range extra {
			h[k] = v
		}
		return mustJSON(t, h)
	}
	payload := mustJSON(t, f.claims(f.agent))
	edSign := func(in []byte) []byte { return ed25519.Sign(edPriv, in) }

	jsonSerialized, err := jws.Sign(payload, jws.WithJSON(), jws.WithKey(jwa.EdDSA(), edPriv))
	if err != nil {
		t.Fatal(err)
	}
	attackerJWK, err := f.attacker.PublicJWK()
	if err != nil {
		t.Fatal(err)
	}
	goodEd := signed(f.agent, nil)

	type request struct {
		auth, method, path string
		body               []byte
	}
	req := func(auth string) request { return request{auth, testMethod, testPath, testBody} }

	tests := []struct {
		name string
		req  request
		want error // nil: accepted
	}{
		{"valid Ed25519 proof", req(goodEd), nil},
		{"valid P-256 proof", req(signed(f.agentP256, nil)), nil},
		{"valid proof issued within the clock skew", req(signed(f.agent, func(c map[string]any) {
			c["iat"] = testNow.Unix() + 29
			c["exp"] = testNow.Unix() + 89
		})), nil},
		{"valid proof expired within the clock skew", req(signed(f.agent, func(c map[string]any) {
			c["iat"] = testNow.Unix() - 80
			c["exp"] = testNow.Unix() - 20
		})), nil},

		{"unsigned: bare base64 claims", req("Airlock " + b64.EncodeToString(payload)), identity.ErrMalformed},
		{"unsigned: empty signature segment", req("Airlock " + forge(hdr(identity.AlgEdDSA, nil), payload, nil)), identity.ErrSignature},
		{"alg none", req("Airlock " + forge(hdr("none", nil), payload, nil)), identity.ErrAlgorithm},
		{"alg NONE upper case", req("Airlock " + forge(hdr("NONE", nil), payload, nil)), identity.ErrAlgorithm},
		{"HS256 keyed with the Ed25519 public key bytes", req("Airlock " + forge(hdr("HS256", nil), payload, func(in []byte) []byte {
			m := hmac.New(sha256.New, edPub)
			m.Write(in)
			return m.Sum(nil)
		})), identity.ErrAlgorithm},
		{"ES256 header on an Ed25519 key", req("Airlock " + forge(hdr(identity.AlgES256, nil), payload, edSign)), identity.ErrAlgorithm},
		{"EdDSA header on a P-256 key", req("Airlock " + forge(mustJSON(t, map[string]any{
			"alg": identity.AlgEdDSA, "typ": identity.TypRequest, "kid": f.agentP256.KID(),
		}), mustJSON(t, f.claims(f.agentP256)), edSign)), identity.ErrAlgorithm},
		{"alg missing", req("Airlock " + forge(mustJSON(t, map[string]any{"typ": identity.TypRequest, "kid": f.agent.KID()}), payload, edSign)), identity.ErrAlgorithm},
		{"embedded jwk header with the attacker's key", req("Airlock " + forge(hdr(identity.AlgEdDSA, map[string]any{"jwk": attackerJWK}), payload, func(in []byte) []byte {
			return ed25519.Sign(attackerPriv, in)
		})), identity.ErrHeader},
		{"jku header", req("Airlock " + forge(hdr(identity.AlgEdDSA, map[string]any{"jku": "https://attacker.example/jwks.json"}), payload, edSign)), identity.ErrHeader},
		{"x5u header", req("Airlock " + forge(hdr(identity.AlgEdDSA, map[string]any{"x5u": "https://attacker.example/cert.pem"}), payload, edSign)), identity.ErrHeader},
		{"x5c header", req("Airlock " + forge(hdr(identity.AlgEdDSA, map[string]any{"x5c": []string{"MIIB"}}), payload, edSign)), identity.ErrHeader},
		{"crit header", req("Airlock " + forge(hdr(identity.AlgEdDSA, map[string]any{"crit": []string{"exp"}, "exp": 1}), payload, edSign)), identity.ErrHeader},
		{"b64 false header", req("Airlock " + forge(hdr(identity.AlgEdDSA, map[string]any{"b64": false}), payload, edSign)), identity.ErrHeader},
		{"unknown header parameter", req("Airlock " + forge(hdr(identity.AlgEdDSA, map[string]any{"zip": "DEF"}), payload, edSign)), identity.ErrHeader},
		{"duplicate alg member in header", req("Airlock " + forge([]byte(`{"alg":"EdDSA","typ":"`+identity.TypRequest+`","kid":"`+f.agent.KID()+`","alg":"none"}`), payload, edSign)), identity.ErrMalformed},
		{"grant token used as request proof", req("Airlock " + forge(mustJSON(t, map[string]any{
			"alg": identity.AlgEdDSA, "typ": identity.TypGrant, "kid": f.agent.KID(),
		}), payload, edSign)), identity.ErrHeader},
		{"kid without fragment", req("Airlock " + forge(hdr(identity.AlgEdDSA, map[string]any{"kid": f.agent.DID()}), payload, edSign)), identity.ErrHeader},
		{"kid fragment of another key", req("Airlock " + forge(hdr(identity.AlgEdDSA, map[string]any{"kid": f.agent.DID() + "#" + f.attacker.DID()[len("did:key:"):]}), payload, edSign)), identity.ErrHeader},
		{"kid is not a did:key", req("Airlock " + forge(hdr(identity.AlgEdDSA, map[string]any{"kid": "https://attacker.example/key#1"}), payload, edSign)), identity.ErrHeader},
		{"JSON serialization", req("Airlock " + string(jsonSerialized)), identity.ErrMalformed},
		{"signed by the attacker under the agent's kid", req("Airlock " + forge(hdr(identity.AlgEdDSA, nil), payload, func(in []byte) []byte {
			return ed25519.Sign(attackerPriv, in)
		})), identity.ErrSignature},
		{"signature bit flipped", req("Airlock " + flipLastSigByte(strings.TrimPrefix(goodEd, "Airlock "))), identity.ErrSignature},
		{"padding added to the payload segment", req(goodEdWithPadding(goodEd)), identity.ErrMalformed},
		{"newline inside the token", req(goodEd[:30] + "\n" + goodEd[30:]), identity.ErrMalformed},

		{"wrong aud (proof for another host)", req(signed(f.agent, func(c map[string]any) { c["aud"] = f.attacker.DID() })), identity.ErrClaims},
		{"missing exp", req(signed(f.agent, func(c map[string]any) { delete(c, "exp") })), identity.ErrClaims},
		{"missing bh", req(signed(f.agent, func(c map[string]any) { delete(c, "bh") })), identity.ErrClaims},
		{"unknown claim", req(signed(f.agent, func(c map[string]any) { c["admin"] = true })), identity.ErrClaims},
		{"claim name in other case", req(signed(f.agent, func(c map[string]any) { c["AUD"] = c["aud"]; delete(c, "aud") })), identity.ErrClaims},
		{"duplicate aud claim", req("Airlock " + forge(hdr(identity.AlgEdDSA, nil),
			append(payload[:len(payload)-1:len(payload)-1], []byte(`,"aud":"did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"}`)...), edSign)), identity.ErrMalformed},
		{"exp as a string", req(signed(f.agent, func(c map[string]any) { c["exp"] = "1700000060" })), identity.ErrClaims},
		{"lifetime over 120 s", req(signed(f.agent, func(c map[string]any) { c["exp"] = testNow.Unix() + 121 })), identity.ErrClaims},
		{"exp before iat", req(signed(f.agent, func(c map[string]any) { c["exp"] = testNow.Unix() - 1 })), identity.ErrClaims},
		{"expired", req(signed(f.agent, func(c map[string]any) {
			c["iat"] = testNow.Unix() - 120
			c["exp"] = testNow.Unix() - 31
		})), identity.ErrClaims},
		{"issued in the future beyond skew", req(signed(f.agent, func(c map[string]any) {
			c["iat"] = testNow.Unix() + 31
			c["exp"] = testNow.Unix() + 91
		})), identity.ErrClaims},
		{"iat overflow makes a huge lifetime look negative", req(signed(f.agent, func(c map[string]any) {
			c["iat"] = int64(-9_000_000_000_000_000_000)
			c["exp"] = int64(9_000_000_000_000_000_000)
		})), identity.ErrClaims},
		{"short jti (64 bits)", req(signed(f.agent, func(c map[string]any) { c["jti"] = "AAECAwQFBgc" })), identity.ErrClaims},
		{"jti not base64url", req(signed(f.agent, func(c map[string]any) { c["jti"] = "not base64url, but long enough!!" })), identity.ErrClaims},
		{"kid ≠ iss (attacker claims to be the agent)", req(signed(f.attacker, func(c map[string]any) { c["iss"] = f.agent.DID() })), identity.ErrClaims},
		{"body changed after signing", request{goodEd, testMethod, testPath, []byte(`{"tool":"mail/send","input":{}}`)}, identity.ErrClaims},
		{"body dropped after signing", request{goodEd, testMethod, testPath, nil}, identity.ErrClaims},
		{"method changed", request{goodEd, "DELETE", testPath, testBody}, identity.ErrClaims},
		{"method case changed", request{goodEd, "post", testPath, testBody}, identity.ErrClaims},
		{"path changed", request{goodEd, testMethod, "/v1/plugins?realm=default", testBody}, identity.ErrClaims},
		{"query changed", request{goodEd, testMethod, "/v1/intents?realm=other", testBody}, identity.ErrClaims},

		{"Bearer scheme", req("Bearer " + strings.TrimPrefix(goodEd, "Airlock ")), identity.ErrMalformed},
		{"scheme in lower case", req("airlock " + strings.TrimPrefix(goodEd, "Airlock ")), identity.ErrMalformed},
		{"two spaces after the scheme", req("Airlock  " + strings.TrimPrefix(goodEd, "Airlock ")), identity.ErrMalformed},
		{"no token", req("Airlock "), identity.ErrMalformed},
		{"empty header", req(""), identity.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			replay := newMemReplay()
			p, err := f.verifier(replay).Verify(context.Background(), tc.req.auth, tc.req.method, tc.req.path, tc.req.body)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if p.Htm != tc.req.method || p.Htu != tc.req.path || p.Aud != f.host.DID() {
					t.Fatalf("proof %+v does not describe the request", p)
				}
				if len(replay.seen) != 1 {
					t.Fatalf("accepted proof recorded %d jtis, want 1", len(replay.seen))
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			t.Logf("refused: %v", err)
			if p != nil {
				t.Fatalf("refused proof returned %+v", p)
			}
			if len(replay.seen) != 0 {
				t.Fatal("a refused proof consumed a jti")
			}
		})
	}
}

func flipLastSigByte(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	sig, _ := b64.DecodeString(tok[i+1:])
	sig[len(sig)-1] ^= 1
	return tok[:i+1] + b64.EncodeToString(sig)
}

func goodEdWithPadding(auth string) string {
	parts := strings.Split(auth, ".")
	parts[1] += "=="
	return strings.Join(parts, ".")
}

func TestRequestVerifyReplay(t *testing.T) {
	f := newProofFixture(t)
	for _, k := range []*identity.Key{f.agent, f.agentP256} {
		t.Run(k.Type().String(), func(t *testing.T) {
			v := f.verifier(newMemReplay())
			tok, err := identity.SignRequest(k, f.host.DID(), testMethod, testPath, testBody, testNow)
			if err != nil {
				t.Fatal(err)
			}
			auth := "Airlock " + tok
			// An attacker who captured the proof cannot first burn it with a
			// different body: invalid proofs do not reach the replay store.
			if _, err := v.Verify(context.Background(), auth, testMethod, testPath, []byte("tampered")); !errors.Is(err, identity.ErrClaims) {
				t.Fatalf("tampered body: %v", err)
			}
			if _, err := v.Verify(context.Background(), auth, testMethod, testPath, testBody); err != nil {
				t.Fatalf("first use: %v", err)
			}
			_, err = v.Verify(context.Background(), auth, testMethod, testPath, testBody)
			if !errors.Is(err, identity.ErrReplay) {
				t.Fatalf("second use = %v, want ErrReplay", err)
			}
		})
	}
}

func TestRequestVerifyReplayKeptPastExpiryPlusSkew(t *testing.T) {
	f := newProofFixture(t)
	replay := newMemReplay()
	tok, err := identity.SignRequest(f.agent, f.host.DID(), testMethod, testPath, testBody, testNow)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.verifier(replay).Verify(context.Background(), "Airlock "+tok, testMethod, testPath, testBody)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Unix(p.Exp, 0).Add(identity.MaxClockSkew)
	if got := replay.seen[p.Jti]; !got.Equal(want) {
		t.Fatalf("replay store keeps the jti until %v, want %v (a shorter window reopens replay)", got, want)
	}
}

func TestRequestVerifyReplayStoreDownFailsClosed(t *testing.T) {
	f := newProofFixture(t)
	storeErr := errors.New("database is locked")
	tok, err := identity.SignRequest(f.agent, f.host.DID(), testMethod, testPath, testBody, testNow)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.verifier(&memReplay{err: storeErr}).Verify(context.Background(), "Airlock "+tok, testMethod, testPath, testBody)
	if !errors.Is(err, storeErr) || p != nil {
		t.Fatalf("Verify = %v, %v; want the store error", p, err)
	}
	for _, s := range []error{identity.ErrMalformed, identity.ErrAlgorithm, identity.ErrHeader, identity.ErrSignature, identity.ErrClaims, identity.ErrReplay} {
		if errors.Is(err, s) {
			t.Fatalf("store failure reported as %v; the caller must answer unavailable", s)
		}
	}
}

func TestRequestVerifierUnconfiguredRefusesEverything(t *testing.T) {
	f := newProofFixture(t)
	tests := []struct {
		name string
		aud  string
		v    *identity.RequestVerifier
	}{
		{"no host DID (proof with empty aud)", "", &identity.RequestVerifier{Replay: newMemReplay(), Now: func() time.Time { return testNow }}},
		{"no replay store", f.host.DID(), &identity.RequestVerifier{HostDID: f.host.DID(), Now: func() time.Time { return testNow }}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := identity.SignRequest(f.agent, tc.aud, testMethod, testPath, testBody, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tc.v.Verify(context.Background(), "Airlock "+tok, testMethod, testPath, testBody); err == nil {
				t.Fatal("unconfigured verifier accepted a proof")
			}
		})
	}
}

func TestSignRequestClaims(t *testing.T) {
	f := newProofFixture(t)
	tok, err := identity.SignRequest(f.agent, f.host.DID(), testMethod, testPath, nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.verifier(newMemReplay()).Verify(context.Background(), "Airlock "+tok, testMethod, testPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b64.DecodeString(p.Jti)
	if err != nil || len(raw) != 17 {
		t.Fatalf("jti %q: %d bytes, %v; want 17 (NewJTI)", p.Jti, len(raw), err)
	}
	if p.Iss != f.agent.DID() || p.Iat != testNow.Unix() || p.Exp != testNow.Unix()+60 || p.Bh != identity.BodyHash(nil) {
		t.Fatalf("unexpected claims %+v", p)
	}
	// Two proofs never share a jti.
	tok2, _ := identity.SignRequest(f.agent, f.host.DID(), testMethod, testPath, nil, testNow)
	p2, err := f.verifier(newMemReplay()).Verify(context.Background(), "Airlock "+tok2, testMethod, testPath, nil)
	if err != nil || p2.Jti == p.Jti {
		t.Fatalf("second proof: %v, jti %q == %q", err, p2.Jti, p.Jti)
	}
}

func TestBodyHash(t *testing.T) {
	tests := []struct{ name, body, want string }{
		// SHA-256 of the empty string, base64url without padding.
		{"empty body", "", "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"},
		{"abc", "abc", "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"},
	}
	for _, tc := range tests {
		if got := identity.BodyHash([]byte(tc.body)); got != tc.want {
			t.Errorf("%s: BodyHash = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestSignRequestJTIIsTheProofsJTI checks that the jti SignRequestJTI
// returns (the one a receipt must name) is the signed proof's, and fresh
// for every proof.
func TestSignRequestJTIIsTheProofsJTI(t *testing.T) {
	f := newProofFixture(t)
	seen := map[string]bool{}
	for range 3 {
		tok, jti, err := identity.SignRequestJTI(f.agent, f.host.DID(), testMethod, testPath, testBody, testNow)
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.verifier(newMemReplay()).Verify(context.Background(), "Airlock "+tok, testMethod, testPath, testBody)
		if err != nil {
			t.Fatal(err)
		}
		if p.Jti != jti || jti == "" || seen[jti] {
			t.Fatalf("SignRequestJTI jti %q, proof jti %q (seen before: %v)", jti, p.Jti, seen[jti])
		}
		seen[jti] = true
	}
}

// TestNewJTINeverBeginsWithDash: intent ids are jtis, and an operator types
// them after `airlock approve allow`, where a leading '-' reads as a flag
// (one id in 64 did before). 20,000 draws would hold ~300 such ids.
func TestNewJTINeverBeginsWithDash(t *testing.T) {
	seen := make(map[string]bool)
	for range 20_000 {
		id, err := identity.NewJTI()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(id, "-") {
			t.Fatalf("NewJTI returned %q", id)
		}
		if len(id) != 23 || seen[id] {
			t.Fatalf("NewJTI returned %q (length %d, repeated %v)", id, len(id), seen[id])
		}
		seen[id] = true
	}
}
