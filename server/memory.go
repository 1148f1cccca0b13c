package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airlock-dev/airlock/host/intent"
)

// memoryHandler serves POST /v1/memory/{op}: always the signing agent's own
// store in its grant's realm.
func (s *Server) memoryHandler(op intent.MemoryOp) echo.HandlerFunc {
	return func(c echo.Context) error {
		proof, body, err := s.authenticate(c, MaxJSONBody)
		if err != nil {
			return err
		}
		start := time.Now()
		resp, out, err := s.d.Intents.ServeMemory(c.Request().Context(), op, proof, body)
		if out != nil {
			if out.Seq >= 0 {
				c.Set(keySeq, out.Seq)
			}
			s.metrics.observeIntent(s.toolLabel(out.Tool), out.Decision, time.Since(start))
		}
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, resp)
	}
}

// postTools lists the tools the presented grant lets the signing agent
// call (intent.Service.ListTools).
func (s *Server) postTools(c echo.Context) error {
	proof, body, err := s.authenticate(c, MaxJSONBody)
	if err != nil {
		return err
	}
	list, out, err := s.d.Intents.ListTools(c.Request().Context(), proof, body)
	if out != nil && out.Seq >= 0 {
		c.Set(keySeq, out.Seq)
	}
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, list)
}
