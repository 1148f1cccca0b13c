package identity_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/identity"
)

var sentinels = []error{identity.ErrMalformed, identity.ErrAlgorithm, identity.ErrHeader, identity.ErrSignature, identity.ErrClaims, identity.ErrReplay}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// signedByKid checks, with the standard library alone and independently of
// the code under test's use of jwx, that token's signature was made by the
// key its kid names.
func signedByKid(t *testing.T, token string) bool {
	t.Helper()
	hdr, _, err := identity.ParseUnverified(token)
	if err != nil {
		return false
	}
	kid, _ := hdr["kid"].(string)
	did, _, _ := strings.Cut(kid, "#")
	pub, err := identity.DecodeDID(did)
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(token, '.')
	sig, err := b64.DecodeString(token[i+1:])
	if err != nil {
		return false
	}
	in := []byte(token[:i])
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(p, in, sig)
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			return false
		}
		h := sha256.Sum256(in)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(p, h[:], r, s)
	}
	return false
}

func FuzzVerify(f *testing.F) {
	for _, kt := range keyTypes {
		k := mustKey(f, kt)
		tok, err := k.Sign(identity.TypGrant, []byte(`{"sub":"x"}`))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
		f.Add(flipLastSigByte(tok))
		f.Add(tok[:len(tok)-2])
	}
	f.Add(forge([]byte(`{"alg":"none","typ":"airlock-grant+jwt"}`), []byte(`{}`), nil))
	f.Add("e30.e30.e30")
	f.Add(`{"payload":"e30","signatures":[]}`)
	f.Fuzz(func(t *testing.T, token string) {
		v, err := identity.Verify(token, identity.TypGrant)
		if err != nil {
			if v != nil {
				t.Fatal("error with a result")
			}
			if !isSentinel(err) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if !signedByKid(t, token) {
			t.Fatalf("accepted a token not signed by its kid key: %q", token)
		}
		hdr, payload, err := identity.ParseUnverified(token)
		if err != nil {
			t.Fatal(err)
		}
		if identity.KIDFor(v.Signer) != hdr["kid"] || string(v.Payload) != string(payload) || v.Alg != hdr["alg"] {
			t.Fatalf("result %+v does not describe the token", v)
		}
	})
}

func FuzzDecodeDID(f *testing.F) {
	for _, v := range ed25519Vectors {
		f.Add(v.did)
	}
	for _, v := range p256Vectors {
		f.Add(v.did)
	}
	f.Add("did:key:z")
	f.Add("did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW")
	f.Fuzz(func(t *testing.T, did string) {
		pub, err := identity.DecodeDID(did)
		if err != nil {
			if !errors.Is(err, identity.ErrDID) {
				t.Fatalf("error is not ErrDID: %v", err)
			}
			return
		}
		// One DID per key: whatever decodes re-encodes to the same string.
		again, err := identity.EncodeDID(pub)
		if err != nil || again != did {
			t.Fatalf("DecodeDID(%q) re-encodes as %q, %v", did, again, err)
		}
	})
}

func FuzzRequestVerify(f *testing.F) {
	host := mustKey(f, identity.KeyEd25519)
	now := time.Unix(1_700_000_000, 0)
	for _, kt := range keyTypes {
		k := mustKey(f, kt)
		tok, err := identity.SignRequest(k, host.DID(), "POST", "/v1/intents?a=b", []byte(`{"x":1}`), now)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("Airlock "+tok, "POST", "/v1/intents?a=b", []byte(`{"x":1}`))
		f.Add("Airlock "+tok, "GET", "/v1/intents?a=b", []byte(`{"x":1}`))
	}
	f.Add("Airlock e30.e30.", "GET", "/", []byte(nil))
	f.Fuzz(func(t *testing.T, auth, method, path string, body []byte) {
		v := &identity.RequestVerifier{HostDID: host.DID(), Replay: newMemReplay(), Now: func() time.Time { return now }}
		p, err := v.Verify(context.Background(), auth, method, path, body)
		if err != nil {
			if p != nil || !isSentinel(err) {
				t.Fatalf("Verify = %+v, %v", p, err)
			}
			return
		}
		if p.Htm != method || p.Htu != path || p.Bh != identity.BodyHash(body) || p.Aud != host.DID() {
			t.Fatalf("accepted proof %+v for %s %s", p, method, path)
		}
		tok := strings.TrimPrefix(auth, "Airlock ")
		if !signedByKid(t, tok) {
			t.Fatal("accepted a proof not signed by its kid key")
		}
		if ver, err := identity.Verify(tok, identity.TypRequest); err != nil || ver.Signer != p.Iss {
			t.Fatalf("iss %q is not the signer (%v)", p.Iss, err)
		}
		// The same proof is never accepted twice.
		if _, err := v.Verify(context.Background(), auth, method, path, body); !errors.Is(err, identity.ErrReplay) {
			t.Fatalf("second use = %v, want ErrReplay", err)
		}
	})
}
