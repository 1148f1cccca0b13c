package identity_test

import (
	"errors"
	"testing"

	"github.com/airlock-dev/airlock/host/identity"
)

func TestReceipt(t *testing.T) {
	host := mustKey(t, identity.KeyEd25519)
	impostor := mustKey(t, identity.KeyEd25519)
	agent := mustKey(t, identity.KeyP256)
	body := []byte(`{"id":"i-1","output":{"ok":true},"flags":[]}`)
	const jti = "AAECAwQFBgcICQoLDA0ODw"
	r := identity.Receipt{Aud: agent.DID(), Iat: testNow.Unix(), Req: jti, Status: 200, Bh: identity.BodyHash(body), Seq: 41}

	good, err := identity.SignReceipt(host, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := identity.VerifyReceipt(good, host.DID(), jti, 200, body)
	if err != nil {
		t.Fatal(err)
	}
	want := r
	want.Iss = host.DID()
	if *got != want {
		t.Fatalf("receipt %+v, want %+v", *got, want)
	}

	byImpostor, err := identity.SignReceipt(impostor, r)
	if err != nil {
		t.Fatal(err)
	}
	claimsHost, err := impostor.SignJSON(identity.TypReceipt, identity.Receipt{Iss: host.DID(), Aud: agent.DID(), Iat: 1, Req: jti, Status: 200, Bh: identity.BodyHash(body), Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	proof, err := identity.SignRequest(host, agent.DID(), "POST", "/v1/intents", body, testNow)
	if err != nil {
		t.Fatal(err)
	}
	extraClaim, err := host.SignJSON(identity.TypReceipt, map[string]any{
		"iss": host.DID(), "aud": agent.DID(), "iat": 1, "req": jti, "status": 200, "bh": identity.BodyHash(body), "seq": 1, "note": "x",
	})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		token  string
		jti    string
		status int
		body   []byte
		want   error
	}{
		{"status changed (500 reported as 200)", good, jti, 500, body, identity.ErrClaims},
		{"body changed in transit", good, jti, 200, []byte(`{"id":"i-1","output":{"ok":false},"flags":[]}`), identity.ErrClaims},
		{"receipt replayed for another request", good, "BBECAwQFBgcICQoLDA0ODw", 200, body, identity.ErrClaims},
		{"signed by another host", byImpostor, jti, 200, body, identity.ErrSignature},
		{"another key claiming to be the host", claimsHost, jti, 200, body, identity.ErrSignature},
		{"request proof presented as receipt", proof, jti, 200, body, identity.ErrHeader},
		{"unknown claim", extraClaim, jti, 200, body, identity.ErrClaims},
		{"signature tampered", flipLastSigByte(good), jti, 200, body, identity.ErrSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := identity.VerifyReceipt(tc.token, host.DID(), tc.jti, tc.status, tc.body); !errors.Is(err, tc.want) {
				t.Fatalf("VerifyReceipt = %+v, %v; want %v", got, err, tc.want)
			}
		})
	}

	t.Run("host refuses to sign a receipt naming another issuer", func(t *testing.T) {
		bad := r
		bad.Iss = impostor.DID()
		if _, err := identity.SignReceipt(host, bad); !errors.Is(err, identity.ErrClaims) {
			t.Fatalf("SignReceipt = %v, want ErrClaims", err)
		}
	})
}
