package identity

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"strings"

	"github.com/mr-tron/base58"
)

// didKeyPrefix is the did:key method prefix followed by the multibase
// base58btc marker 'z'.
const (
	didKeyMethod = "did:key:"
	didKeyPrefix = didKeyMethod + "z"
	// maxDIDLength bounds the input before base58 decoding (quadratic).
	maxDIDLength = 128
)

// Multicodec varint prefixes of the supported public keys.
var (
	codecEd25519 = []byte{0xed, 0x01} // ed25519-pub 0xed
	codecP256    = []byte{0x80, 0x24} // p256-pub 0x1200
)

const (
	p256CompressedLen   = 33
	p256UncompressedLen = 65
)

// EncodeDID returns the did:key DID of an ed25519.PublicKey or a P-256
// *ecdsa.PublicKey.
func EncodeDID(pub crypto.PublicKey) (string, error) {
	var raw []byte
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return "", fail(ErrDID, "ed25519 public key of %d bytes", len(p))
		}
		raw = append(append(raw, codecEd25519...), p...)
	case *ecdsa.PublicKey:
		c, err := compressP256(p)
		if err != nil {
			return "", err
		}
		raw = append(append(raw, codecP256...), c...)
	default:
		return "", fail(ErrDID, "unsupported public key type %T", pub)
	}
	return didKeyPrefix + base58.Encode(raw), nil
}

// DecodeDID returns the public key named by a did:key DID: an
// ed25519.PublicKey or a P-256 *ecdsa.PublicKey. It is strict: exactly
// "did:key:z" and canonical base58btc, a known codec, the right length and,
// for P-256, a compressed point on the curve.
func DecodeDID(did string) (crypto.PublicKey, error) {
	pub, _, err := decodeDID(did)
	return pub, err
}

// KIDFor returns the JWS kid of a did:key DID: "<did>#<method-specific id>".
func KIDFor(did string) string {
	return did + "#" + strings.TrimPrefix(did, didKeyMethod)
}

func decodeDID(did string) (crypto.PublicKey, KeyType, error) {
	if len(did) > maxDIDLength {
		return nil, 0, fail(ErrDID, "too long")
	}
	enc, ok := strings.CutPrefix(did, didKeyPrefix)
	if !ok || enc == "" {
		return nil, 0, fail(ErrDID, "not did:key:z...: %s", short(did))
	}
	raw, err := base58.Decode(enc)
	if err != nil {
		return nil, 0, fail(ErrDID, "not base58btc")
	}
	// base58 has no canonical-form check of its own (leading '1's are zero
	// bytes); re-encoding makes one DID per key.
	if base58.Encode(raw) != enc {
		return nil, 0, fail(ErrDID, "non-canonical base58btc")
	}
	switch {
	case bytes.HasPrefix(raw, codecEd25519):
		key := raw[len(codecEd25519):]
		if len(key) != ed25519.PublicKeySize {
			return nil, 0, fail(ErrDID, "ed25519 key of %d bytes", len(key))
		}
		return ed25519.PublicKey(bytes.Clone(key)), KeyEd25519, nil
	case bytes.HasPrefix(raw, codecP256):
		pub, err := decompressP256(raw[len(codecP256):])
		if err != nil {
			return nil, 0, err
		}
		return pub, KeyP256, nil
	default:
		return nil, 0, fail(ErrDID, "unsupported multicodec")
	}
}

// compressP256 returns the SEC 1 compressed form of a P-256 public key.
func compressP256(pub *ecdsa.PublicKey) ([]byte, error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return nil, fail(ErrDID, "not a P-256 public key")
	}
	u, err := pub.Bytes() // 0x04 || X || Y, validated by crypto/ecdsa
	if err != nil || len(u) != p256UncompressedLen {
		return nil, fail(ErrDID, "invalid P-256 public key")
	}
	out := make([]byte, p256CompressedLen)
	out[0] = 0x02 | (u[len(u)-1] & 1)
	copy(out[1:], u[1:33])
	return out, nil
}

// decompressP256 parses a SEC 1 compressed P-256 point; crypto/elliptic
// refuses points that are not on the curve.
func decompressP256(c []byte) (*ecdsa.PublicKey, error) {
	if len(c) != p256CompressedLen || (c[0] != 0x02 && c[0] != 0x03) {
		return nil, fail(ErrDID, "P-256 key is not a 33-byte compressed point")
	}
	x, y := elliptic.UnmarshalCompressed(elliptic.P256(), c)
	if x == nil {
		return nil, fail(ErrDID, "P-256 point not on the curve")
	}
	u := make([]byte, p256UncompressedLen)
	u[0] = 0x04
	x.FillBytes(u[1:33])
	y.FillBytes(u[33:])
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), u)
	if err != nil {
		return nil, fail(ErrDID, "invalid P-256 point")
	}
	return pub, nil
}
