package server

import (
	"encoding/json"
	"errors"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/budget"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/intent"
	"github.com/airlock-dev/airlock/host/policy"
	"github.com/airlock-dev/airlock/host/registry"
)

// Problem is an RFC 9457 problem document with Airlock's stable code.
type Problem struct {
	Type   string            `json:"type"`
	Title  string            `json:"title"`
	Status int               `json:"status"`
	Detail string            `json:"detail,omitempty"`
	Code   abi.Code          `json:"code"`
	Reason abi.FailureReason `json:"reason,omitempty"`
}

// problem builds the document for code with a detail safe to show.
func problem(code abi.Code, detail string) *Problem {
	return &Problem{
		Type:   "https://airlock.dev/problems/" + string(code),
		Title:  titles[code],
		Status: statusOf(code),
		Detail: detail,
		Code:   code,
	}
}

func statusOf(code abi.Code) int {
	if code == abi.CodeApprovalRequired {
		return 403
	}
	return code.HTTPStatus()
}

var titles = map[abi.Code]string{
	abi.CodeBadRequest:       "Bad request",
	abi.CodeUnauthenticated:  "Request proof missing or invalid",
	abi.CodeReplay:           "Request proof already used",
	abi.CodeGrantInvalid:     "Capability grant invalid",
	abi.CodeGrantRevoked:     "Capability grant revoked",
	abi.CodeForbidden:        "Forbidden",
	abi.CodeNotFound:         "Not found",
	abi.CodeSchemaViolation:  "Input does not match the tool's schema",
	abi.CodeTooLarge:         "Too large",
	abi.CodeBudgetExceeded:   "Budget exceeded",
	abi.CodeApprovalRequired: "Human approval required",
	abi.CodeQuarantined:      "Agent quarantined",
	abi.CodeOutputBlocked:    "Output blocked",
	abi.CodeToolFailed:       "Tool failed",
	abi.CodeUnavailable:      "Service unavailable",
}

// problemFor maps an error from the host packages to exactly one problem.
// This is the only place where errors become codes; details are the
// packages' own messages, which never carry secrets or other realms' state.
func problemFor(err error) *Problem {
	var te *intent.ToolError
	switch {
	case errors.As(err, &te):
		p := problem(abi.CodeToolFailed, te.Message)
		p.Reason = te.Reason
		return p
	case errors.Is(err, identity.ErrReplay):
		return problem(abi.CodeReplay, "this request proof was already used")
	case errors.Is(err, identity.ErrMalformed), errors.Is(err, identity.ErrAlgorithm),
		errors.Is(err, identity.ErrHeader), errors.Is(err, identity.ErrSignature),
		errors.Is(err, identity.ErrClaims), errors.Is(err, errUnauthenticated):
		return problem(abi.CodeUnauthenticated, err.Error())
	case errors.Is(err, grant.ErrInvalid):
		return problem(abi.CodeGrantInvalid, err.Error())
	case errors.Is(err, intent.ErrQuarantined):
		return problem(abi.CodeQuarantined, err.Error())
	case errors.Is(err, policy.ErrStale):
		return problem(abi.CodeReplay, err.Error())
	case errors.Is(err, policy.ErrUntrusted):
		return problem(abi.CodeForbidden, err.Error())
	case errors.Is(err, policy.ErrInvalid):
		return problem(abi.CodeBadRequest, err.Error())
	case errors.Is(err, intent.ErrOutputBlocked):
		return problem(abi.CodeOutputBlocked, err.Error())
	case errors.Is(err, budget.ErrExceeded):
		return problem(abi.CodeBudgetExceeded, err.Error())
	case errors.Is(err, intent.ErrRevoked):
		return problem(abi.CodeGrantRevoked, err.Error())
	case errors.Is(err, bundle.ErrSchema):
		return problem(abi.CodeSchemaViolation, err.Error())
	case errors.Is(err, intent.ErrForbidden), errors.Is(err, errForbidden),
		errors.Is(err, bundle.ErrUntrusted), errors.Is(err, bundle.ErrImport):
		return problem(abi.CodeForbidden, err.Error())
	case errors.Is(err, bundle.ErrHash), errors.Is(err, bundle.ErrSignature):
		return problem(abi.CodeForbidden, err.Error())
	case errors.Is(err, bundle.ErrTooLarge), errors.Is(err, errTooLarge):
		return problem(abi.CodeTooLarge, err.Error())
	case errors.Is(err, bundle.ErrMalformed), errors.Is(err, intent.ErrBadRequest), errors.Is(err, errBadRequest):
		return problem(abi.CodeBadRequest, err.Error())
	case errors.Is(err, intent.ErrNotFound), errors.Is(err, registry.ErrNotFound), errors.Is(err, errNotFound):
		return problem(abi.CodeNotFound, "not found")
	case errors.Is(err, intent.ErrUnavailable), errors.Is(err, audit.ErrUnavailable):
		return problem(abi.CodeUnavailable, "the host cannot record or perform this action right now")
	}
	return problem(abi.CodeUnavailable, "internal error")
}

func (p *Problem) body() []byte {
	b, _ := json.Marshal(p)
	return b
}
