package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/intent"
	"github.com/airlock-dev/airlock/host/policy"
)

// putPolicy takes a compact JWS (typ airlock-policy+jwt) signed by an
// operator of the path's realm whose version must exceed the current one.
func (s *Server) putPolicy(c echo.Context) error {
	realm := c.Param("realm")
	proof, body, err := s.operator(c, realm)
	if err != nil {
		return err
	}
	if s.d.Policies == nil {
		return intent.ErrUnavailable
	}
	ctx := c.Request().Context()
	entry := audit.Entry{Realm: realm, Actor: proof.Iss, Action: "policy", Request: proof.Jti, InputSHA256: sha256hex(body)}
	// A refusal is audited as a denial: the log never records a refused
	// policy as applied.
	refuse := func(err error) error {
		entry.Decision, entry.Reason = "deny", err.Error()
		if aerr := s.auditDecision(c, entry); aerr != nil {
			return aerr
		}
		return err
	}
	p, err := policy.Verify(string(body), realm, s.d.Config.OperatorTrusted)
	if err != nil {
		return refuse(err)
	}
	cur, err := s.d.Policies.Get(ctx, realm)
	if err != nil {
		return intent.ErrUnavailable
	}
	if p.Doc.Version <= cur.Doc.Version {
		return refuse(fmt.Errorf("%w: realm %q is at version %d", policy.ErrStale, realm, cur.Doc.Version))
	}
	entry.Decision, entry.Reason = "allow", "version "+strconv.FormatInt(p.Doc.Version, 10)+" signed by "+p.Signer
	if err := s.auditDecision(c, entry); err != nil {
		return err
	}
	if err := s.d.Policies.Put(ctx, p); err != nil {
		if errors.Is(err, policy.ErrStale) {
			// another node stored this version between Get and Put
			return refuse(err)
		}
		s.d.Logger.Error("policy store failed", "err", err)
		return intent.ErrUnavailable
	}
	return writeJSON(c, http.StatusOK, map[string]any{"realm": realm, "version": p.Doc.Version})
}

func (s *Server) getPolicy(c echo.Context) error {
	realm := c.Param("realm")
	_, _, err := s.operator(c, realm)
	if err != nil {
		return err
	}
	if s.d.Policies == nil {
		return intent.ErrUnavailable
	}
	p, err := s.d.Policies.Get(c.Request().Context(), realm)
	if err != nil {
		return intent.ErrUnavailable
	}
	return writeJSON(c, http.StatusOK, map[string]any{"policy": p.Doc, "signer": p.Signer, "token": p.Token})
}

// releaseAgent lifts a quarantine: POST /v1/agents/{did}/release?realm=R.
func (s *Server) releaseAgent(c echo.Context) error {
	realm := realmParam(c)
	proof, _, err := s.operator(c, realm)
	if err != nil {
		return err
	}
	did := c.Param("did")
	if _, err := identity.DecodeDID(did); err != nil {
		return errors.Join(errBadRequest, errors.New("agent must be a did:key"))
	}
	if err := s.auditDecision(c, audit.Entry{Realm: realm, Actor: proof.Iss, Action: "release", Decision: "allow",
		Reason: "agent " + did, Request: proof.Jti}); err != nil {
		return err
	}
	released, err := s.d.Intents.Release(c.Request().Context(), realm, did)
	if err != nil {
		return intent.ErrUnavailable
	}
	return writeJSON(c, http.StatusOK, map[string]any{"agent": did, "realm": realm, "released": released})
}
