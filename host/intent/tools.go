package intent

import (
	"context"
	"fmt"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/identity"
)

// toolsRequest is the body of POST /v1/tools.
type toolsRequest struct {
	Grant string   `json:"grant"`
	Chain []string `json:"chain,omitempty"`
}

// ListTools answers POST /v1/tools {"grant", "chain"?} for the agent that
// signed proof: the installed tools of the grant's realm that the grant
// lets it call and the realm's policy does not deny, with their schemas, so
// that an agent-side bridge (`airlock mcp`) can describe them. The grant is
// checked as for an intent (signature, holder, time, revocations along the
// chain, quarantine), and the answer is audited (action "list_tools"). It
// names nothing outside the grant's realm, nor tools the grant does not
// allow.
func (s *Service) ListTools(ctx context.Context, proof *identity.Proof, body []byte) (*abi.ToolList, *Outcome, error) {
	ctx = withPolicyMemo(ctx)
	out := &Outcome{Seq: -1, Decision: "deny"}
	entry := audit.Entry{Actor: proof.Iss, Action: "list_tools", Request: proof.Jti, InputSHA256: sha(body)}
	deny := func(err error) (*abi.ToolList, *Outcome, error) { return nil, out, s.denied(ctx, entry, out, err) }
	var req toolsRequest
	if err := StrictJSON(body, &req); err != nil {
		return deny(fmt.Errorf("%w: %v", ErrBadRequest, err))
	}
	if req.Grant == "" {
		return deny(fmt.Errorf("%w: grant is required", ErrBadRequest))
	}
	g, err := s.admit(ctx, &entry, &Request{Grant: req.Grant, Chain: req.Chain}, proof.Iss)
	if err != nil {
		return deny(err)
	}
	// A listing counts against the calls-per-minute budget like a memory
	// request: each one is an audited, durable decision.
	if err := s.calls().AllowContext(ctx, g.Claims.Realm, proof.Iss, g.Claims.Budget.CallsPerMinute, s.now()); err != nil {
		return deny(err)
	}
	pol, err := s.policyFor(ctx, g.Claims.Realm)
	if err != nil {
		return deny(err)
	}
	list := &abi.ToolList{Tools: []abi.ToolInfo{}}
	for _, p := range s.Registry.List(g.Claims.Realm) {
		for _, t := range p.Compiled.Manifest.Tools {
			id := p.Compiled.Manifest.Name + "/" + t.Name
			if !g.AllowTool(id) || pol.Denied(id) {
				continue
			}
			list.Tools = append(list.Tools, abi.ToolInfo{
				ID: id, Description: t.Description, InputSchema: t.InputSchema, OutputSchema: t.OutputSchema,
				Approval: t.Approval || g.NeedsApproval(id) || pol.NeedsApproval(id),
			})
		}
	}
	entry.Decision, entry.Reason = "allow", fmt.Sprintf("%d tool(s)", len(list.Tools))
	if err := s.recordFirst(ctx, entry, out); err != nil {
		return nil, out, err
	}
	return list, out, nil
}
