package identity

import (
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// TestSignInteroperatesWithJWS checks that the compact JWS built by
// Key.Sign is what jwx's full jws.Verify accepts, with the protected header
// {alg, kid, typ}, and that a token jws.Sign built verifies with Verify:
// building the serialization here changed no byte a JWS reader relies on.
func TestSignInteroperatesWithJWS(t *testing.T) {
	for _, kt := range []KeyType{KeyEd25519, KeyP256} {
		t.Run(kt.String(), func(t *testing.T) {
			k, err := GenerateKey(kt)
			if err != nil {
				t.Fatal(err)
			}
			alg := jwa.EdDSA()
			if kt == KeyP256 {
				alg = jwa.ES256()
			}
			payload := []byte(`{"hello":"world"}`)
			tok, err := k.Sign(TypRequest, payload)
			if err != nil {
				t.Fatal(err)
			}
			got, err := jws.Verify([]byte(tok), jws.WithKey(alg, k.Public()), jws.WithCompact())
			if err != nil || string(got) != string(payload) {
				t.Fatalf("jws.Verify = %q, %v", got, err)
			}
			msg, err := jws.Parse([]byte(tok))
			if err != nil {
				t.Fatal(err)
			}
			h := msg.Signatures()[0].ProtectedHeaders()
			if a, _ := h.Algorithm(); a.String() != alg.String() {
				t.Errorf("alg %v, want %v", a, alg)
			}
			if kid, _ := h.KeyID(); kid != k.KID() {
				t.Errorf("kid %q, want %q", kid, k.KID())
			}
			if typ, _ := h.Type(); typ != TypRequest {
				t.Errorf("typ %q, want %q", typ, TypRequest)
			}

			hdr := jws.NewHeaders()
			if err := hdr.Set(jws.TypeKey, TypReceipt); err != nil {
				t.Fatal(err)
			}
			if err := hdr.Set(jws.KeyIDKey, k.KID()); err != nil {
				t.Fatal(err)
			}
			var signer any
			if ed, ok := k.Ed25519(); ok {
				signer = ed
			} else {
				signer = k.ec
			}
			theirs, err := jws.Sign(payload, jws.WithKey(alg, signer, jws.WithProtectedHeaders(hdr)), jws.WithCompact())
			if err != nil {
				t.Fatal(err)
			}
			v, err := Verify(string(theirs), TypReceipt)
			if err != nil || string(v.Payload) != string(payload) || v.Signer != k.DID() {
				t.Fatalf("Verify(jws.Sign token) = %+v, %v", v, err)
			}
			// One bit of the signature flipped: refused.
			raw := []byte(theirs)
			last := len(raw) - 2
			raw[last] ^= 0x01
			if _, err := Verify(string(raw), TypReceipt); err == nil {
				t.Error("a token with a changed signature verifies")
			}
		})
	}
}
