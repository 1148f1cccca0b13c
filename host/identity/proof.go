package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"
)

// proofLifetime is the exp-iat that SignRequest uses.
const proofLifetime = 60 * time.Second

// jti bounds: at least 128 random bits (DESIGN §2); an upper bound keeps
// the replay store's keys small. NewJTI draws one byte more than the
// minimum (see there).
const (
	jtiBytes    = 16
	newJTIBytes = jtiBytes + 1
	maxJTIBytes = 64
)

// maxUnix bounds iat and exp (year 9999) so that time arithmetic on
// attacker-chosen values cannot overflow.
const maxUnix = 253402300799

// AuthScheme is the Authorization scheme of request proofs.
const AuthScheme = "Airlock"

// Proof is the claims set of a request proof (DESIGN §2).
type Proof struct {
	Iss string `json:"iss"`
	Aud string `json:"aud"`
	Jti string `json:"jti"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
	Htm string `json:"htm"`
	Htu string `json:"htu"`
	Bh  string `json:"bh"`
}

var proofClaims = []string{"iss", "aud", "jti", "iat", "exp", "htm", "htu", "bh"}

// BodyHash returns the base64url (unpadded) SHA-256 of body; an empty body
// has a hash too.
func BodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return b64.EncodeToString(sum[:])
}

// NewJTI returns 17 random bytes, base64url without padding (23
// characters). The host also names intents with it, and operators pass
// those names to `airlock approve allow ID`, so the value never begins
// with '-' (which a command line reads as a flag): a draw whose first six
// bits encode '-' is drawn again. That costs 0.02 bits of the 136, which
// is why a byte more than the 128 bits DESIGN §2 asks for is drawn.
func NewJTI() (string, error) {
	var b [newJTIBytes]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("identity: jti: %w", err)
		}
		if b[0]>>2 != 62 { // 62 is '-' in the base64url alphabet
			return b64.EncodeToString(b[:]), nil
		}
	}
}

// SignRequest returns a request proof for one HTTP request, to be sent as
// "Authorization: Airlock <proof>": jti from [NewJTI], iat now, exp now+60s.
// pathAndQuery is the request target as the host sees it (for example
// "/v1/intents?x=1").
func SignRequest(k *Key, hostDID, method, pathAndQuery string, body []byte, now time.Time) (string, error) {
	proof, _, err := SignRequestJTI(k, hostDID, method, pathAndQuery, body, now)
	return proof, err
}

// SignRequestJTI is SignRequest that also returns the proof's jti, which
// the receipt of the answer names (VerifyReceipt).
func SignRequestJTI(k *Key, hostDID, method, pathAndQuery string, body []byte, now time.Time) (proof, jti string, err error) {
	if jti, err = NewJTI(); err != nil {
		return "", "", err
	}
	proof, err = k.SignJSON(TypRequest, Proof{
		Iss: k.DID(),
		Aud: hostDID,
		Jti: jti,
		Iat: now.Unix(),
		Exp: now.Add(proofLifetime).Unix(),
		Htm: method,
		Htu: pathAndQuery,
		Bh:  BodyHash(body),
	})
	if err != nil {
		return "", "", err
	}
	return proof, jti, nil
}

// ReplayStore records jti values. Use returns fresh=false if jti was already
// used before its expiry, and records it until exp otherwise. It must be
// atomic (two concurrent Use calls with one jti: one fresh at most) and, per
// DESIGN §2, durable across restarts and shared across nodes.
type ReplayStore interface {
	Use(ctx context.Context, jti string, exp time.Time) (fresh bool, err error)
}

// RequestVerifier checks request proofs for one host.
type RequestVerifier struct {
	HostDID string
	Replay  ReplayStore
	Now     func() time.Time // nil → time.Now
}

// Verify checks an Authorization header value "Airlock <jws>" against the
// request it came with and returns the proof. The scheme is case-sensitive
// and followed by exactly one space. The token must verify with [Verify] as
// [TypRequest], carry exactly the eight claims of [Proof], with iss the
// signer, aud the host, a jti of at least 128 bits, exp after iat, a
// lifetime of at most [MaxProofLifetime], iat not in the future and exp not
// in the past (each with [MaxClockSkew] of tolerance), and htm, htu and bh
// equal to method, pathAndQuery and [BodyHash](body).
//
// The replay store is consulted last, so that only otherwise valid proofs
// consume a jti; the jti is kept until exp+MaxClockSkew. A replay is
// [ErrReplay]; a replay store failure is returned wrapped as-is (the caller
// answers "unavailable"); anything else wraps another sentinel.
func (v *RequestVerifier) Verify(ctx context.Context, authorization, method, pathAndQuery string, body []byte) (*Proof, error) {
	if v.Replay == nil {
		return nil, fmt.Errorf("identity: request verifier needs HostDID and Replay")
	}
	p, err := v.VerifyDeferred(authorization, method, pathAndQuery, body)
	if err != nil {
		return nil, err
	}
	fresh, err := v.Replay.Use(ctx, p.Jti, p.ReplayUntil())
	if err != nil {
		return nil, fmt.Errorf("identity: replay store: %w", err)
	}
	if !fresh {
		return nil, fmt.Errorf("identity: %w: jti already used", ErrReplay)
	}
	return p, nil
}

// ReplayUntil is how long the proof's jti must stay recorded: its exp plus
// the clock skew tolerance.
func (p *Proof) ReplayUntil() time.Time { return time.Unix(p.Exp, 0).Add(MaxClockSkew) }

// VerifyDeferred is Verify without the replay check: the caller MUST record
// p.Jti until p.ReplayUntil() in the replay store — atomically with the
// request's first durable effect — and refuse the request with ErrReplay if
// it was already there. It lets a request's jti commit together with its
// first audit entries instead of in a commit of its own.
func (v *RequestVerifier) VerifyDeferred(authorization, method, pathAndQuery string, body []byte) (*Proof, error) {
	if v.HostDID == "" {
		return nil, fmt.Errorf("identity: request verifier needs HostDID and Replay")
	}
	tok, ok := strings.CutPrefix(authorization, AuthScheme+" ")
	if !ok || tok == "" {
		return nil, fail(ErrMalformed, "authorization is not %q", AuthScheme+" <jws>")
	}
	ver, err := Verify(tok, TypRequest)
	if err != nil {
		return nil, err
	}
	var p Proof
	if err := decodeClaims(ver.Payload, proofClaims, &p); err != nil {
		return nil, err
	}
	if p.Iss != ver.Signer {
		return nil, fail(ErrClaims, "iss is not the signer")
	}
	if p.Aud != v.HostDID {
		return nil, fail(ErrClaims, "aud is not this host")
	}
	if raw, err := decodeB64(p.Jti); err != nil || len(raw) < jtiBytes || len(raw) > maxJTIBytes {
		return nil, fail(ErrClaims, "jti must be base64url of %d to %d bytes", jtiBytes, maxJTIBytes)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if err := checkTimes(p.Iat, p.Exp, now().Unix()); err != nil {
		return nil, err
	}
	if p.Htm != method {
		return nil, fail(ErrClaims, "htm %s does not match the request method", short(p.Htm))
	}
	if p.Htu != pathAndQuery {
		return nil, fail(ErrClaims, "htu %s does not match the request target", short(p.Htu))
	}
	if p.Bh != BodyHash(body) {
		return nil, fail(ErrClaims, "bh does not match the request body")
	}
	return &p, nil
}

// checkTimes applies the proof time rules in whole seconds.
func checkTimes(iat, exp, now int64) error {
	skew := int64(MaxClockSkew / time.Second)
	switch {
	case iat <= 0 || exp <= 0 || iat > maxUnix || exp > maxUnix:
		return fail(ErrClaims, "iat/exp out of range")
	case exp <= iat:
		return fail(ErrClaims, "exp not after iat")
	case exp-iat > int64(MaxProofLifetime/time.Second):
		return fail(ErrClaims, "lifetime %ds over %s", exp-iat, MaxProofLifetime)
	case iat > now+skew:
		return fail(ErrClaims, "issued in the future")
	case now > exp+skew:
		return fail(ErrClaims, "expired")
	}
	return nil
}
