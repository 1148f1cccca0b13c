// Package intent runs an agent's signed intent through the whole decision
// path: grant verification, revocation, tool gating, input schema, the
// sandboxed run with the host functions the grant allows, output checks and
// the audit record. The HTTP layer authenticates the request proof and hands
// the verified proof and body to [Service.Invoke].
//
// # Security
//
// Deny wins at every step, and every decision is written to the audit log
// before its effect: an intent is recorded as allowed before the tool runs,
// so if the audit log cannot be written the tool never runs (fail closed).
// Host functions are gated per invocation from the grant; revocations are
// re-checked at every host-function call, so a grant or agent revoked while a
// tool runs loses its capabilities at the next call.
package intent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/budget"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/egress"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/mail"
	"github.com/airlock-dev/airlock/host/memory"
	"github.com/airlock-dev/airlock/host/registry"
	"github.com/airlock-dev/airlock/host/runtime"
	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/host/strictjson"
	"github.com/airlock-dev/airlock/host/vault"
)

// Decision errors. The HTTP layer maps each to one problem code.
var (
	ErrBadRequest  = errors.New("intent: bad request")
	ErrForbidden   = errors.New("intent: forbidden")
	ErrRevoked     = errors.New("intent: grant revoked")
	ErrNotFound    = errors.New("intent: not found")
	ErrUnavailable = errors.New("intent: unavailable")
	// ErrOutputBlocked: the output carried a credential and was withheld.
	ErrOutputBlocked = errors.New("intent: output blocked")
)

// Request is the decoded body of POST /v1/intents.
type Request struct {
	Tool  string          `json:"tool"`
	Input json.RawMessage `json:"input"`
	Grant string          `json:"grant"`
	Chain []string        `json:"chain,omitempty"`
}

// Result is the answer to an allowed intent. A held intent is Pending: the
// server answers 202 {"id", "status": "pending"} instead.
type Result struct {
	ID      string          `json:"id"`
	Output  json.RawMessage `json:"output"`
	Flags   []string        `json:"flags"`
	Pending bool            `json:"-"`
}

// ToolError is a tool failure (tool_failed) with its reason.
type ToolError struct {
	Reason  abi.FailureReason
	Message string
}

func (e *ToolError) Error() string {
	return "intent: tool failed: " + string(e.Reason) + ": " + e.Message
}

// Limits are the host maximums.
type Limits struct {
	MemoryMB    int
	TimeoutMS   int
	OutputBytes int
}

// Revocations answers revocation questions (the store).
type Revocations interface {
	// RevokedAny reports the first of subjects, in order, revoked in realm.
	RevokedAny(ctx context.Context, realm string, subjects ...store.Subject) (store.Subject, bool, error)
}

// Service runs intents. All fields are required unless noted.
type Service struct {
	Grants      *grant.Verifier
	Registry    *registry.Registry
	Engine      *runtime.Engine
	Audit       audit.Appender
	Replay      ReplayStore // records jtis for InvokeFresh; nil: only Invoke
	Revocations Revocations
	Egress      *egress.Client
	Vault       *vault.Vault   // nil: no secrets on this host
	Memory      *memory.Store  // nil: no agent memory on this host
	Approvals   Approvals      // nil: tools needing approval are refused
	Governance  *Governance    // nil: DESIGN §9 default policy, no monitoring
	AuditKey    []byte         // per-host HMAC key for sensitive strings in audit entries
	Calls       *budget.Calls  // calls-per-minute budgets
	Usage       budget.Counter // durable egress budgets
	DataDir     string         // file areas live in DataDir/files/<realm>
	Mail        mail.Config    // SMTP relay for mail_send
	Limits      Limits
	Logger      *slog.Logger
	Now         func() time.Time // nil → time.Now

	// Concurrency bounds the tools running at once (0 → 2×GOMAXPROCS).
	Concurrency int

	callsOnce sync.Once
	slotsOnce sync.Once
	slots     chan struct{}
}

// Outcome is what Invoke reports besides the result: the audit index of the
// last decision (for the receipt) and the tool id and decision (for metrics).
type Outcome struct {
	Flags    []string // output filter flags of the intent
	Blocked  bool     // the output was blocked as carrying a credential
	Seq      int64
	Tool     string
	Decision string
}

// acquire takes one of the host's run slots (Concurrency, default twice the
// number of CPUs).
func (s *Service) acquire(ctx context.Context) (func(), error) {
	s.slotsOnce.Do(func() {
		n := s.Concurrency
		if n <= 0 {
			n = 2 * goruntime.GOMAXPROCS(0)
		}
		s.slots = make(chan struct{}, n)
	})
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// calls returns the call limiter (a private one when none was given).
func (s *Service) calls() *budget.Calls {
	s.callsOnce.Do(func() {
		if s.Calls == nil {
			s.Calls = &budget.Calls{}
		}
	})
	return s.Calls
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// DecodeRequest decodes an intent body strictly.
func DecodeRequest(body []byte) (*Request, error) {
	var req Request
	if err := StrictJSON(body, &req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if req.Tool == "" || req.Grant == "" {
		return nil, fmt.Errorf("%w: tool and grant are required", ErrBadRequest)
	}
	if len(req.Input) == 0 {
		req.Input = json.RawMessage("{}")
	}
	return &req, nil
}

// StrictJSON decodes data into v refusing unknown fields and trailing data.
// When v points to a struct, the members of the top-level object must also
// be named exactly as the struct's JSON fields, each at most once.
func StrictJSON(data []byte, v any) error {
	flat, err := checkMembers(data, v)
	if err != nil {
		return err
	}
	if flat {
		// Exactly one valid object, each member an exact field name, no
		// struct below: nothing is left for DisallowUnknownFields or the
		// trailing data check to refuse.
		return json.Unmarshal(data, v)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// checkMembers refuses, in a top-level JSON object to be decoded into the
// struct v points to, a member named twice or a member whose name is not
// exactly one of the struct's JSON field names. encoding/json would match
// such a name case-insensitively and keep the last of duplicates: a parser
// differential with any other reader of the same signed bytes. Anything
// that is not exactly one valid object is left for the decoder to refuse.
//
// flat reports that data is exactly one valid object whose members all
// name fields of a flat struct: no embedded field, field names plain and
// distinct (so encoding/json's fields are the ones named here) and no
// struct anywhere in a field's type (so no unknown field can hide below).
func checkMembers(data []byte, v any) (flat bool, err error) {
	t := reflect.TypeOf(v)
	flat = t != nil && t.Kind() == reflect.Pointer
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return false, nil
	}
	// noStruct reports a type with no struct in it, looking a few levels
	// deep only (a recursive type is not flat). An interface may hold a
	// pointer to a struct, which encoding/json decodes into.
	noStruct := func(t reflect.Type) bool {
		for range 8 {
			switch t.Kind() {
			case reflect.Struct, reflect.Interface:
				return false
			case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
				t = t.Elem()
			default:
				return true
			}
		}
		return false
	}
	var buf [16]string
	names := buf[:0]
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		flat = flat && !f.Anonymous
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			if tag == "-" {
				continue
			}
			if n, _, _ := strings.Cut(tag, ","); n != "" {
				name = n
			}
		}
		flat = flat && !slices.Contains(names, name) && noStruct(f.Type) &&
			strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == ""
		names = append(names, name)
	}
	members, err := strictjson.Members(data)
	if dup, ok := errors.AsType[*strictjson.DuplicateError](err); ok {
		return false, fmt.Errorf("json: duplicate field %q", dup.Name)
	}
	if err != nil {
		return false, nil // malformed, not an object or trailing data: the decoder reports it
	}
	for _, m := range members {
		if !slices.Contains(names, m.Name) {
			return false, fmt.Errorf("json: unknown field %q", m.Name)
		}
	}
	return flat, nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// call is one invocation in a tree of nested calls: the top-level intent
// and every tool_call below it run under the same grant and agent.
type call struct {
	approved bool         // an operator approved this intent: the approval gate is passed
	budget   grant.Budget // the grant's budget over the realm's policy defaults
	grant    *grant.Grant
	agent    string
	request  string // request proof jti
	depth    int    // 0 for the intent itself
	parent   *int64 // audit index of the parent's invoke entry (nil at the top)
	nested   *atomic.Int32
}

// Nested-call limits.
const (
	MaxDepth  = 4  // tool → tool → … at most this deep below the intent
	MaxFanout = 16 // nested calls in one intent's whole tree
)

// Invoke runs one intent for the agent that signed proof. On error the
// Outcome still carries the audit index of the denial.
func (s *Service) Invoke(ctx context.Context, proof *identity.Proof, body []byte) (*Result, *Outcome, error) {
	ctx = withPolicyMemo(ctx)
	out := &Outcome{Seq: -1, Decision: "deny"}
	entry := audit.Entry{Actor: proof.Iss, Action: "invoke", Request: proof.Jti, InputSHA256: sha(body)}
	deny := func(err error) (*Result, *Outcome, error) {
		return nil, out, s.denied(ctx, entry, out, err)
	}
	req, err := DecodeRequest(body)
	if err != nil {
		return deny(err)
	}
	entry.Tool, entry.InputSHA256 = req.Tool, sha(req.Input)
	out.Tool = req.Tool
	g, err := s.admit(ctx, &entry, req, proof.Iss)
	if err != nil {
		return deny(err)
	}
	defer func() { s.observeIntent(ctx, g.Claims.Realm, proof.Iss, req.Tool, out) }()
	if !g.AllowTool(req.Tool) {
		return deny(fmt.Errorf("%w: tool %s is not in the grant", ErrForbidden, req.Tool))
	}
	c := &call{grant: g, agent: proof.Iss, request: proof.Jti, nested: new(atomic.Int32)}
	output, err := s.run(ctx, c, req.Tool, req.Input, out)
	if errors.Is(err, errNeedsApproval) {
		res, o, err := s.hold(ctx, c, req.Tool, body, out)
		return res, o, err
	}
	if err != nil {
		return nil, out, err
	}
	id, err := identity.NewJTI()
	if err != nil {
		return nil, out, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	flags := out.Flags
	if flags == nil {
		flags = []string{}
	}
	return &Result{ID: id, Output: json.RawMessage(output), Flags: flags}, out, nil
}

// denied audits a refusal and returns err, or unavailable when the refusal
// cannot be recorded.
func (s *Service) denied(ctx context.Context, e audit.Entry, out *Outcome, err error) error {
	e.Decision, e.Reason = "deny", reasonOf(err)
	if aerr := s.recordDecision(ctx, e, out, "deny"); aerr != nil {
		return aerr
	}
	return err
}

// run gates, runs and audits one tool call of c (the intent itself or a
// nested tool_call) and returns the checked output.
func (s *Service) run(ctx context.Context, c *call, toolID string, input json.RawMessage, out *Outcome) ([]byte, error) {
	g := c.grant
	realm := g.Claims.Realm
	entry := audit.Entry{Realm: realm, Actor: c.agent, Action: "invoke", Tool: toolID, Request: c.request,
		Grant: g.Claims.Jti, InputSHA256: sha(input), Parent: c.parent}
	if c.depth > 0 {
		entry.Action = "tool_call"
	}
	deny := func(err error) ([]byte, error) { return nil, s.denied(ctx, entry, out, err) }

	pol, err := s.policyFor(ctx, realm)
	if err != nil {
		return deny(err)
	}
	c.budget = effectiveBudget(g, pol)
	if pol.Denied(toolID) {
		return deny(fmt.Errorf("%w: the realm's policy denies tool %s", ErrForbidden, toolID))
	}
	if err := s.calls().AllowContext(ctx, realm, c.agent, c.budget.CallsPerMinute, s.now()); err != nil {
		return deny(err)
	}
	tool, err := s.Registry.Tool(realm, toolID)
	if err != nil {
		return deny(fmt.Errorf("%w: tool %s", ErrNotFound, toolID))
	}
	if _, revoked, err := s.Revocations.RevokedAny(ctx, realm, store.Subject{Kind: store.KindPublisher, ID: tool.Plugin.Record.Publisher}); err != nil {
		return deny(fmt.Errorf("%w: revocation store: %v", ErrUnavailable, err))
	} else if revoked {
		return deny(fmt.Errorf("%w: the tool's publisher is revoked", ErrForbidden))
	}
	for _, cp := range tool.Tool.Tool.Capabilities {
		if !g.Allows(cp) {
			return deny(fmt.Errorf("%w: tool %s needs capability %s, which the grant does not give", ErrForbidden, toolID, cp))
		}
	}
	if (tool.Tool.Tool.Approval || g.NeedsApproval(toolID) || pol.NeedsApproval(toolID)) && !c.approved {
		if c.depth > 0 {
			return deny(fmt.Errorf("%w: tool %s needs human approval and cannot be called from another tool", ErrForbidden, toolID))
		}
		return nil, errNeedsApproval
	}
	value, err := jsonschema.UnmarshalJSON(bytes.NewReader(input))
	if err != nil {
		return deny(fmt.Errorf("%w: input is not JSON", ErrBadRequest))
	}
	if err := tool.Tool.ValidateInput(value); err != nil {
		return deny(err)
	}

	// The decision to run is recorded before the tool can have any effect:
	// before its first host call (hostCalls.ensureStart) or, for a tool that
	// makes none, in one commit with its result, before the output leaves.
	entry.Decision, entry.Reason = "allow", "started"
	h := &hostCalls{svc: s, call: c, tool: toolID, plugin: tool.Plugin, start: entry, out: out}
	// Wait for a run slot before the tool's clock starts, so a busy host
	// queues calls instead of timing them out. Nested calls already hold
	// their parent's slot and must not wait for another (no deadlock).
	// The slot is held while the tool runs, not while its result commits:
	// an intent waiting for the commit uses no CPU, and the commit waits
	// for the intents still running (sqldb.DB.Expect).
	//
	// An intent that waits for a slot or runs its tool longer than a
	// commit would wait for it stops being waited for
	// (sqldb.WithdrawAfter): otherwise every commit meanwhile would wait
	// the whole delay for an intent that is not coming soon.
	stopWithdraw := sqldb.WithdrawAfter(ctx, sqldb.MaxCommitDelay())
	release := func() {}
	if c.depth == 0 {
		var err error
		if release, err = s.acquire(ctx); err != nil {
			stopWithdraw()
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	output, runErr := s.Engine.Invoke(ctx, tool.Plugin.Module, runtime.Call{
		Export: tool.Tool.Tool.Name,
		Input:  input,
		Limits: s.effectiveLimits(tool.Plugin.Compiled.Manifest, c.budget),
		Host:   h,
	})
	stopWithdraw()
	release()
	result := entry
	result.Action, result.Reason = "result", ""
	var failure error
	if runErr != nil {
		var f *runtime.Failure
		if errors.As(runErr, &f) {
			failure = &ToolError{Reason: f.Reason, Message: f.Message}
		} else {
			failure = &ToolError{Reason: abi.ReasonTrap, Message: "the tool could not be run"}
			s.Logger.Error("invoke failed", "tool", toolID, "err", runErr)
		}
	} else {
		result.OutputSHA256 = sha(output)
		failure = checkOutput(tool.Tool, output)
		if failure == nil {
			failure = h.scanOutput(ctx, output)
		}
		if failure == nil {
			var flags []string
			output, flags, failure = s.filterOutput(ctx, realm, output)
			out.Flags = flags
			if len(flags) > 0 {
				result.Reason = strings.Join(flags, " ")
			}
		}
	}
	if errors.Is(failure, ErrOutputBlocked) {
		out.Blocked = true
	}
	if failure != nil {
		result.Decision, result.Reason = "failed", reasonOf(failure)
	} else {
		result.Decision = "done"
	}
	var idx int64
	if started, startIdx, startErr := h.startState(); started {
		if startErr != nil {
			return nil, s.auditFailure(out, startErr, "withholding output")
		}
		result.Parent = &startIdx
		if idx, err = s.appendOne(ctx, result); err != nil {
			return nil, s.auditFailure(out, err, "withholding output")
		}
	} else {
		rel := int64(-1)
		result.Parent = &rel
		both, err := s.appendAll(ctx, entry, result)
		if err != nil {
			return nil, s.auditFailure(out, err, "withholding output")
		}
		idx = both[1]
	}
	out.Seq = idx
	if failure != nil {
		out.Decision = "failed"
		return nil, failure
	}
	out.Decision = "done"
	return output, nil
}

func checkOutput(t *bundle.CompiledTool, output []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(output))
	if err != nil || !json.Valid(output) {
		return &ToolError{Reason: abi.ReasonOutputSchema, Message: "tool output is not a single JSON value"}
	}
	if err := t.ValidateOutput(v); err != nil {
		return &ToolError{Reason: abi.ReasonOutputSchema, Message: "tool output does not match its output schema"}
	}
	return nil
}

// checkRevoked refuses a grant whose jti or agent is revoked.
func (s *Service) checkRevoked(ctx context.Context, g *grant.Grant) error {
	return s.revokedAny(ctx, g.Claims.Realm,
		store.Subject{Kind: store.KindGrant, ID: g.Claims.Jti}, store.Subject{Kind: store.KindAgent, ID: g.Claims.Sub})
}

// revokedAny refuses when any of subjects is revoked in realm, naming the
// kind of the first in order that is.
func (s *Service) revokedAny(ctx context.Context, realm string, subjects ...store.Subject) error {
	sub, revoked, err := s.Revocations.RevokedAny(ctx, realm, subjects...)
	if err != nil {
		return fmt.Errorf("%w: revocation store: %v", ErrUnavailable, err)
	}
	if revoked {
		return revokedError(sub.Kind)
	}
	return nil
}

// revokedError is the refusal of a revoked subject of kind.
func revokedError(kind store.RevocationKind) error {
	return fmt.Errorf("%w: %s revoked", ErrRevoked, kind)
}

// effectiveLimits is the minimum of host maximum, manifest limits and grant budget.
func (s *Service) effectiveLimits(m *bundle.Manifest, b grant.Budget) runtime.Limits {
	mem := minPositive(s.Limits.MemoryMB, m.Limits.MemoryMB, b.MemoryMB)
	timeout := minPositive(s.Limits.TimeoutMS, m.Limits.TimeoutMS, b.TimeoutMS)
	return runtime.Limits{
		MemoryPages:    uint32(mem) * 16, // 64 KiB pages
		Timeout:        time.Duration(timeout) * time.Millisecond,
		MaxOutputBytes: s.Limits.OutputBytes,
	}
}

func minPositive(vals ...int) int {
	best := 0
	for _, v := range vals {
		if v > 0 && (best == 0 || v < best) {
			best = v
		}
	}
	return best
}

// reasonOf renders an error as the short reason stored in the audit log.
func reasonOf(err error) string {
	var te *ToolError
	if errors.As(err, &te) {
		return string(te.Reason)
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}
