package intent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/budget"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/egress"
	"github.com/airlock-dev/airlock/host/fsroot"
	"github.com/airlock-dev/airlock/host/mail"
	"github.com/airlock-dev/airlock/host/monitor"
	"github.com/airlock-dev/airlock/host/registry"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/host/vault"
)

// Per-invocation caps on the log host function.
const (
	maxLogCalls   = 100
	maxLogMessage = 4 << 10
)

// Request headers a tool may never set: credentials come only from the
// vault, injected by the host for bound hosts.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie"}

// hostCalls serves the host functions of one invocation. It implements
// runtime.HostHandler.
type hostCalls struct {
	svc    *Service
	call   *call
	tool   string
	plugin *registry.Plugin
	out    *Outcome

	// start is this invocation's invoke entry, written by ensureStart
	// before the first host call; parent is its index once written.
	startMu  sync.Mutex
	start    audit.Entry
	started  bool
	startErr error
	parent   int64

	logs atomic.Int32

	scanOnce sync.Once
	scanner  *vault.Scanner // the granted secret values; nil when none
	scanErr  error
}

// Allowed links a host function only when the grant gives its capability.
func (h *hostCalls) Allowed(fn abi.Function) bool {
	return fn.Known() && h.call.grant.Allows(fn.Capability())
}

// Denied records a call to a host function the grant does not give.
func (h *hostCalls) Denied(ctx context.Context, fn abi.Function) {
	if h.ensureStart(ctx) != nil {
		return
	}
	h.record(ctx, "host_call", "deny", "host function "+string(fn)+" not granted")
}

// ensureStart writes the invocation's invoke entry, once, before anything
// the tool asks of the host happens. Every host call waits for it.
func (h *hostCalls) ensureStart(ctx context.Context) error {
	h.startMu.Lock()
	defer h.startMu.Unlock()
	if h.started {
		return h.startErr
	}
	h.started = true
	idx, err := h.svc.appendOne(ctx, h.start)
	if err != nil {
		h.startErr = err // run reports it (auditFailure) once the tool returns
		return err
	}
	h.parent = idx
	if h.out != nil {
		h.out.Seq, h.out.Decision = idx, "allow"
	}
	return nil
}

// startState reports whether ensureStart ran, and its index or error.
func (h *hostCalls) startState() (started bool, idx int64, err error) {
	h.startMu.Lock()
	defer h.startMu.Unlock()
	return h.started, h.parent, h.startErr
}

// record writes an audit entry about this invocation's host calls. A
// denial that cannot be recorded is only logged: the action did not happen.
func (h *hostCalls) record(ctx context.Context, action, decision, reason string) error {
	g := h.call.grant
	_, err := h.svc.Audit.Append(ctx, audit.Entry{
		Realm: g.Claims.Realm, Actor: h.call.agent, Action: action, Tool: h.tool,
		Decision: decision, Reason: reason, Request: h.call.request, Grant: g.Claims.Jti, Parent: &h.parent,
	})
	if err != nil {
		h.svc.Logger.Error("audit append failed for host call", "err", err)
	}
	return err
}

// allow records an effect before it happens; when the record cannot be
// written the effect must not happen (fail closed).
func (h *hostCalls) allow(ctx context.Context, action, reason string) []byte {
	if err := h.record(ctx, action, "allow", reason); err != nil {
		return fail(abi.CodeUnavailable, "the audit log is unavailable; nothing was done")
	}
	return nil
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
	if err := h.ensureStart(ctx); err != nil {
		return fail(abi.CodeUnavailable, "audit log unavailable")
	}
	// The runtime links only allowed functions; checked again here so that
	// no path reaches an implementation the grant does not give.
	if !h.Allowed(fn) {
		h.Denied(ctx, fn)
		return fail(abi.CodeForbidden, "host function "+string(fn)+" not granted")
	}
	// Revocation reaches running tools: every call re-checks the grant,
	// the agent and the tool's publisher (one query).
	g := h.call.grant
	sub, revoked, err := h.svc.Revocations.RevokedAny(ctx, g.Claims.Realm,
		store.Subject{Kind: store.KindGrant, ID: g.Claims.Jti}, store.Subject{Kind: store.KindAgent, ID: g.Claims.Sub},
		store.Subject{Kind: store.KindPublisher, ID: h.plugin.Record.Publisher})
	switch {
	case err != nil:
		h.record(ctx, "host_call", "deny", string(fn)+": revocation store unavailable")
		return fail(abi.CodeUnavailable, "revocation state unavailable")
	case revoked && sub.Kind == store.KindPublisher:
		h.record(ctx, "host_call", "deny", string(fn)+": publisher revoked")
		return fail(abi.CodeForbidden, "the tool's publisher was revoked")
	case revoked:
		h.record(ctx, "host_call", "deny", string(fn)+": "+reasonOf(revokedError(sub.Kind)))
		return fail(abi.CodeGrantRevoked, "the grant or agent was revoked")
	}
	switch fn {
	case abi.FuncLog:
		return h.log(ctx, req)
	case abi.FuncHTTPRequest:
		return h.httpRequest(ctx, req)
	case abi.FuncFSRead, abi.FuncFSWrite, abi.FuncFSList:
		return h.files(ctx, fn, req)
	case abi.FuncMailSend:
		return h.mailSend(ctx, req)
	case abi.FuncToolCall:
		return h.toolCall(ctx, req)
	case abi.FuncSecretPresent:
		return h.secretPresent(ctx, req)
	case abi.FuncMemoryPut, abi.FuncMemoryQuery, abi.FuncMemoryDelete:
		return h.memoryCall(ctx, fn, req)
	default:
		return fail(abi.CodeUnavailable, "host function "+string(fn)+" is not available on this host yet")
	}
}

func (h *hostCalls) log(ctx context.Context, req []byte) []byte {
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
	// a tool's log line is data it controls: it passes the leak scanner too
	if sc := h.secretScanner(ctx); sc != nil {
		if _, found := sc.Find([]byte(msg)); found {
			return fail(abi.CodeForbidden, "log: message carries a credential")
		}
	}
	attrs := []any{"tool", h.tool, "agent", h.call.agent, "request", h.call.request, "message", msg}
	lg := h.svc.Logger
	switch l.Level {
	case abi.LogDebug:
		lg.Debug("tool log", attrs...)
	case abi.LogInfo, "":
		lg.Info("tool log", attrs...)
	case abi.LogWarn:
		lg.Warn("tool log", attrs...)
	case abi.LogError:
		lg.Error("tool log", attrs...)
	default:
		return fail(abi.CodeBadRequest, "log: unknown level")
	}
	return answer(abi.Empty{})
}

// secretScanner returns a scanner over the values of the secrets the grant
// names, loaded once per invocation; nil when there are none.
func (h *hostCalls) secretScanner(ctx context.Context) *vault.Scanner {
	h.scanOnce.Do(func() {
		v := h.svc.Vault
		names := h.call.grant.Claims.Caps.Secrets
		if v == nil || len(names) == 0 {
			return
		}
		var values []vault.Secret
		for _, name := range names {
			sec, err := v.Get(ctx, h.call.grant.Claims.Realm, name)
			if errors.Is(err, vault.ErrNotFound) {
				continue
			}
			if err != nil {
				h.scanErr = err
				return
			}
			values = append(values, sec)
		}
		if len(values) > 0 {
			h.scanner = vault.NewScanner(values)
		}
	})
	return h.scanner
}

// scanOutput blocks a tool output that carries a granted secret value.
func (h *hostCalls) scanOutput(ctx context.Context, output []byte) error {
	sc := h.secretScanner(ctx)
	if h.scanErr != nil {
		return fmt.Errorf("%w: vault unavailable", ErrUnavailable)
	}
	if sc == nil {
		return nil
	}
	if _, found := sc.Find(output); found {
		h.record(ctx, "dlp", "deny", "tool output carried a credential")
		return fmt.Errorf("%w: the tool's output carried a credential", ErrOutputBlocked)
	}
	return nil
}

func (h *hostCalls) httpRequest(ctx context.Context, req []byte) []byte {
	var r abi.HTTPRequest
	if err := StrictJSON(req, &r); err != nil {
		return fail(abi.CodeBadRequest, "http_request: malformed request")
	}
	g := h.call.grant
	realm, agent := g.Claims.Realm, h.call.agent
	if h.svc.Usage == nil && h.call.budget.EgressBytesPerDay > 0 {
		return fail(abi.CodeUnavailable, "egress budgets are not available on this host")
	}
	if err := budget.CheckEgress(ctx, h.svc.Usage, realm, agent, h.call.budget.EgressBytesPerDay, h.svc.now()); err != nil {
		h.record(ctx, "egress", "deny", reasonOf(err))
		if errors.Is(err, budget.ErrExceeded) {
			return fail(abi.CodeBudgetExceeded, "egress budget for today is spent")
		}
		return fail(abi.CodeUnavailable, "budget state unavailable")
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return fail(abi.CodeBadRequest, "http_request: malformed url")
	}
	// Credentials come only from the vault: drop any the tool set.
	headers := map[string]string{}
	for k, v := range r.Headers {
		if !isCredentialHeader(k) {
			headers[k] = v
		}
	}
	sc := h.secretScanner(ctx)
	if h.scanErr != nil {
		return fail(abi.CodeUnavailable, "vault unavailable")
	}
	if sc != nil {
		// a tool cannot learn a value, but it may have been handed one: never let it leave
		var out []byte
		out = append(out, r.URL...)
		for k, v := range headers {
			out = append(out, k...)
			out = append(out, v...)
		}
		out = append(out, r.Body...)
		if _, found := sc.Find(out); found {
			h.record(ctx, "dlp", "deny", "outgoing request carried a credential")
			return fail(abi.CodeForbidden, "http_request: the request carries a credential")
		}
	}
	if label, found, err := h.svc.egressSecrets(ctx, realm, r.URL, r.Body); err != nil {
		return fail(abi.CodeUnavailable, "policy unavailable")
	} else if found {
		h.record(ctx, "dlp", "deny", "outgoing request carried "+label)
		return fail(abi.CodeForbidden, "http_request: the request carries a credential")
	}
	if !g.HTTPHosts().Allow(u) {
		h.record(ctx, "egress", "deny", fmt.Sprintf("egress: %v: %s", egress.ErrHostNotAllowed, u.Host))
		return fail(abi.CodeForbidden, "http_request: host not in the grant's caps.http.hosts")
	}
	if err := h.inject(ctx, u, headers); err != nil {
		return fail(abi.CodeUnavailable, "vault unavailable")
	}
	r.Headers = headers
	if refused := h.allow(ctx, "egress", "host "+u.Host); refused != nil {
		return refused
	}
	res, err := h.svc.Egress.Do(ctx, r, g.HTTPHosts())
	if err != nil {
		code := abi.CodeUnavailable
		switch {
		case errors.Is(err, egress.ErrBadRequest):
			code = abi.CodeBadRequest
		case errors.Is(err, egress.ErrTooLarge):
			code = abi.CodeTooLarge
		case errors.Is(err, egress.ErrAddressRefused), errors.Is(err, egress.ErrHostNotAllowed), errors.Is(err, egress.ErrTooManyRedirects):
			code = abi.CodeForbidden
		}
		h.record(ctx, "egress", "deny", err.Error())
		return fail(code, err.Error())
	}
	h.svc.observe(ctx, monitor.Event{Realm: realm, Agent: agent, Tool: h.tool, Decision: "allow",
		EgressHost: u.Hostname(), EgressBytes: res.BytesSent + res.BytesRecv})
	if h.svc.Usage != nil {
		if _, err := h.svc.Usage.AddEgress(ctx, realm, agent, budget.Day(h.svc.now()), res.BytesSent+res.BytesRecv); err != nil {
			h.svc.Logger.Error("egress budget update failed", "err", err)
		}
	}
	if sc != nil {
		// an upstream that echoes the credential must not hand it to the sandbox
		var in []byte
		for k, v := range res.Response.Headers {
			in = append(in, k...)
			in = append(in, v...)
		}
		in = append(in, res.Response.Body...)
		if _, found := sc.Find(in); found {
			h.record(ctx, "dlp", "deny", "response carried a credential; withheld from the tool")
			return fail(abi.CodeForbidden, "http_request: the response carried a credential and was withheld")
		}
	}
	return answer(res.Response)
}

func isCredentialHeader(k string) bool {
	ck := textproto.CanonicalMIMEHeaderKey(k)
	for _, c := range credentialHeaders {
		if ck == c {
			return true
		}
	}
	return false
}

// inject adds the vault credentials the manifest binds to u's host and the
// grant allows. A binding whose hosts do not match u is never injected.
func (h *hostCalls) inject(ctx context.Context, u *url.URL, headers map[string]string) error {
	v := h.svc.Vault
	if v == nil {
		return nil
	}
	for _, b := range h.plugin.Compiled.Manifest.Secrets {
		if !h.call.grant.AllowSecret(b.Name) {
			continue
		}
		hosts, err := egress.CompileHosts(b.Hosts)
		if err != nil || !hosts.Allow(u) {
			continue
		}
		sec, err := v.Get(ctx, h.call.grant.Claims.Realm, b.Name)
		if errors.Is(err, vault.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		for k := range headers {
			if strings.EqualFold(k, b.Header) {
				delete(headers, k)
			}
		}
		headers[b.Header] = strings.Replace(b.Format, "{}", string(sec.Expose()), 1)
	}
	return nil
}

func (h *hostCalls) secretPresent(ctx context.Context, req []byte) []byte {
	var r abi.SecretPresentRequest
	if err := StrictJSON(req, &r); err != nil {
		return fail(abi.CodeBadRequest, "secret_present: malformed request")
	}
	if h.svc.Vault == nil || !h.call.grant.AllowSecret(r.Name) {
		return answer(abi.SecretPresentResponse{Present: false})
	}
	ok, err := h.svc.Vault.Present(ctx, h.call.grant.Claims.Realm, r.Name)
	if err != nil {
		return fail(abi.CodeUnavailable, "vault unavailable")
	}
	return answer(abi.SecretPresentResponse{Present: ok})
}

// files serves fs_read, fs_write and fs_list in the realm's file area,
// confined to the grant's roots.
func (h *hostCalls) files(ctx context.Context, fn abi.Function, req []byte) []byte {
	fs := h.call.grant.Claims.Caps.FS
	area, err := fsroot.Open(h.svc.DataDir, h.call.grant.Claims.Realm, fs.Read, fs.Write)
	if err != nil {
		h.svc.Logger.Error("file area unavailable", "err", err)
		return fail(abi.CodeUnavailable, "file area unavailable")
	}
	defer area.Close()
	var (
		path string
		resp any
	)
	malformed := fail(abi.CodeBadRequest, string(fn)+": malformed request")
	switch fn {
	case abi.FuncFSRead:
		var r abi.FSReadRequest
		if StrictJSON(req, &r) != nil {
			return malformed
		}
		path = r.Path
		var data []byte
		if data, err = area.Read(r.Path); err == nil {
			resp = abi.FSReadResponse{Data: data}
		}
	case abi.FuncFSWrite:
		var r abi.FSWriteRequest
		if StrictJSON(req, &r) != nil {
			return malformed
		}
		path = r.Path
		if refused := h.allow(ctx, "file", string(fn)+" "+h.svc.sensitive(path)); refused != nil {
			return refused
		}
		if err = area.Write(r.Path, r.Data); err == nil {
			resp = abi.Empty{}
		}
	default:
		var r abi.FSListRequest
		if StrictJSON(req, &r) != nil {
			return malformed
		}
		path = r.Path
		var entries []abi.FSEntry
		if entries, err = area.List(r.Path); err == nil {
			if entries == nil {
				entries = []abi.FSEntry{}
			}
			resp = abi.FSListResponse{Entries: entries}
		}
	}
	if err != nil {
		code, msg := fileProblem(err)
		h.record(ctx, "file", "deny", string(fn)+" "+h.svc.sensitive(path)+": "+msg)
		return fail(code, string(fn)+": "+msg)
	}
	return answer(resp)
}

// sensitive renders a guest-chosen string (a file path) for the audit log
// as a keyed HMAC tag: entries stay linkable (the same path gives the same
// tag on this host) without disclosing the path to a log reader.
func (s *Service) sensitive(v string) string {
	if len(s.AuditKey) == 0 {
		return "[withheld]"
	}
	m := hmac.New(sha256.New, s.AuditKey)
	m.Write([]byte(v))
	return "hmac:" + hex.EncodeToString(m.Sum(nil)[:16])
}

func fileProblem(err error) (abi.Code, string) {
	switch {
	case errors.Is(err, fsroot.ErrInvalid):
		return abi.CodeBadRequest, "invalid path"
	case errors.Is(err, fsroot.ErrDenied):
		return abi.CodeForbidden, "path outside the granted roots"
	case errors.Is(err, fsroot.ErrNotFound):
		return abi.CodeNotFound, "no such file"
	case errors.Is(err, fsroot.ErrTooLarge):
		return abi.CodeTooLarge, "file too large"
	}
	return abi.CodeUnavailable, "file area unavailable"
}

func (h *hostCalls) mailSend(ctx context.Context, req []byte) []byte {
	var r abi.MailSendRequest
	if err := StrictJSON(req, &r); err != nil {
		return fail(abi.CodeBadRequest, "mail_send: malformed request")
	}
	allow, err := mail.CompileRecipients(h.call.grant.Claims.Caps.Mail.To)
	if err != nil {
		return fail(abi.CodeForbidden, "mail_send: the grant's recipient list is invalid")
	}
	if sc := h.secretScanner(ctx); sc != nil {
		if _, found := sc.Find([]byte(r.Subject + "\n" + r.Body)); found {
			h.record(ctx, "mail", "deny", "message carried a credential")
			return fail(abi.CodeForbidden, "mail_send: the message carries a credential")
		}
	}
	for _, to := range r.To {
		if !allow.Allow(to) {
			h.record(ctx, "mail", "deny", "recipient not in caps.mail.to")
			return fail(abi.CodeForbidden, "mail_send: a recipient is not in the grant's caps.mail.to")
		}
	}
	if refused := h.allow(ctx, "mail", fmt.Sprintf("%d recipient(s)", len(r.To))); refused != nil {
		return refused
	}
	err = mail.Send(ctx, h.svc.Mail, allow, mail.Message{To: r.To, Subject: r.Subject, Body: r.Body})
	if err != nil {
		code := abi.CodeUnavailable
		switch {
		case errors.Is(err, mail.ErrRecipient):
			code = abi.CodeForbidden
		case errors.Is(err, mail.ErrInvalid):
			code = abi.CodeBadRequest
		}
		h.record(ctx, "mail", "deny", err.Error())
		return fail(code, err.Error())
	}
	return answer(abi.Empty{})
}

// toolCall runs a nested call under the caller's grant: the callee must be
// in caps.call, gets no capability the grant does not give, and is bounded
// in depth and fan-out.
func (h *hostCalls) toolCall(ctx context.Context, req []byte) []byte {
	var r abi.ToolCallRequest
	if err := StrictJSON(req, &r); err != nil {
		return fail(abi.CodeBadRequest, "tool_call: malformed request")
	}
	c := h.call
	if !c.grant.AllowCall(r.Tool) {
		h.record(ctx, "tool_call", "deny", "tool "+r.Tool+" not in caps.call")
		return fail(abi.CodeForbidden, "tool_call: "+r.Tool+" is not in the grant's caps.call")
	}
	if c.depth+1 > MaxDepth {
		h.record(ctx, "tool_call", "deny", "nesting too deep")
		return fail(abi.CodeForbidden, fmt.Sprintf("tool_call: nested calls are limited to depth %d", MaxDepth))
	}
	if c.nested.Add(1) > MaxFanout {
		h.record(ctx, "tool_call", "deny", "too many nested calls")
		return fail(abi.CodeBudgetExceeded, fmt.Sprintf("tool_call: at most %d nested calls per intent", MaxFanout))
	}
	if len(r.Input) == 0 {
		r.Input = json.RawMessage("{}")
	}
	child := &call{grant: c.grant, agent: c.agent, request: c.request, depth: c.depth + 1, parent: &h.parent, nested: c.nested}
	out, err := h.svc.run(ctx, child, r.Tool, r.Input, &Outcome{})
	if err != nil {
		return fail(codeOf(err), err.Error())
	}
	return answer(abi.ToolCallResponse{Output: out})
}

// codeOf maps a run error to the problem code a nested caller sees.
func codeOf(err error) abi.Code {
	var te *ToolError
	switch {
	case errors.As(err, &te):
		return abi.CodeToolFailed
	case errors.Is(err, ErrForbidden):
		return abi.CodeForbidden
	case errors.Is(err, ErrNotFound):
		return abi.CodeNotFound
	case errors.Is(err, ErrRevoked):
		return abi.CodeGrantRevoked
	case errors.Is(err, ErrOutputBlocked):
		return abi.CodeOutputBlocked
	case errors.Is(err, ErrBadRequest):
		return abi.CodeBadRequest
	case errors.Is(err, budget.ErrExceeded):
		return abi.CodeBudgetExceeded
	}
	if errors.Is(err, bundle.ErrSchema) {
		return abi.CodeSchemaViolation
	}
	return abi.CodeUnavailable
}
