package identity_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/host/identity"
)

func TestSignHeaderIsExactlyAlgTypKid(t *testing.T) {
	for _, tc := range []struct {
		kt  identity.KeyType
		alg string
	}{{identity.KeyEd25519, identity.AlgEdDSA}, {identity.KeyP256, identity.AlgES256}} {
		t.Run(tc.kt.String(), func(t *testing.T) {
			k := mustKey(t, tc.kt)
			tok, err := k.Sign(identity.TypManifest, []byte(`{"name":"web"}`))
			if err != nil {
				t.Fatal(err)
			}
			hdr, payload, err := identity.ParseUnverified(tok)
			if err != nil {
				t.Fatal(err)
			}
			names := make([]string, 0, len(hdr))
			for n := range hdr {
				names = append(names, n)
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"alg", "kid", "typ"}) {
				t.Fatalf("header members %v, want exactly alg, kid, typ", names)
			}
			if hdr["alg"] != tc.alg || hdr["typ"] != identity.TypManifest || hdr["kid"] != k.KID() {
				t.Fatalf("header %v", hdr)
			}
			if string(payload) != `{"name":"web"}` {
				t.Fatalf("payload %q", payload)
			}
			v, err := identity.Verify(tok, identity.TypManifest)
			if err != nil {
				t.Fatal(err)
			}
			if v.Signer != k.DID() || v.Alg != tc.alg || string(v.Payload) != `{"name":"web"}` {
				t.Fatalf("Verified %+v", v)
			}
		})
	}
}

func TestVerifyRefusesTypeConfusion(t *testing.T) {
	k := mustKey(t, identity.KeyEd25519)
	tests := []struct {
		name      string
		signedAs  string
		checkedAs string
	}{
		{"manifest presented as grant", identity.TypManifest, identity.TypGrant},
		{"receipt presented as request proof", identity.TypReceipt, identity.TypRequest},
		{"handshake presented as policy", identity.TypHandshake, identity.TypPolicy},
		{"typ in other case", "AIRLOCK-GRANT+JWT", identity.TypGrant},
		{"empty expected typ", identity.TypGrant, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := k.Sign(tc.signedAs, []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := identity.Verify(tok, tc.checkedAs); !errors.Is(err, identity.ErrHeader) {
				t.Fatalf("Verify = %v, want ErrHeader", err)
			}
		})
	}
}

func TestVerifyRefusesMalformedTokens(t *testing.T) {
	k := mustKey(t, identity.KeyEd25519)
	good, err := k.Sign(identity.TypGrant, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"two segments", parts[0] + "." + parts[1]},
		{"four segments", good + "." + parts[2]},
		{"detached payload", parts[0] + ".." + parts[2]},
		{"empty header segment", "." + parts[1] + "." + parts[2]},
		{"standard base64 alphabet", parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+/"},
		{"header is not JSON", b64.EncodeToString([]byte("alg=EdDSA")) + "." + parts[1] + "." + parts[2]},
		{"header is a JSON array", b64.EncodeToString([]byte(`["EdDSA"]`)) + "." + parts[1] + "." + parts[2]},
		{"trailing data after header object", b64.EncodeToString([]byte(`{"alg":"EdDSA","typ":"airlock-grant+jwt","kid":"`+k.KID()+`"}{}`)) + "." + parts[1] + "." + parts[2]},
		{"alg is a number", b64.EncodeToString([]byte(`{"alg":1,"typ":"airlock-grant+jwt","kid":"`+k.KID()+`"}`)) + "." + parts[1] + "." + parts[2]},
		{"leading whitespace JSON serialization", "  {\"payload\":\"e30\"}"},
		{"oversized token", strings.Repeat("A", identity.MaxTokenBytes+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := identity.Verify(tc.token, identity.TypGrant); !errors.Is(err, identity.ErrMalformed) {
				t.Fatalf("Verify = %+v, %v; want ErrMalformed", v, err)
			}
		})
	}
}

func TestParseUnverifiedDoesNotCheck(t *testing.T) {
	// alg none with a jwk header: ParseUnverified shows it, Verify refuses it.
	tok := forge([]byte(`{"alg":"none","jwk":{}}`), []byte(`{"x":1}`), nil)
	hdr, payload, err := identity.ParseUnverified(tok)
	if err != nil || hdr["alg"] != "none" || string(payload) != `{"x":1}` {
		t.Fatalf("ParseUnverified = %v, %q, %v", hdr, payload, err)
	}
	if _, err := identity.Verify(tok, identity.TypGrant); err == nil {
		t.Fatal("Verify accepted an alg none token")
	}
	if _, _, err := identity.ParseUnverified("not a token"); !errors.Is(err, identity.ErrMalformed) {
		t.Fatalf("ParseUnverified(garbage) = %v", err)
	}
}
