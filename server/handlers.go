package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/intent"
	"github.com/airlock-dev/airlock/host/registry"
	"github.com/airlock-dev/airlock/host/store"
)

func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Type", "application/json")
	c.Response().WriteHeader(status)
	_, err = c.Response().Write(b)
	return err
}

func (s *Server) getHost(c echo.Context) error {
	jwk, err := s.d.HostKey.PublicJWK()
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, map[string]any{
		"did":        s.d.HostKey.DID(),
		"jwk":        jwk,
		"version":    s.d.Version,
		"algorithms": identity.Algorithms,
		"abi":        abi.Version,
	})
}

func (s *Server) postIntent(c echo.Context) error {
	// The jti is recorded in the same commit as the intent's first audit
	// entries (one fsync per request, not three).
	// Announced before the proof is checked: a commit under way waits for
	// this request, which will end in one (intent.Service.Expect).
	ctx, done := s.d.Intents.Expect(c.Request().Context())
	defer done()
	proof, body, err := s.authenticateDeferred(c, MaxJSONBody)
	if err != nil {
		return err
	}
	start := time.Now()
	res, out, err := s.d.Intents.InvokeFresh(ctx, proof, body)
	if errors.Is(err, identity.ErrReplay) {
		// A refused proof binds nothing: answer as authenticate would have.
		c.Set(keyReqJTI, "")
		c.Set(keyRequester, "")
		return err
	}
	if out != nil {
		if out.Seq >= 0 {
			c.Set(keySeq, out.Seq)
		}
		s.metrics.observeIntent(s.toolLabel(out.Tool), out.Decision, time.Since(start))
	}
	if err != nil {
		return err
	}
	if res.Pending {
		return writeJSON(c, http.StatusAccepted, map[string]string{"id": res.ID, "status": "pending"})
	}
	return writeJSON(c, http.StatusOK, res)
}

// getIntent answers only the agent that sent the intent; anyone else gets
// the answer an unknown id gets.
func (s *Server) getIntent(c echo.Context) error {
	proof, _, err := s.authenticate(c, MaxJSONBody)
	if err != nil {
		return err
	}
	v, err := s.d.Intents.IntentStatus(c.Request().Context(), proof.Iss, c.Param("id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, v)
}

func (s *Server) listApprovals(c echo.Context) error {
	realm := realmParam(c)
	_, _, err := s.operator(c, realm)
	if err != nil {
		return err
	}
	list, err := s.d.Intents.Pending(c.Request().Context(), realm)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, map[string]any{"approvals": list})
}

// decisionRequest is the body of POST /v1/approvals/{id}.
type decisionRequest struct {
	Decision string `json:"decision"`
}

func (s *Server) decideApproval(c echo.Context) error {
	realm := realmParam(c)
	proof, body, err := s.operator(c, realm)
	if err != nil {
		return err
	}
	var req decisionRequest
	if err := intent.StrictJSON(body, &req); err != nil {
		return errors.Join(errBadRequest, errors.New(`body must be {"decision": "allow"|"deny"}`))
	}
	v, out, err := s.d.Intents.Decide(c.Request().Context(), proof.Iss, realm, c.Param("id"), req.Decision, proof.Jti)
	if out != nil && out.Seq >= 0 {
		c.Set(keySeq, out.Seq)
	}
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, v)
}

// pluginView is how GET /v1/plugins lists a bundle.
type pluginView struct {
	Realm          string    `json:"realm"`
	Name           string    `json:"name"`
	Version        string    `json:"version"`
	Publisher      string    `json:"publisher"`
	ManifestSHA256 string    `json:"manifest_sha256"`
	ModuleSHA256   string    `json:"module_sha256"`
	Tools          []string  `json:"tools"`
	InstalledAt    time.Time `json:"installed_at"`
	InstalledBy    string    `json:"installed_by"`
}

func viewOf(p *registry.Plugin) pluginView {
	v := pluginView{
		Realm: p.Record.Realm, Name: p.Record.Name, Version: p.Record.Version,
		Publisher: p.Record.Publisher, ManifestSHA256: p.Record.ManifestSHA256,
		ModuleSHA256: p.Record.ModuleSHA256, InstalledAt: p.Record.InstalledAt,
		InstalledBy: p.Record.InstalledBy, Tools: []string{},
	}
	for _, t := range p.Compiled.Manifest.Tools {
		v.Tools = append(v.Tools, p.Record.Name+"/"+t.Name)
	}
	return v
}

func (s *Server) postPlugin(c echo.Context) error {
	proof, body, err := s.authenticate(c, s.d.Config.Limits.BundleBytes)
	if err != nil {
		return err
	}
	realm := realmParam(c)
	if err := s.requireOperator(proof.Iss, realm); err != nil {
		return err
	}
	ctx := c.Request().Context()
	entry := audit.Entry{Realm: realm, Actor: proof.Iss, Action: "install", Request: proof.Jti, InputSHA256: sha256hex(body)}
	v, verr := s.d.Registry.Verify(ctx, realm, body, func(ctx context.Context, realm, pub string) (bool, error) {
		if !s.d.Config.PublisherTrusted(realm, pub) {
			return false, nil
		}
		revoked, err := s.d.DB.Revoked(ctx, realm, store.KindPublisher, pub)
		return !revoked, err
	})
	if verr != nil {
		entry.Decision, entry.Reason = "deny", verr.Error()
		if err := s.auditDecision(c, entry); err != nil {
			return err
		}
		if !errors.Is(verr, bundle.ErrMalformed) && !errors.Is(verr, bundle.ErrTooLarge) &&
			!errors.Is(verr, bundle.ErrHash) && !errors.Is(verr, bundle.ErrSignature) &&
			!errors.Is(verr, bundle.ErrUntrusted) && !errors.Is(verr, bundle.ErrImport) &&
			!errors.Is(verr, bundle.ErrSchema) {
			s.d.Logger.Error("bundle verification failed", "err", verr)
			return intent.ErrUnavailable
		}
		if errors.Is(verr, bundle.ErrSchema) {
			// a manifest whose schemas do not compile is a malformed bundle
			return errors.Join(errBadRequest, verr)
		}
		return verr
	}
	entry.Tool = v.Name()
	if s.d.Registry.Changes(v) {
		// a re-install that changes what agents see waits for an operator
		entry.Decision, entry.Reason = "hold", "tool surface changed; installed version keeps serving until approved"
		if err := s.auditDecision(c, entry); err != nil {
			return err
		}
		sum, err := s.d.Registry.Hold(ctx, v, proof.Iss, s.d.Now())
		if err != nil {
			s.d.Logger.Error("plugin hold failed", "err", err)
			return intent.ErrUnavailable
		}
		return writeJSON(c, http.StatusAccepted, map[string]string{
			"status": "pending_approval", "name": v.Bundle.Manifest.Name,
			"version": v.Bundle.Manifest.Version, "manifest_sha256": sum,
		})
	}
	entry.Decision, entry.Reason = "allow", "installed"
	if err := s.auditDecision(c, entry); err != nil {
		return err
	}
	p, err := s.d.Registry.Commit(ctx, v, proof.Iss, s.d.Now())
	if err != nil {
		s.d.Logger.Error("plugin commit failed", "err", err)
		return intent.ErrUnavailable
	}
	return writeJSON(c, http.StatusCreated, viewOf(p))
}

// approveRequest is the body of POST /v1/plugins/{name}/approve.
type approveRequest struct {
	ManifestSHA256 string `json:"manifest_sha256"`
}

func (s *Server) approvePlugin(c echo.Context) error {
	realm := realmParam(c)
	proof, body, err := s.operator(c, realm)
	if err != nil {
		return err
	}
	var req approveRequest
	if err := intent.StrictJSON(body, &req); err != nil || req.ManifestSHA256 == "" {
		return errors.Join(errBadRequest, errors.New(`body must be {"manifest_sha256": "<hex>"}`))
	}
	name := c.Param("name")
	if err := s.auditDecision(c, audit.Entry{Realm: realm, Actor: proof.Iss, Action: "approve_plugin", Tool: name,
		Decision: "allow", Reason: "manifest " + req.ManifestSHA256, Request: proof.Jti}); err != nil {
		return err
	}
	p, err := s.d.Registry.Approve(c.Request().Context(), realm, name, req.ManifestSHA256)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return errNotFound
		}
		s.d.Logger.Error("plugin approve failed", "err", err)
		return intent.ErrUnavailable
	}
	return writeJSON(c, http.StatusOK, viewOf(p))
}

func (s *Server) listPlugins(c echo.Context) error {
	realm := realmParam(c)
	_, _, err := s.operator(c, realm)
	if err != nil {
		return err
	}
	out := []pluginView{}
	for _, p := range s.d.Registry.List(realm) {
		out = append(out, viewOf(p))
	}
	return writeJSON(c, http.StatusOK, map[string]any{"plugins": out})
}

func (s *Server) deletePlugin(c echo.Context) error {
	realm := realmParam(c)
	proof, _, err := s.operator(c, realm)
	if err != nil {
		return err
	}
	name := c.Param("name")
	if _, ok := s.d.Registry.Get(realm, name); !ok {
		return errNotFound
	}
	if err := s.auditDecision(c, audit.Entry{Realm: realm, Actor: proof.Iss, Action: "uninstall", Tool: name, Decision: "allow", Request: proof.Jti}); err != nil {
		return err
	}
	if err := s.d.Registry.Remove(c.Request().Context(), realm, name); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return errNotFound
		}
		return intent.ErrUnavailable
	}
	c.Response().WriteHeader(http.StatusNoContent)
	return nil
}

// revocationRequest is the body of POST /v1/revocations (exactly one target).
type revocationRequest struct {
	Realm     string `json:"realm"`
	Grant     string `json:"grant,omitempty"`
	Agent     string `json:"agent,omitempty"`
	Publisher string `json:"publisher,omitempty"`
}

func (s *Server) postRevocation(c echo.Context) error {
	proof, body, err := s.authenticate(c, MaxJSONBody)
	if err != nil {
		return err
	}
	var req revocationRequest
	if err := intent.StrictJSON(body, &req); err != nil {
		return errors.Join(errBadRequest, err)
	}
	var kind store.RevocationKind
	var subject string
	n := 0
	if req.Grant != "" {
		kind, subject, n = store.KindGrant, req.Grant, n+1
	}
	if req.Agent != "" {
		if _, err := identity.DecodeDID(req.Agent); err != nil {
			return errors.Join(errBadRequest, errors.New("agent must be a did:key"))
		}
		kind, subject, n = store.KindAgent, req.Agent, n+1
	}
	if req.Publisher != "" {
		if _, err := identity.DecodeDID(req.Publisher); err != nil {
			return errors.Join(errBadRequest, errors.New("publisher must be a did:key"))
		}
		kind, subject, n = store.KindPublisher, req.Publisher, n+1
	}
	if req.Realm == "" || n != 1 {
		return errors.Join(errBadRequest, errors.New("give realm and exactly one of grant, agent, publisher"))
	}
	if err := s.requireOperator(proof.Iss, req.Realm); err != nil {
		return err
	}
	if err := s.auditDecision(c, audit.Entry{Realm: req.Realm, Actor: proof.Iss, Action: "revoke", Decision: "allow",
		Reason: string(kind) + " " + subject, Request: proof.Jti}); err != nil {
		return err
	}
	if err := s.d.DB.Revoke(c.Request().Context(), store.Revocation{Realm: req.Realm, Kind: kind, Subject: subject, At: s.d.Now().UTC(), By: proof.Iss}); err != nil {
		s.d.Logger.Error("revocation store failed", "err", err)
		return intent.ErrUnavailable
	}
	return writeJSON(c, http.StatusOK, map[string]any{"revoked": map[string]string{"realm": req.Realm, "kind": string(kind), "subject": subject}})
}

func (s *Server) getAudit(c echo.Context) error {
	realm := realmParam(c)
	_, _, err := s.operator(c, realm)
	if err != nil {
		return err
	}
	from, limit := int64(0), 100
	if v := c.QueryParam("from"); v != "" {
		if err := json.Unmarshal([]byte(v), &from); err != nil || from < 0 {
			return errors.Join(errBadRequest, errors.New("from must be a non-negative integer"))
		}
	}
	if v := c.QueryParam("limit"); v != "" {
		if err := json.Unmarshal([]byte(v), &limit); err != nil || limit < 1 || limit > 1000 {
			return errors.Join(errBadRequest, errors.New("limit must be 1..1000"))
		}
	}
	entries, err := s.d.Audit.Entries(c.Request().Context(), realm, from, limit)
	if err != nil {
		return intent.ErrUnavailable
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	return writeJSON(c, http.StatusOK, map[string]any{"entries": entries})
}

func (s *Server) getCheckpoint(c echo.Context) error {
	note, err := s.d.Audit.Checkpoint(c.Request().Context())
	if err != nil {
		return intent.ErrUnavailable
	}
	c.Response().Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	_, err = c.Response().Write(note)
	return err
}

func (s *Server) healthz(c echo.Context) error {
	return writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	if err := s.d.DB.Ping(c.Request().Context()); err != nil {
		return intent.ErrUnavailable
	}
	return writeJSON(c, http.StatusOK, map[string]string{"status": "ready"})
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
