package identity

import (
	"time"
)

// Receipt is the claims set of a response receipt (DESIGN §9): the host's
// signed statement of which request it answered, with which status and body,
// at which audit index.
type Receipt struct {
	Iss    string `json:"iss"`    // host DID
	Aud    string `json:"aud"`    // requester DID
	Iat    int64  `json:"iat"`    // unix seconds
	Req    string `json:"req"`    // the request proof's jti
	Status int    `json:"status"` // HTTP status
	Bh     string `json:"bh"`     // BodyHash of the response body
	Seq    int64  `json:"seq"`    // audit index of the decision
}

var receiptClaims = []string{"iss", "aud", "iat", "req", "status", "bh", "seq"}

// SignReceipt signs r with the host key as [TypReceipt]. An empty Iss is set
// to the host's DID and a zero Iat to the current time; an Iss naming
// another key is refused.
func SignReceipt(host *Key, r Receipt) (string, error) {
	if r.Iss == "" {
		r.Iss = host.DID()
	}
	if r.Iss != host.DID() {
		return "", fail(ErrClaims, "receipt iss is not the signing host")
	}
	if r.Iat == 0 {
		r.Iat = time.Now().Unix()
	}
	return host.SignJSON(TypReceipt, r)
}

// VerifyReceipt checks a receipt: signed by hostDID, iss hostDID, exactly
// the claims of [Receipt], and req, status and bh matching the request jti,
// the status and the body the caller received.
func VerifyReceipt(token, hostDID, reqJTI string, status int, body []byte) (*Receipt, error) {
	ver, err := Verify(token, TypReceipt)
	if err != nil {
		return nil, err
	}
	if ver.Signer != hostDID {
		return nil, fail(ErrSignature, "receipt not signed by the pinned host")
	}
	var r Receipt
	if err := decodeClaims(ver.Payload, receiptClaims, &r); err != nil {
		return nil, err
	}
	switch {
	case r.Iss != hostDID:
		return nil, fail(ErrClaims, "receipt iss is not the host")
	case r.Req != reqJTI:
		return nil, fail(ErrClaims, "receipt is for another request")
	case r.Status != status:
		return nil, fail(ErrClaims, "receipt status %d, got %d", r.Status, status)
	case r.Bh != BodyHash(body):
		return nil, fail(ErrClaims, "receipt body hash does not match the body")
	}
	return &r, nil
}
