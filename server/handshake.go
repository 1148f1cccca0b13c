package server

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/intent"
)

// Handshake limits.
const (
	handshakeTTL       = 60 * time.Second
	handshakeNonceSize = 32
	challengeRandSize  = 16
	challengeSize      = challengeRandSize + 8 + sha256.Size
)

// handshakes issues and checks the host's challenges. A challenge carries
// its own expiry and an HMAC under a key derived from the host key, so any
// node with that key can check it and no node keeps state for an open
// handshake; it is usable once through the replay store, which all nodes
// share.
type handshakes struct {
	key    []byte
	replay interface {
		Use(ctx context.Context, jti string, exp time.Time) (bool, error)
	}
}

// newHandshakes derives the challenge key from an Ed25519 host key; with
// any other key it draws a random one, and challenges then work only on the
// node that issued them.
func newHandshakes(d Deps) *handshakes {
	h := &handshakes{}
	if d.Proofs != nil {
		h.replay = d.Proofs.Replay
	}
	if priv, ok := d.HostKey.Ed25519(); ok {
		if key, err := hkdf.Key(sha256.New, priv.Seed(), nil, "airlock/handshake/v1", 32); err == nil {
			h.key = key
			return h
		}
	}
	h.key = make([]byte, 32)
	if _, err := rand.Read(h.key); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return h
}

func (h *handshakes) mac(did string, body []byte) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(did))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)
}

// issue returns a new challenge for did and its expiry.
func (h *handshakes) issue(did string, now time.Time) (string, time.Time, error) {
	exp := now.Add(handshakeTTL)
	b := make([]byte, challengeRandSize+8, challengeSize)
	if _, err := rand.Read(b[:challengeRandSize]); err != nil {
		return "", exp, err
	}
	binary.BigEndian.PutUint64(b[challengeRandSize:], uint64(exp.Unix()))
	b = append(b, h.mac(did, b)...)
	return base64.RawURLEncoding.EncodeToString(b), exp, nil
}

// take consumes challenge if this host (or a node sharing its key) issued it
// to did, it has not expired, and it was not used before. An error means
// the replay store could not answer.
func (h *handshakes) take(ctx context.Context, challenge, did string, now time.Time) (bool, error) {
	b, err := base64.RawURLEncoding.DecodeString(challenge)
	if err != nil || len(b) != challengeSize {
		return false, nil
	}
	body := b[:challengeRandSize+8]
	if !hmac.Equal(b[len(body):], h.mac(did, body)) {
		return false, nil
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[challengeRandSize:])), 0)
	if now.After(exp) {
		return false, nil
	}
	if h.replay == nil {
		return false, errors.New("no replay store")
	}
	return h.replay.Use(ctx, "handshake:"+challenge, exp)
}

// handshakeRequest is either step of the mutual challenge-response (§9).
type handshakeRequest struct {
	DID       string `json:"did"`
	Nonce     string `json:"nonce,omitempty"`
	Challenge string `json:"challenge,omitempty"`
	Response  string `json:"response,omitempty"`
}

type handshakeAnswer struct {
	Nonce     string `json:"nonce"`
	DID       string `json:"did"`
	Challenge string `json:"challenge"`
	Exp       int64  `json:"exp"`
}

type handshakeResponse struct {
	Challenge string `json:"challenge"`
	Aud       string `json:"aud"`
}

func decodeNonce(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == handshakeNonceSize
}

func (s *Server) postHandshake(c echo.Context) error {
	body, err := readBody(c, MaxJSONBody)
	if err != nil {
		return err
	}
	var req handshakeRequest
	if err := intent.StrictJSON(body, &req); err != nil {
		return errors.Join(errBadRequest, err)
	}
	if _, err := identity.DecodeDID(req.DID); err != nil {
		return errors.Join(errBadRequest, errors.New("did must be a did:key"))
	}
	now := s.d.Now()
	switch {
	case req.Nonce != "" && req.Challenge == "" && req.Response == "":
		if !decodeNonce(req.Nonce) {
			return errors.Join(errBadRequest, errors.New("nonce must be 32 bytes, base64url"))
		}
		challenge, exp, err := s.handshake.issue(req.DID, now)
		if err != nil {
			return intent.ErrUnavailable
		}
		sig, err := s.d.HostKey.SignJSON(identity.TypHandshake, handshakeAnswer{
			Nonce: req.Nonce, DID: req.DID, Challenge: challenge, Exp: exp.Unix(),
		})
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, map[string]string{"host": s.d.HostKey.DID(), "signature": sig, "challenge": challenge})
	case req.Challenge != "" && req.Response != "" && req.Nonce == "":
		ver, err := identity.Verify(req.Response, identity.TypHandshake)
		if err != nil {
			return err
		}
		if ver.Signer != req.DID {
			return errors.Join(errUnauthenticated, errors.New("response not signed by did"))
		}
		var resp handshakeResponse
		if err := intent.StrictJSON(ver.Payload, &resp); err != nil {
			return errors.Join(errUnauthenticated, errors.New("malformed response payload"))
		}
		if resp.Aud != s.d.HostKey.DID() || resp.Challenge != req.Challenge {
			return errors.Join(errUnauthenticated, errors.New("response does not answer this host's challenge"))
		}
		fresh, err := s.handshake.take(c.Request().Context(), req.Challenge, req.DID, now)
		if err != nil {
			return errors.Join(intent.ErrUnavailable, err)
		}
		if !fresh {
			return errors.Join(errUnauthenticated, errors.New("unknown, used or expired challenge"))
		}
		c.Set(keyRequester, req.DID)
		return writeJSON(c, http.StatusOK, map[string]bool{"ok": true})
	default:
		return errors.Join(errBadRequest, errors.New("send {did, nonce} first, then {did, challenge, response}"))
	}
}
