// Package identity holds Airlock's keys and the tokens they sign: did:key
// names, strict compact JWS signing and verification, request proofs
// (DESIGN §2) and response receipts (DESIGN §9).
//
// Every actor (host, operator, agent, publisher) is named by a did:key DID.
// A token names its signer with kid = "<did>#<method-specific id>"; the
// public key is decoded from that DID and from nowhere else, so a verified
// token proves which DID signed it. Whether that DID is trusted for anything
// is the caller's decision.
//
// # Security
//
// [Verify] is the one place where a JWS is accepted. It refuses the JSON
// serialization, any header other than alg, typ and kid (jwk, jku, x5u, x5c,
// x5t, crit and b64 included), duplicate JSON keys, non-canonical base64, an
// alg outside [Algorithms] and an alg that does not match the key type of the
// kid DID: "none", HS256 keyed with a public key and ES256 on an Ed25519 key
// all fail before any signature is computed. [ParseUnverified] is the only
// way to read a token without these checks and says so in its name.
//
// A [Key] holds private material. It cannot be compared with ==, and
// String, Format and LogValue print only its DID, so a key passed to a
// logger or fmt by mistake leaks nothing. Key files are written atomically
// with mode 0600 and refused when group or others may read them.
//
// [RequestVerifier] binds a proof to the host (aud), the method, the path
// and query and the body hash, bounds its lifetime to [MaxProofLifetime]
// with [MaxClockSkew] of tolerance, and consults the replay store last, so
// that only otherwise valid proofs consume a jti.
package identity

import (
	"errors"
	"fmt"
	"time"
)

// Algorithms accepted for signing and verification, whatever a header says.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
)

// Token types (the JWS "typ" header) of DESIGN §2 and §9.
const (
	TypRequest   = "airlock-req+jwt"
	TypGrant     = "airlock-grant+jwt"
	TypManifest  = "airlock-manifest+jwt"
	TypReceipt   = "airlock-receipt+jwt"
	TypPolicy    = "airlock-policy+jwt"
	TypHandshake = "airlock-handshake+jwt"
)

// Time bounds of request proofs.
const (
	// MaxProofLifetime is the longest exp-iat a request proof may carry.
	MaxProofLifetime = 120 * time.Second
	// MaxClockSkew is the tolerance between the signer's clock and ours.
	MaxClockSkew = 30 * time.Second
)

// MaxTokenBytes bounds the size of a token [Verify] will look at. It leaves
// room for a plugin manifest with large schemas.
const MaxTokenBytes = 8 << 20

// Algorithms lists the accepted JWS algorithms.
var Algorithms = []string{AlgEdDSA, AlgES256}

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (a replay store failure is returned wrapped as-is instead), so callers
// map errors with errors.Is.
var (
	// ErrMalformed: not a compact JWS, bad base64, bad or duplicate-key JSON.
	ErrMalformed = errors.New("malformed token")
	// ErrAlgorithm: alg outside the allowlist or not matching the key type.
	ErrAlgorithm = errors.New("algorithm not allowed")
	// ErrHeader: forbidden, unknown or inconsistent header (jwk, jku, x5u,
	// x5c, crit, b64, wrong kid or typ).
	ErrHeader = errors.New("header refused")
	// ErrSignature: the signature does not verify, or the signer is not the
	// expected one.
	ErrSignature = errors.New("signature invalid")
	// ErrClaims: missing, unknown or invalid claims (times, aud, htm/htu/bh
	// binding, iss not the signer).
	ErrClaims = errors.New("claims invalid")
	// ErrReplay: the jti was used before.
	ErrReplay = errors.New("replayed token")
	// ErrDID: not a did:key DID this package understands.
	ErrDID = errors.New("invalid did:key")
	// ErrKey: a private key (file) that cannot be used.
	ErrKey = errors.New("invalid key")
	// ErrKeyFilePermissions: a key file readable by group or others.
	ErrKeyFilePermissions = errors.New("key file readable by group or others")
)

// fail wraps a sentinel with the package prefix and a short detail.
func fail(sentinel error, format string, args ...any) error {
	return fmt.Errorf("identity: %w: %s", sentinel, fmt.Sprintf(format, args...))
}

// short quotes attacker-controlled text for an error message, bounded so
// that a hostile token cannot flood logs.
func short(s string) string {
	const limit = 64
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return fmt.Sprintf("%q", s)
}
