package intent

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sync/atomic"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/egress"
	"github.com/airlock-dev/airlock/host/grant"
)

// Per-invocation caps on the log host function.
const (
	maxLogCalls   = 100
	maxLogMessage = 4 << 10
)

// hostCalls serves the host functions of one invocation. It implements
// runtime.HostHandler.
type hostCalls struct {
	svc     *Service
	grant   *grant.Grant
	agent   string
	tool    string
	request string
	parent  int64

	logs atomic.Int32
}

// Allowed links a host function only when the grant gives its capability.
func (h *hostCalls) Allowed(fn abi.Function) bool {
	return fn.Known() && h.grant.Allows(fn.Capability())
}

// Denied records a call to a host function the grant does not give.
func (h *hostCalls) Denied(ctx context.Context, fn abi.Function) {
	h.record(ctx, "host_call", "deny", "host function "+string(fn)+" not granted")
}

func (h *hostCalls) record(ctx context.Context, action, decision, reason string) {
	_, err := h.svc.Audit.Append(ctx, audit.Entry{
		Realm: h.grant.Claims.Realm, Actor: h.agent, Action: action, Tool: h.tool,
		Decision: decision, Reason: reason, Request: h.request, Grant: h.grant.Claims.Jti, Parent: h.parent,
	})
	if err != nil {
		h.svc.Logger.Error("audit append failed for host call", "err", err)
	}
}

func fail(code abi.Code, msg string) []byte {
	b, _ := json.Marshal(abi.ErrorResponse{Error: &abi.Error{Code: code, Message: msg}})
	return b
}

func answer(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return fail(abi.CodeToolFailed, "could not encode the answer")
	}
	return b
}

// Call serves one host function call. req is the host's private copy.
func (h *hostCalls) Call(ctx context.Context, fn abi.Function, req []byte) []byte {
	// Revocation reaches running tools: every call re-checks it.
	if err := h.svc.checkRevoked(ctx, h.grant); err != nil {
		h.record(ctx, "host_call", "deny", string(fn)+": "+reasonOf(err))
		if errors.Is(err, ErrRevoked) {
			return fail(abi.CodeGrantRevoked, "the grant or agent was revoked")
		}
		return fail(abi.CodeUnavailable, "revocation state unavailable")
	}
	switch fn {
	case abi.FuncLog:
		return h.log(req)
	case abi.FuncHTTPRequest:
		return h.httpRequest(ctx, req)
	default:
		return fail(abi.CodeUnavailable, "host function "+string(fn)+" is not available on this host yet")
	}
}

func (h *hostCalls) log(req []byte) []byte {
	if h.logs.Add(1) > maxLogCalls {
		return fail(abi.CodeBudgetExceeded, "log call limit reached")
	}
	var l abi.LogRequest
	if err := StrictJSON(req, &l); err != nil {
		return fail(abi.CodeBadRequest, "log: malformed request")
	}
	msg := l.Message
	if len(msg) > maxLogMessage {
		msg = msg[:maxLogMessage]
	}
	attrs := []any{"tool", h.tool, "agent", h.agent, "request", h.request, "message", msg}
	switch l.Level {
	case abi.LogDebug:
		h.svc.Logger.Debug("tool log", attrs...)
	case abi.LogInfo, "":
		h.svc.Logger.Info("tool log", attrs...)
	case abi.LogWarn:
		h.svc.Logger.Warn("tool log", attrs...)
	case abi.LogError:
		h.svc.Logger.Error("tool log", attrs...)
	default:
		return fail(abi.CodeBadRequest, "log: unknown level")
	}
	return answer(abi.Empty{})
}

func (h *hostCalls) httpRequest(ctx context.Context, req []byte) []byte {
	var r abi.HTTPRequest
	if err := StrictJSON(req, &r); err != nil {
		return fail(abi.CodeBadRequest, "http_request: malformed request")
	}
	res, err := h.svc.Egress.Do(ctx, r, h.grant.HTTPHosts())
	if err != nil {
		code := abi.CodeForbidden
		switch {
		case errors.Is(err, egress.ErrBadRequest):
			code = abi.CodeBadRequest
		case errors.Is(err, egress.ErrTooLarge):
			code = abi.CodeTooLarge
		case errors.Is(err, egress.ErrTimeout):
			code = abi.CodeUnavailable
		case errors.Is(err, egress.ErrAddressRefused), errors.Is(err, egress.ErrHostNotAllowed), errors.Is(err, egress.ErrTooManyRedirects):
			code = abi.CodeForbidden
		default:
			code = abi.CodeUnavailable
		}
		h.record(ctx, "egress", "deny", err.Error())
		return fail(code, err.Error())
	}
	host := ""
	if u, err := url.Parse(res.FinalURL); err == nil {
		host = u.Host
	}
	h.record(ctx, "egress", "allow", "host "+host)
	return answer(res.Response)
}
