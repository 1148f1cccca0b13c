package server

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/intent"
)

// Handshake limits.
const (
	handshakeTTL       = 60 * time.Second
	maxOpenHandshakes  = 10000
	handshakeNonceSize = 32
)

// handshakes remembers the challenges the host handed out, each usable once.
type handshakes struct {
	mu   sync.Mutex
	open map[string]openChallenge // challenge → caller
}

type openChallenge struct {
	did string
	exp time.Time
}

func newHandshakes() *handshakes { return &handshakes{open: map[string]openChallenge{}} }

func (h *handshakes) add(challenge, did string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.open) >= maxOpenHandshakes {
		for k, v := range h.open {
			if now.After(v.exp) {
				delete(h.open, k)
			}
		}
		if len(h.open) >= maxOpenHandshakes {
			return false
		}
	}
	h.open[challenge] = openChallenge{did: did, exp: now.Add(handshakeTTL)}
	return true
}

// take consumes challenge if it was issued to did and has not expired.
func (h *handshakes) take(challenge, did string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	oc, ok := h.open[challenge]
	if !ok {
		return false
	}
	delete(h.open, challenge)
	return oc.did == did && !now.After(oc.exp)
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
		buf := make([]byte, handshakeNonceSize)
		if _, err := rand.Read(buf); err != nil {
			return intent.ErrUnavailable
		}
		challenge := base64.RawURLEncoding.EncodeToString(buf)
		if !s.handshake.add(challenge, req.DID, now) {
			return intent.ErrUnavailable
		}
		sig, err := s.d.HostKey.SignJSON(identity.TypHandshake, handshakeAnswer{
			Nonce: req.Nonce, DID: req.DID, Challenge: challenge, Exp: now.Add(handshakeTTL).Unix(),
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
		if !s.handshake.take(req.Challenge, req.DID, now) {
			return errors.Join(errUnauthenticated, errors.New("unknown, used or expired challenge"))
		}
		c.Set(keyRequester, req.DID)
		return writeJSON(c, http.StatusOK, map[string]bool{"ok": true})
	default:
		return errors.Join(errBadRequest, errors.New("send {did, nonce} first, then {did, challenge, response}"))
	}
}
