package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/intent"
	"github.com/airlock-dev/airlock/host/vault"
)

// secretRequest is the body of PUT /v1/secrets/{realm}/{name}.
type secretRequest struct {
	Value string `json:"value"`
}

// secretTarget authenticates an operator of the path's realm.
func (s *Server) secretTarget(c echo.Context) (realm, name, actor, jti string, body []byte, err error) {
	proof, body, err := s.authenticate(c, MaxJSONBody)
	if err != nil {
		return "", "", "", "", nil, err
	}
	realm, name = c.Param("realm"), c.Param("name")
	if err := s.requireOperator(proof.Iss, realm); err != nil {
		return "", "", "", "", nil, err
	}
	if name != "" && !vault.ValidName(name) {
		return "", "", "", "", nil, errors.Join(errBadRequest, errors.New("secret names match ^[A-Z][A-Z0-9_]{0,63}$"))
	}
	return realm, name, proof.Iss, proof.Jti, body, nil
}

// putSecret stores a secret. Write-only: no endpoint ever returns a value,
// and neither the audit entry nor any log line carries it.
func (s *Server) putSecret(c echo.Context) error {
	realm, name, actor, jti, body, err := s.secretTarget(c)
	if err != nil {
		return err
	}
	var req secretRequest
	if err := intent.StrictJSON(body, &req); err != nil {
		return errors.Join(errBadRequest, errors.New(`body must be {"value": "..."}`))
	}
	if len(req.Value) < vault.MinSecretBytes || len(req.Value) > vault.MaxSecretBytes {
		return errors.Join(errBadRequest, errors.New("secret values are 8 bytes to 16 KiB"))
	}
	if err := s.auditDecision(c, audit.Entry{Realm: realm, Actor: actor, Action: "secret_set", Decision: "allow",
		Reason: "secret " + name, Request: jti}); err != nil {
		return err
	}
	if err := s.d.Vault.Put(c.Request().Context(), realm, name, []byte(req.Value)); err != nil {
		s.d.Logger.Error("vault put failed", "secret", name, "err", err)
		if errors.Is(err, vault.ErrInvalid) {
			return errors.Join(errBadRequest, errors.New("secret refused"))
		}
		return intent.ErrUnavailable
	}
	c.Response().WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) deleteSecret(c echo.Context) error {
	realm, name, actor, jti, _, err := s.secretTarget(c)
	if err != nil {
		return err
	}
	present, err := s.d.Vault.Present(c.Request().Context(), realm, name)
	if err != nil {
		return intent.ErrUnavailable
	}
	if !present {
		return errNotFound
	}
	if err := s.auditDecision(c, audit.Entry{Realm: realm, Actor: actor, Action: "secret_delete", Decision: "allow",
		Reason: "secret " + name, Request: jti}); err != nil {
		return err
	}
	if err := s.d.Vault.Delete(c.Request().Context(), realm, name); err != nil {
		if errors.Is(err, vault.ErrNotFound) {
			return errNotFound
		}
		return intent.ErrUnavailable
	}
	c.Response().WriteHeader(http.StatusNoContent)
	return nil
}

// secretInfo lists a secret by name only.
type secretInfo struct {
	Name      string    `json:"name"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (s *Server) listSecrets(c echo.Context) error {
	realm, _, _, _, _, err := s.secretTarget(c)
	if err != nil {
		return err
	}
	infos, err := s.d.Vault.List(c.Request().Context(), realm)
	if err != nil {
		return intent.ErrUnavailable
	}
	out := make([]secretInfo, 0, len(infos))
	for _, i := range infos {
		out = append(out, secretInfo{Name: i.Name, UpdatedAt: i.UpdatedAt})
	}
	return writeJSON(c, http.StatusOK, map[string]any{"secrets": out})
}
