package server

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openapiSpec is the hand-kept OpenAPI 3 description of the API. A test
// checks that it names exactly the routes the server registers.
//
//go:embed openapi.json
var openapiSpec []byte

func (s *Server) openapi(c echo.Context) error {
	c.Response().Header().Set("Content-Type", "application/json")
	c.Response().WriteHeader(http.StatusOK)
	_, err := c.Response().Write(openapiSpec)
	return err
}
