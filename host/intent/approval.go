package intent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/budget"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/store"
)

// Approval gate settings.
const (
	// ApprovalTTL is how long a held intent waits for a decision.
	ApprovalTTL = time.Hour
	// MaxPendingPerAgent caps the intents one agent may have waiting, so a
	// flood of approval requests cannot bury the operators.
	MaxPendingPerAgent = 10
)

// errNeedsApproval is run's signal that the intent must be held.
var errNeedsApproval = errors.New("intent: needs approval")

// Approvals is the store of held intents.
type Approvals interface {
	PutIntent(ctx context.Context, in store.Intent) error
	GetIntent(ctx context.Context, id string) (*store.Intent, error)
	PendingIntents(ctx context.Context, realm string, limit int) ([]store.Intent, error)
	CountPending(ctx context.Context, realm, agent string) (int, error)
	DecideIntent(ctx context.Context, id string, to store.IntentStatus, by string, now time.Time) error
	FinishIntent(ctx context.Context, id string, to store.IntentStatus, output []byte, problem string) error
}

// hold stores an intent that needs human approval, exactly as signed, and
// answers it as pending.
func (s *Service) hold(ctx context.Context, c *call, tool string, body []byte, out *Outcome) (*Result, *Outcome, error) {
	g := c.grant
	entry := audit.Entry{Realm: g.Claims.Realm, Actor: c.agent, Action: "approval_request", Tool: tool,
		Request: c.request, Grant: g.Claims.Jti, InputSHA256: sha(body)}
	if s.Approvals == nil {
		return nil, out, s.denied(ctx, entry, out, fmt.Errorf("%w: tool %s needs human approval and this host has no approval store", ErrForbidden, tool))
	}
	n, err := s.Approvals.CountPending(ctx, g.Claims.Realm, c.agent)
	if err != nil {
		return nil, out, fmt.Errorf("%w: approval store: %v", ErrUnavailable, err)
	}
	if n >= MaxPendingPerAgent {
		return nil, out, s.denied(ctx, entry, out, fmt.Errorf("%w: at most %d intents may wait for approval", budget.ErrExceeded, MaxPendingPerAgent))
	}
	id, err := identity.NewJTI()
	if err != nil {
		return nil, out, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	entry.Decision, entry.Reason = "hold", "waiting for approval; intent "+id
	if err := s.recordFirst(ctx, entry, out); err != nil {
		return nil, out, err
	}
	out.Decision = "hold"
	now := s.now()
	if err := s.Approvals.PutIntent(ctx, store.Intent{ID: id, Realm: g.Claims.Realm, Agent: c.agent, Tool: tool,
		Request: c.request, Body: body, CreatedAt: now, ExpiresAt: now.Add(ApprovalTTL)}); err != nil {
		return nil, out, fmt.Errorf("%w: approval store: %v", ErrUnavailable, err)
	}
	return &Result{ID: id, Pending: true}, out, nil
}

// IntentView is GET /v1/intents/{id} (DESIGN §9).
type IntentView struct {
	ID      string          `json:"id"`
	Status  string          `json:"status"`
	Tool    string          `json:"tool,omitempty"`
	Output  json.RawMessage `json:"output,omitempty"`
	Problem string          `json:"problem,omitempty"`
}

func view(in *store.Intent, now time.Time) IntentView {
	v := IntentView{ID: in.ID, Status: string(in.Status), Tool: in.Tool, Problem: in.Problem}
	switch {
	case in.Status == store.IntentPending && !now.Before(in.ExpiresAt):
		v.Status = string(store.IntentExpired)
	case in.Status == store.IntentApproved:
		v.Status = string(store.IntentPending) // decided, still running
	case in.Status == store.IntentDone:
		v.Output = json.RawMessage(in.Output)
	}
	return v
}

// IntentStatus answers the agent that sent intent id; anyone else gets the
// answer an unknown id gets.
func (s *Service) IntentStatus(ctx context.Context, agent, id string) (*IntentView, error) {
	if s.Approvals == nil {
		return nil, ErrNotFound
	}
	in, err := s.Approvals.GetIntent(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && in.Agent != agent) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: approval store: %v", ErrUnavailable, err)
	}
	v := view(in, s.now())
	return &v, nil
}

// PendingView lists a held intent for operators.
type PendingView struct {
	ID        string          `json:"id"`
	Realm     string          `json:"realm"`
	Agent     string          `json:"agent"`
	Tool      string          `json:"tool"`
	Input     json.RawMessage `json:"input"`
	CreatedAt time.Time       `json:"created_at"`
	ExpiresAt time.Time       `json:"expires_at"`
}

// Pending lists the intents of realm waiting for a decision.
func (s *Service) Pending(ctx context.Context, realm string) ([]PendingView, error) {
	if s.Approvals == nil {
		return []PendingView{}, nil
	}
	list, err := s.Approvals.PendingIntents(ctx, realm, 1000)
	if err != nil {
		return nil, fmt.Errorf("%w: approval store: %v", ErrUnavailable, err)
	}
	now := s.now()
	out := make([]PendingView, 0, len(list))
	for _, in := range list {
		if !now.Before(in.ExpiresAt) {
			continue
		}
		var req Request
		_ = json.Unmarshal(in.Body, &req)
		out = append(out, PendingView{ID: in.ID, Realm: in.Realm, Agent: in.Agent, Tool: in.Tool, Input: req.Input,
			CreatedAt: in.CreatedAt, ExpiresAt: in.ExpiresAt})
	}
	return out, nil
}

// Decide records an operator's decision on a held intent of realm and, on
// approval, runs the stored intent exactly as signed, under its grant as it
// stands now (an expired or revoked grant still refuses). Each intent is
// decided once: a replayed approval finds nothing pending (not found).
func (s *Service) Decide(ctx context.Context, operator, realm, id, decision, request string) (*IntentView, *Outcome, error) {
	ctx = withPolicyMemo(ctx)
	out := &Outcome{Seq: -1, Decision: "deny"}
	if s.Approvals == nil {
		return nil, out, ErrNotFound
	}
	var to store.IntentStatus
	switch decision {
	case "allow":
		to = store.IntentApproved
	case "deny":
		to = store.IntentDenied
	default:
		return nil, out, fmt.Errorf(`%w: decision must be "allow" or "deny"`, ErrBadRequest)
	}
	in, err := s.Approvals.GetIntent(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && in.Realm != realm) {
		return nil, out, ErrNotFound
	}
	if err != nil {
		return nil, out, fmt.Errorf("%w: approval store: %v", ErrUnavailable, err)
	}
	entry := audit.Entry{Realm: realm, Actor: operator, Action: "approval", Tool: in.Tool, Decision: decision,
		Reason: "intent " + id + " of " + in.Agent, Request: request, InputSHA256: sha(in.Body)}
	if err := s.recordFirst(ctx, entry, out); err != nil {
		return nil, out, err
	}
	now := s.now()
	if err := s.Approvals.DecideIntent(ctx, id, to, operator, now); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, out, ErrNotFound
		}
		return nil, out, fmt.Errorf("%w: approval store: %v", ErrUnavailable, err)
	}
	if to == store.IntentDenied {
		in.Status = store.IntentDenied
		v := view(in, now)
		return &v, out, nil
	}
	output, runErr := s.runApproved(ctx, in, out)
	status, problem := store.IntentDone, ""
	if runErr != nil {
		status, problem = store.IntentFailed, reasonOf(runErr)
		output = nil
	}
	if err := s.Approvals.FinishIntent(ctx, id, status, output, problem); err != nil {
		return nil, out, fmt.Errorf("%w: approval store: %v", ErrUnavailable, err)
	}
	in.Status, in.Output, in.Problem = status, output, problem
	v := view(in, now)
	return &v, out, nil
}

// runApproved re-checks the stored intent's grant and runs it.
func (s *Service) runApproved(ctx context.Context, in *store.Intent, out *Outcome) ([]byte, error) {
	req, err := DecodeRequest(in.Body)
	if err != nil {
		return nil, err
	}
	entry := audit.Entry{Realm: in.Realm, Actor: in.Agent, Action: "invoke", Tool: req.Tool, Request: in.Request, InputSHA256: sha(req.Input)}
	g, err := s.verifyGrant(ctx, req, in.Agent)
	if err == nil {
		err = s.checkQuarantine(ctx, g.Claims.Realm, in.Agent)
	}
	if err == nil && !g.AllowTool(req.Tool) {
		err = fmt.Errorf("%w: tool %s is not in the grant", ErrForbidden, req.Tool)
	}
	if err != nil {
		return nil, s.denied(ctx, entry, out, err)
	}
	c := &call{approved: true, grant: g, agent: in.Agent, request: in.Request, nested: new(atomic.Int32)}
	return s.run(ctx, c, req.Tool, req.Input, out)
}
