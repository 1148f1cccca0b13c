package identity_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/mr-tron/base58"

	"github.com/airlock-dev/airlock/host/identity"
)

// Test vectors of the W3C CCG did:key method
// (github.com/w3c-ccg/did-method-key, test-vectors/ed25519-x25519.json and
// test-vectors/nist-curves.json).
var ed25519Vectors = []struct {
	seed, publicKeyBase58, did string
}{
	{"0000000000000000000000000000000000000000000000000000000000000000", "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS", "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"},
	{"0000000000000000000000000000000000000000000000000000000000000001", "6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt", "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"},
	{"0000000000000000000000000000000000000000000000000000000000000002", "8pM1DN3RiT8vbom5u1sNryaNT1nyL8CTTW3b5PwWXRBH", "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf"},
	{"0000000000000000000000000000000000000000000000000000000000000003", "HPYVwAQmskwT1qEEeRzhoomyfyupJGASQQtCXSNG8XS2", "did:key:z6MkvqoYXQfDDJRv8L4wKzxYeuKyVZBfi9Qo6Ro8MiLH3kDQ"},
	{"0000000000000000000000000000000000000000000000000000000000000004", "J3qYF7YJMKCqQke47UQwiHizgFUXapHxRxKmxbkar89x", "did:key:z6MkwW6aqMnjgrhJXFUko3NnZPGzVpkNzhYK7yEhnsibmLwL"},
}

var p256Vectors = []struct {
	did, x, y, d string
}{
	{"did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv", "igrFmi0whuihKnj9R3Om1SoMph72wUGeFaBbzG2vzns", "efsX5b10x8yjyrj4ny3pGfLcY7Xby1KzgqOdqnsrJIM", "gPh-VvVS8MbvKQ9LSVVmfnxnKjHn4Tqj0bmbpehRlpc"},
	{"did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169", "fyNYMN0976ci7xqiSdag3buk-ZCwgXU4kz9XNkBlNUI", "hW2ojTNfH7Jbi8--CJUo3OCbH3y5n91g-IMA9MLMbTU", "YjRs6vNvw4sYrzVVY8ipkEpDAD9PFqw1sUnvPRMA-WI"},
}

func TestDIDKeyEd25519Vectors(t *testing.T) {
	for _, v := range ed25519Vectors {
		t.Run(v.did, func(t *testing.T) {
			seed, _ := hex.DecodeString(v.seed)
			want, err := base58.Decode(v.publicKeyBase58)
			if err != nil {
				t.Fatal(err)
			}
			pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
			if !bytes.Equal(pub, want) {
				t.Fatalf("seed gives public key %x, vector says %x", pub, want)
			}
			did, err := identity.EncodeDID(pub)
			if err != nil || did != v.did {
				t.Fatalf("EncodeDID = %q, %v; want %q", did, err, v.did)
			}
			got, err := identity.DecodeDID(v.did)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.(ed25519.PublicKey), want) {
				t.Fatalf("DecodeDID = %x, want %x", got, want)
			}
		})
	}
}

func TestDIDKeyP256Vectors(t *testing.T) {
	for _, v := range p256Vectors {
		t.Run(v.did, func(t *testing.T) {
			x, _ := b64.DecodeString(v.x)
			y, _ := b64.DecodeString(v.y)
			got, err := identity.DecodeDID(v.did)
			if err != nil {
				t.Fatal(err)
			}
			u, err := got.(*ecdsa.PublicKey).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(u[1:33], x) || !bytes.Equal(u[33:], y) {
				t.Fatalf("DecodeDID point %x, want x=%x y=%x", u, x, y)
			}
			did, err := identity.EncodeDID(got)
			if err != nil || did != v.did {
				t.Fatalf("EncodeDID = %q, %v; want %q", did, err, v.did)
			}
			// The vector's private JWK loads as a key with that DID.
			jwk := `{"kty":"EC","crv":"P-256","x":"` + v.x + `","y":"` + v.y + `","d":"` + v.d + `"}`
			k, err := identity.ParsePrivate([]byte(jwk))
			if err != nil {
				t.Fatal(err)
			}
			if k.DID() != v.did || k.Type() != identity.KeyP256 {
				t.Fatalf("ParsePrivate DID = %q (%v), want %q", k.DID(), k.Type(), v.did)
			}
		})
	}
}

func TestDIDKeyRoundTripGenerated(t *testing.T) {
	for _, kt := range []identity.KeyType{identity.KeyEd25519, identity.KeyP256} {
		k := mustKey(t, kt)
		pub, err := identity.DecodeDID(k.DID())
		if err != nil {
			t.Fatal(err)
		}
		type equaler interface{ Equal(crypto.PublicKey) bool }
		if !pub.(equaler).Equal(k.Public()) {
			t.Fatalf("%v: decoded key differs", kt)
		}
		if want := k.DID() + "#" + k.DID()[len("did:key:"):]; k.KID() != want || identity.KIDFor(k.DID()) != want {
			t.Fatalf("KID = %q, want %q", k.KID(), want)
		}
	}
}

func didFrom(raw ...[]byte) string {
	return "did:key:z" + base58.Encode(bytes.Join(raw, nil))
}

func TestDecodeDIDRefusesMalformed(t *testing.T) {
	fromHex := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	ed := []byte{0xed, 0x01}
	p256 := []byte{0x80, 0x24}
	valid := ed25519Vectors[0].did
	tests := []struct {
		name string
		did  string
	}{
		{"empty", ""},
		{"did:web instead of did:key", "did:web:example.org"},
		{"upper-case method", "DID:KEY:" + valid[len("did:key:"):]},
		{"no multibase prefix", "did:key:" + valid[len("did:key:z"):]},
		{"base64url multibase instead of base58btc", "did:key:u7QE" + b64.EncodeToString(make([]byte, 32))},
		{"nothing after z", "did:key:z"},
		{"not base58 (0, O, I, l)", "did:key:z6Mk0OIl"},
		{"fragment inside the DID", valid + "#" + valid[len("did:key:"):]},
		{"leading space", " " + valid},
		{"secp256k1 codec", didFrom([]byte{0xe7, 0x01}, fromHex("02"+"79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"))},
		{"x25519 key-agreement key", "did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW"},
		{"P-384 key", "did:key:z82Lm1MpAkeJcix9K8TMiLd5NMAhnwkjjCBeWHXyu3U4oT2MVJJKXkcVBgjGhnLBn2Kaau9"},
		{"ed25519 key of 31 bytes", didFrom(ed, make([]byte, 31))},
		{"ed25519 key of 33 bytes", didFrom(ed, make([]byte, 33))},
		{"leading zero byte before the codec", didFrom([]byte{0}, ed, make([]byte, 32))},
		{"P-256 uncompressed point", didFrom(p256, []byte{4}, make([]byte, 64))},
		{"P-256 point of 32 bytes", didFrom(p256, make([]byte, 32))},
		{"P-256 bad compression tag", didFrom(p256, []byte{0x05}, make([]byte, 32))},
		{"P-256 off-curve point (x=1)", didFrom(p256, fromHex("02"+"0000000000000000000000000000000000000000000000000000000000000001"))},
		{"P-256 x not reduced (x=p)", didFrom(p256, fromHex("02"+"ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"))},
		{"overlong input", "did:key:z" + string(bytes.Repeat([]byte("2"), 4096))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if pub, err := identity.DecodeDID(tc.did); !errors.Is(err, identity.ErrDID) {
				t.Fatalf("DecodeDID(%q) = %v, %v; want ErrDID", tc.did, pub, err)
			}
		})
	}
}

func TestEncodeDIDRefusesUnsupportedKeys(t *testing.T) {
	tests := []struct {
		name string
		pub  any
	}{
		{"short ed25519 key", ed25519.PublicKey(make([]byte, 31))},
		{"nil ecdsa key", (*ecdsa.PublicKey)(nil)},
		{"private key instead of public", ed25519.NewKeyFromSeed(make([]byte, 32))},
		{"string", "did:key:z6Mk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := identity.EncodeDID(tc.pub); !errors.Is(err, identity.ErrDID) {
				t.Fatalf("EncodeDID = %v, want ErrDID", err)
			}
		})
	}
}
