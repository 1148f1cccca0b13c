// Package server is Airlock's HTTP layer (Echo v4) over the host packages.
// It authenticates request proofs, decodes JSON strictly, maps every error to
// one RFC 9457 problem code (problem.go), and signs an Airlock-Receipt over
// every response. It never touches wazero or Extism directly.
//
// # Security
//
// Every request body is read through a hard cap before anything parses it.
// Authenticated endpoints verify the request proof over the exact method,
// request target and body; operator endpoints then require the signer to be
// an operator of the realm named in the request, and answer a realm the
// operator is not trusted in exactly as a realm that does not exist.
package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/config"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/intent"
	"github.com/airlock-dev/airlock/host/policy"
	"github.com/airlock-dev/airlock/host/registry"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/host/vault"
)

// MaxJSONBody caps every JSON request body (DESIGN §9).
const MaxJSONBody = 1 << 20

var (
	errUnauthenticated = errors.New("server: unauthenticated")
	errForbidden       = errors.New("server: forbidden")
	errBadRequest      = errors.New("server: bad request")
	errTooLarge        = errors.New("server: request body too large")
	errNotFound        = errors.New("server: not found")
)

// Deps are the host parts the server serves.
type Deps struct {
	HostKey  *identity.Key
	Config   *config.Config
	DB       *store.DB
	Audit    *audit.Log
	Registry *registry.Registry
	Vault    *vault.Vault
	Policies *policy.Store
	Intents  *intent.Service
	Proofs   *identity.RequestVerifier
	Logger   *slog.Logger
	Version  string
	Now      func() time.Time
}

// Server is the HTTP API.
type Server struct {
	d         Deps
	echo      *echo.Echo
	metrics   *metrics
	handshake *handshakes
	routes    map[string]bool // registered route templates (metrics labels)
}

// New builds the server and its routes.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{d: d, echo: e, metrics: newMetrics(), handshake: newHandshakes(d)}
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.receipts)
	s.register()
	s.routes = map[string]bool{}
	for _, r := range e.Routes() {
		s.routes[r.Path] = true
	}
	return s
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Echo exposes the router (for route listing in tests).
func (s *Server) Echo() *echo.Echo { return s.echo }

// Registry returns the Prometheus registry with the server's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

func (s *Server) register() {
	e := s.echo
	e.GET("/v1/host", s.getHost)
	e.POST("/v1/handshake", s.postHandshake)
	e.POST("/v1/intents", s.postIntent)
	e.GET("/v1/intents/:id", s.getIntent)
	e.POST("/v1/plugins", s.postPlugin)
	e.GET("/v1/plugins", s.listPlugins)
	e.DELETE("/v1/plugins/:name", s.deletePlugin)
	e.POST("/v1/plugins/:name/approve", s.approvePlugin)
	e.POST("/v1/revocations", s.postRevocation)
	e.GET("/v1/approvals", s.listApprovals)
	e.PUT("/v1/policies/:realm", s.putPolicy)
	e.GET("/v1/policies/:realm", s.getPolicy)
	e.POST("/v1/agents/:did/release", s.releaseAgent)
	e.POST("/v1/approvals/:id", s.decideApproval)
	e.GET("/v1/secrets/:realm", s.listSecrets)
	e.PUT("/v1/secrets/:realm/:name", s.putSecret)
	e.DELETE("/v1/secrets/:realm/:name", s.deleteSecret)
	e.POST("/v1/memory/put", s.memoryHandler(intent.MemoryPut))
	e.POST("/v1/memory/query", s.memoryHandler(intent.MemoryQuery))
	e.POST("/v1/memory/delete", s.memoryHandler(intent.MemoryDelete))
	e.POST("/v1/tools", s.postTools)
	e.GET("/v1/audit", s.getAudit)
	e.GET("/v1/audit/checkpoint", s.getCheckpoint)
	e.GET("/v1/audit/proof/inclusion", s.getInclusionProof)
	e.GET("/v1/audit/proof/consistency", s.getConsistencyProof)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/openapi.json", s.openapi)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))
}

// ctx keys for receipt data set by handlers.
const (
	keyReqJTI    = "airlock.req"
	keyRequester = "airlock.requester"
	keySeq       = "airlock.seq"
)

// bufferedWriter holds the response so the receipt can cover its body.
type bufferedWriter struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (w *bufferedWriter) Header() http.Header { return w.header }
func (w *bufferedWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *bufferedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.buf.Write(b)
}

// receipts buffers every response and signs an Airlock-Receipt over the
// request jti, the status, the body hash and the audit index.
func (s *Server) receipts(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		orig := c.Response().Writer
		bw := &bufferedWriter{header: orig.Header()}
		c.Response().Writer = bw
		if err := next(c); err != nil {
			c.Error(err)
		}
		c.Response().Writer = orig
		status := bw.status
		if status == 0 {
			status = http.StatusOK
		}
		seq := int64(-1)
		if v, ok := c.Get(keySeq).(int64); ok {
			seq = v
		}
		req, _ := c.Get(keyReqJTI).(string)
		aud, _ := c.Get(keyRequester).(string)
		rcpt, err := identity.SignReceipt(s.d.HostKey, identity.Receipt{
			Iss: s.d.HostKey.DID(), Aud: aud, Iat: s.d.Now().Unix(), Req: req,
			Status: status, Bh: identity.BodyHash(bw.buf.Bytes()), Seq: seq,
		})
		if err == nil {
			orig.Header().Set("Airlock-Receipt", rcpt)
		} else {
			s.d.Logger.Error("receipt signing failed", "err", err)
		}
		orig.Header().Set("Content-Length", strconv.Itoa(bw.buf.Len()))
		orig.WriteHeader(status)
		_, _ = orig.Write(bw.buf.Bytes())
		route := c.Path()
		if !s.routes[route] {
			route = "unmatched" // raw paths would make label cardinality unbounded
		}
		s.metrics.observeRequest(route, status, time.Since(start))
		return nil
	}
}

func (s *Server) errorHandler(err error, c echo.Context) {
	var he *echo.HTTPError
	var p *Problem
	switch {
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			p = problem("not_found", "no such endpoint")
		case http.StatusMethodNotAllowed:
			p = problem("bad_request", "method not allowed")
			p.Status = http.StatusMethodNotAllowed
		case http.StatusRequestEntityTooLarge:
			p = problem("too_large", "request body too large")
		default:
			p = problem("bad_request", http.StatusText(he.Code))
			p.Status = he.Code
		}
	default:
		p = problemFor(err)
		if p.Code == "unavailable" && p.Detail == "internal error" {
			s.d.Logger.Error("unmapped error", "path", c.Path(), "err", err)
		}
	}
	s.writeProblem(c, p)
}

func (s *Server) writeProblem(c echo.Context, p *Problem) {
	c.Response().Header().Set("Content-Type", "application/problem+json")
	c.Response().WriteHeader(p.Status)
	_, _ = c.Response().Write(p.body())
}

// readBody reads the request body through a hard cap.
func readBody(c echo.Context, max int64) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > max {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, errBadRequest
	}
	if int64(len(b)) > max {
		return nil, errTooLarge
	}
	return b, nil
}

// authenticate reads the body (capped) and verifies the request proof over
// it, recording its jti in the replay store.
func (s *Server) authenticate(c echo.Context, max int64) (*identity.Proof, []byte, error) {
	return s.authenticateWith(c, max, false)
}

// authenticateDeferred is authenticate without recording the jti: the
// caller must record it with the request's first durable write
// (intent.Service.InvokeFresh).
func (s *Server) authenticateDeferred(c echo.Context, max int64) (*identity.Proof, []byte, error) {
	return s.authenticateWith(c, max, true)
}

func (s *Server) authenticateWith(c echo.Context, max int64, deferReplay bool) (*identity.Proof, []byte, error) {
	body, err := readBody(c, max)
	if err != nil {
		return nil, nil, err
	}
	r := c.Request()
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return nil, nil, errors.Join(errUnauthenticated, errors.New("missing Authorization: Airlock <proof>"))
	}
	var proof *identity.Proof
	if deferReplay {
		proof, err = s.d.Proofs.VerifyDeferred(auth, r.Method, r.RequestURI, body)
	} else {
		proof, err = s.d.Proofs.Verify(r.Context(), auth, r.Method, r.RequestURI, body)
	}
	if err != nil {
		if !errors.Is(err, identity.ErrReplay) && !isIdentityErr(err) {
			// the replay store failed: fail closed
			s.d.Logger.Error("replay store failed", "err", err)
			return nil, nil, intent.ErrUnavailable
		}
		return nil, nil, err
	}
	c.Set(keyReqJTI, proof.Jti)
	c.Set(keyRequester, proof.Iss)
	return proof, body, nil
}

func isIdentityErr(err error) bool {
	for _, e := range []error{identity.ErrMalformed, identity.ErrAlgorithm, identity.ErrHeader, identity.ErrSignature, identity.ErrClaims} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// realmParam returns ?realm= (default "default").
func realmParam(c echo.Context) string {
	if r := c.QueryParam("realm"); r != "" {
		return r
	}
	return "default"
}

// operator authenticates an operator request for realm: the proof, then
// the signer's standing as an operator of realm.
func (s *Server) operator(c echo.Context, realm string) (*identity.Proof, []byte, error) {
	proof, body, err := s.authenticate(c, MaxJSONBody)
	if err != nil {
		return nil, nil, err
	}
	if err := s.requireOperator(proof.Iss, realm); err != nil {
		return nil, nil, err
	}
	return proof, body, nil
}

// requireOperator checks that did is an operator of realm. An unknown realm
// and a realm where did is not an operator get the same answer.
func (s *Server) requireOperator(did, realm string) error {
	if !s.d.Config.OperatorTrusted(realm, did) {
		return errors.Join(errForbidden, errors.New("signer is not an operator of the requested realm"))
	}
	return nil
}

func (s *Server) auditDecision(c echo.Context, e audit.Entry) error {
	idx, err := s.d.Audit.Append(c.Request().Context(), e)
	if err != nil {
		s.d.Logger.Error("audit append failed; refusing", "err", err)
		return intent.ErrUnavailable
	}
	c.Set(keySeq, idx)
	return nil
}

// Serve answers on ln until ctx is done, then drains for up to 15 s.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 14*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
