package intent

import (
	"context"
	"errors"
	"fmt"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/budget"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/memory"
)

// memoryProblem maps a memory error to a problem code.
func memoryProblem(err error) (abi.Code, string) {
	switch {
	case errors.Is(err, memory.ErrInvalid):
		return abi.CodeBadRequest, err.Error()
	case errors.Is(err, memory.ErrQuota):
		return abi.CodeBudgetExceeded, "memory quota reached"
	}
	return abi.CodeUnavailable, "memory unavailable"
}

// memoryCall serves memory_put, memory_query and memory_delete for a tool:
// always the calling agent's own store in the grant's realm. No argument
// names a store.
func (h *hostCalls) memoryCall(ctx context.Context, fn abi.Function, req []byte) []byte {
	if h.svc.Memory == nil {
		return fail(abi.CodeUnavailable, "agent memory is not available on this host")
	}
	g := h.call.grant
	realm, agent := g.Claims.Realm, h.call.agent
	malformed := fail(abi.CodeBadRequest, string(fn)+": malformed request")
	var (
		resp any
		err  error
	)
	switch fn {
	case abi.FuncMemoryPut:
		var r abi.MemoryPutRequest
		if StrictJSON(req, &r) != nil {
			return malformed
		}
		if refused := h.allow(ctx, "memory", fmt.Sprintf("%s %d document(s)", fn, len(r.Documents))); refused != nil {
			return refused
		}
		prov := memory.Provenance{Source: "tool:" + h.tool, Request: h.call.request, At: h.svc.now()}
		err, resp = h.svc.Memory.Put(ctx, realm, agent, r.Documents, prov, maxDocs(g)), abi.Empty{}
	case abi.FuncMemoryQuery:
		var r abi.MemoryQueryRequest
		if StrictJSON(req, &r) != nil {
			return malformed
		}
		var res []abi.MemoryResult
		res, err = h.svc.Memory.Query(ctx, realm, agent, r.Query, r.K, r.Where)
		flagMemory(res)
		resp = abi.MemoryQueryResponse{Results: res}
	default:
		var r abi.MemoryDeleteRequest
		if StrictJSON(req, &r) != nil {
			return malformed
		}
		if refused := h.allow(ctx, "memory", fmt.Sprintf("%s %d id(s)", fn, len(r.IDs))); refused != nil {
			return refused
		}
		err, resp = h.svc.Memory.Delete(ctx, realm, agent, r.IDs), abi.Empty{}
	}
	if err != nil {
		code, msg := memoryProblem(err)
		h.record(ctx, "memory", "deny", string(fn)+": "+msg)
		return fail(code, string(fn)+": "+msg)
	}
	return answer(resp)
}

// MemoryOp is one of the agent memory endpoints.
type MemoryOp string

// The memory endpoints of DESIGN §4.
const (
	MemoryPut    MemoryOp = "put"
	MemoryQuery  MemoryOp = "query"
	MemoryDelete MemoryOp = "delete"
)

// memoryRequest is the body of POST /v1/memory/{put,query,delete}.
type memoryRequest struct {
	Grant     string            `json:"grant"`
	Chain     []string          `json:"chain,omitempty"` // a delegated grant's parents, nearest first
	Documents []abi.Document    `json:"documents,omitempty"`
	Query     string            `json:"query,omitempty"`
	K         int               `json:"k,omitempty"`
	Where     map[string]string `json:"where,omitempty"`
	IDs       []string          `json:"ids,omitempty"`
}

// ServeMemory serves the agent memory endpoints for the agent that signed proof:
// its grant must give the memory capability, and the store is always that
// agent's own in the grant's realm.
func (s *Service) ServeMemory(ctx context.Context, op MemoryOp, proof *identity.Proof, body []byte) (any, *Outcome, error) {
	ctx = withPolicyMemo(ctx)
	out := &Outcome{Seq: -1, Decision: "deny"}
	entry := audit.Entry{Actor: proof.Iss, Action: "memory_" + string(op), Request: proof.Jti, InputSHA256: sha(body)}
	deny := func(err error) (any, *Outcome, error) { return nil, out, s.denied(ctx, entry, out, err) }
	var req memoryRequest
	if err := StrictJSON(body, &req); err != nil {
		return deny(fmt.Errorf("%w: %v", ErrBadRequest, err))
	}
	// The grant as for an intent: signature, holder, delegation chain,
	// revocations, quarantine.
	g, err := s.admit(ctx, &entry, &Request{Grant: req.Grant, Chain: req.Chain}, proof.Iss)
	if err != nil {
		return deny(err)
	}
	if !g.Allows(abi.CapMemory) {
		return deny(fmt.Errorf("%w: the grant does not give the memory capability", ErrForbidden))
	}
	if s.Memory == nil {
		return deny(fmt.Errorf("%w: agent memory is not available on this host", ErrUnavailable))
	}
	if err := s.calls().AllowContext(ctx, g.Claims.Realm, proof.Iss, g.Claims.Budget.CallsPerMinute, s.now()); err != nil {
		return deny(err)
	}
	var resp any
	switch op {
	case MemoryPut:
		if len(req.Documents) == 0 || req.Query != "" || req.IDs != nil {
			return deny(fmt.Errorf("%w: put takes grant and documents", ErrBadRequest))
		}
		// recorded before the write: the store changes only once the decision is on the log
		entry.Decision, entry.Reason = "allow", fmt.Sprintf("%d document(s)", len(req.Documents))
		if err := s.recordFirst(ctx, entry, out); err != nil {
			return nil, out, err
		}
		prov := memory.Provenance{Source: "api", Request: proof.Jti, At: s.now()}
		err = s.Memory.Put(ctx, g.Claims.Realm, proof.Iss, req.Documents, prov, maxDocs(g))
		resp = map[string]any{}
	case MemoryQuery:
		if req.Documents != nil || req.IDs != nil {
			return deny(fmt.Errorf("%w: query takes grant, query, k and where", ErrBadRequest))
		}
		var res []abi.MemoryResult
		if res, err = s.Memory.Query(ctx, g.Claims.Realm, proof.Iss, req.Query, req.K, req.Where); err == nil {
			flagMemory(res)
			entry.Decision = "allow"
			if err := s.recordFirst(ctx, entry, out); err != nil {
				return nil, out, err
			}
			resp = abi.MemoryQueryResponse{Results: res}
		}
	case MemoryDelete:
		if len(req.IDs) == 0 || req.Documents != nil || req.Query != "" {
			return deny(fmt.Errorf("%w: delete takes grant and ids", ErrBadRequest))
		}
		entry.Decision, entry.Reason = "allow", fmt.Sprintf("%d id(s)", len(req.IDs))
		if err := s.recordFirst(ctx, entry, out); err != nil {
			return nil, out, err
		}
		err = s.Memory.Delete(ctx, g.Claims.Realm, proof.Iss, req.IDs)
		resp = map[string]any{}
	default:
		return deny(fmt.Errorf("%w: unknown memory operation", ErrBadRequest))
	}
	if err != nil {
		code, msg := memoryProblem(err)
		switch code {
		case abi.CodeBadRequest:
			return deny(fmt.Errorf("%w: %s", ErrBadRequest, msg))
		case abi.CodeBudgetExceeded:
			return deny(fmt.Errorf("%w: %s", errMemoryQuota, msg))
		}
		s.Logger.Error("memory failed", "op", op, "err", err)
		return nil, out, fmt.Errorf("%w: memory unavailable", ErrUnavailable)
	}
	return resp, out, nil
}

// errMemoryQuota is a budget refusal (budget_exceeded).
var errMemoryQuota = fmt.Errorf("%w: memory quota", budget.ErrExceeded)

func maxDocs(g *grant.Grant) int {
	if g.Claims.Caps.Memory == nil {
		return 0
	}
	return g.Claims.Caps.Memory.MaxDocs
}

// recordFirst writes an allow entry before its effect (fail closed).
func (s *Service) recordFirst(ctx context.Context, e audit.Entry, out *Outcome) error {
	return s.recordDecision(ctx, e, out, "allow")
}
