package identity

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"

	"github.com/airlock-dev/airlock/host/strictjson"
)

// b64 is the JWS base64url encoding: no padding, zero trailing bits.
var b64 = base64.RawURLEncoding.Strict()

// Sign returns a compact JWS of payload whose protected header is exactly
// {alg, typ, kid}.
func (k *Key) Sign(typ string, payload []byte) (string, error) {
	if typ == "" {
		return "", fail(ErrHeader, "empty typ")
	}
	var (
		alg string
		key any
	)
	switch k.typ {
	case KeyEd25519:
		alg, key = jwa.EdDSA().String(), k.ed
	case KeyP256:
		alg, key = jwa.ES256().String(), k.ec
	default:
		return "", fail(ErrKey, "unknown key type")
	}
	hdr, err := json.Marshal(protectedHeader{Alg: alg, Kid: k.KID(), Typ: typ})
	if err != nil {
		return "", fmt.Errorf("identity: sign: %w", err)
	}
	// The compact serialization (RFC 7515 §7.1) is built here; the
	// signature is jwx's (jwsbb, the primitive jws.Sign itself calls), over
	// the same signing input jws.Sign would build. jws.Sign's generic
	// header handling cost a third of a signature's time.
	var sb strings.Builder
	sb.Grow(b64.EncodedLen(len(hdr)) + b64.EncodedLen(len(payload)) + 2 + b64.EncodedLen(ed25519SigLen*2))
	sb.WriteString(b64.EncodeToString(hdr))
	sb.WriteByte('.')
	sb.WriteString(b64.EncodeToString(payload))
	sig, err := jwsbb.Sign(key, alg, []byte(sb.String()), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("identity: sign: %w", err)
	}
	sb.WriteByte('.')
	sb.WriteString(b64.EncodeToString(sig))
	return sb.String(), nil
}

// ed25519SigLen is an Ed25519 signature's length (an ES256 one is twice it).
const ed25519SigLen = 64

// protectedHeader is the protected header of every JWS the host signs.
type protectedHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// SignJSON marshals v with encoding/json and signs the result.
func (k *Key) SignJSON(typ string, v any) (string, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("identity: sign: %w", err)
	}
	return k.Sign(typ, payload)
}

// Verified is what [Verify] returns.
type Verified struct {
	Payload []byte
	Signer  string // DID of the signing key (from kid)
	Alg     string
}

// header is the only protected header [Verify] accepts.
type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// forbiddenHeaders are refused by name (a clearer error than "unknown").
var forbiddenHeaders = []string{"jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "crit", "b64"}

// Verify checks a compact JWS of the given typ and returns its payload and
// signer DID. The key comes only from the kid DID (did:key is
// self-certifying); the caller decides whether that DID is trusted.
//
// Verify is strict: exactly three base64url segments with a non-empty
// payload (the JSON serialization and detached payloads are refused), a
// protected header of exactly alg, typ and kid with no
// duplicate members, alg in [Algorithms] and matching the kid's key type,
// typ equal to typ, kid equal to "<did>#<method-specific id>". The signature
// itself is checked by lestrrat-go/jwx with the algorithm and key chosen
// here, never the header's.
func Verify(token, typ string) (*Verified, error) {
	hdrBytes, payload, sig, err := splitCompact(token)
	if err != nil {
		return nil, err
	}
	members, err := strictObject(hdrBytes)
	if err != nil {
		return nil, fail(ErrMalformed, "header: %v", err)
	}
	var h header
	for name, raw := range members {
		var dst *string
		switch name {
		case "alg":
			dst = &h.Alg
		case "typ":
			dst = &h.Typ
		case "kid":
			dst = &h.Kid
		default:
			if contains(forbiddenHeaders, name) {
				return nil, fail(ErrHeader, "%s header refused", short(name))
			}
			return nil, fail(ErrHeader, "unknown header %s", short(name))
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, fail(ErrMalformed, "header %s is not a string", name)
		}
	}
	if !contains(Algorithms, h.Alg) {
		return nil, fail(ErrAlgorithm, "alg %s", short(h.Alg))
	}
	if h.Typ != typ || typ == "" {
		return nil, fail(ErrHeader, "typ %s, want %q", short(h.Typ), typ)
	}
	did, _, _ := strings.Cut(h.Kid, "#")
	if h.Kid != KIDFor(did) {
		return nil, fail(ErrHeader, "kid %s is not <did>#<method-specific id>", short(h.Kid))
	}
	pub, kt, err := decodeDID(did)
	if err != nil {
		return nil, fmt.Errorf("identity: %w: kid: %w", ErrHeader, err)
	}
	if kt.alg() != h.Alg {
		return nil, fail(ErrAlgorithm, "alg %s does not match the %s key of the kid", short(h.Alg), kt)
	}
	if len(sig) == 0 {
		return nil, fail(ErrSignature, "no signature")
	}
	// The token was split and its header checked above (only alg, typ and
	// kid; alg matches the kid's key): what is left is the signature over
	// the signing input, ASCII(header segment "." payload segment), checked
	// by jwx's primitive (jwsbb, which jws.Verify calls after parsing the
	// token again, a third of a verification's time).
	input := token[:strings.LastIndexByte(token, '.')]
	if err := jwsbb.Verify(pub, h.Alg, []byte(input), sig); err != nil {
		return nil, fail(ErrSignature, "does not verify with the kid key")
	}
	return &Verified{Payload: payload, Signer: did, Alg: h.Alg}, nil
}

// ParseUnverified decodes the header and payload of a compact JWS WITHOUT
// checking anything: not the signature, not the header. For display only
// (airlock plugin inspect); never base a decision on its result.
func ParseUnverified(token string) (header map[string]any, payload []byte, err error) {
	hdrBytes, payload, _, err := splitCompact(token)
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(hdrBytes, &header); err != nil || header == nil {
		return nil, nil, fail(ErrMalformed, "header is not a JSON object")
	}
	return header, payload, nil
}

// splitCompact splits a compact JWS into its three decoded segments. Every
// byte must be in the base64url alphabet or a dot, so padding, whitespace
// and the JSON serialization are refused before any decoding.
func splitCompact(token string) (hdr, payload, sig []byte, err error) {
	if len(token) > MaxTokenBytes {
		return nil, nil, nil, fail(ErrMalformed, "token larger than %d bytes", MaxTokenBytes)
	}
	if strings.HasPrefix(strings.TrimSpace(token), "{") {
		return nil, nil, nil, fail(ErrMalformed, "JSON serialization refused")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, nil, fail(ErrMalformed, "want 3 segments, got %d", len(parts))
	}
	if parts[0] == "" {
		return nil, nil, nil, fail(ErrMalformed, "empty header")
	}
	if parts[1] == "" {
		return nil, nil, nil, fail(ErrMalformed, "detached or empty payload refused")
	}
	out := make([][]byte, 3)
	for i, p := range parts {
		if out[i], err = decodeB64(p); err != nil {
			return nil, nil, nil, fail(ErrMalformed, "segment %d is not base64url", i+1)
		}
	}
	return out[0], out[1], out[2], nil
}

// strictObject decodes a JSON object into its members, refusing duplicate
// members (a parser differential waiting to happen), anything but an object
// and trailing data: see [strictjson.Members]. The values are sub-slices of
// data.
func strictObject(data []byte) (map[string]json.RawMessage, error) {
	list, err := strictjson.Members(data)
	if err != nil {
		return nil, err
	}
	members := make(map[string]json.RawMessage, len(list))
	for _, m := range list {
		members[m.Name] = m.Value
	}
	return members, nil
}

// decodeClaims decodes a JSON object into v after checking that its members
// are exactly required: no duplicates, none missing, none unknown. Because
// the names are checked exactly first, encoding/json's case-insensitive
// field matching cannot be abused. v must point to a struct whose JSON
// fields are exactly required, with scalar types (as [Proof] and [Receipt]):
// then no member can be unknown to encoding/json either.
func decodeClaims(data []byte, required []string, v any) error {
	members, err := strictjson.Members(data)
	if err != nil {
		return fail(ErrMalformed, "claims: %v", err)
	}
	for _, m := range members {
		if !contains(required, m.Name) {
			return fail(ErrClaims, "unknown claim %s", short(m.Name))
		}
	}
	// The names are distinct and all required: as many as required means
	// none is missing.
	if len(members) != len(required) {
		for _, name := range required {
			if !slices.ContainsFunc(members, func(m strictjson.Member) bool { return m.Name == name }) {
				return fail(ErrClaims, "missing claim %q", name)
			}
		}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fail(ErrClaims, "claims: %v", err)
	}
	return nil
}
