// Package abi is the contract between the Airlock host and the tools it runs:
// the import module name, the host function names, the capability each one is
// bound to, the problem codes, and the JSON shapes exchanged through Extism
// memory.
//
// abi holds constants and data only and imports nothing outside the standard
// library, so that tool SDKs in any language can mirror it exactly.
//
// # Calling convention
//
// Every host function is imported from [HostModule]. It takes one i64: the
// Extism memory offset of a JSON request, and returns one i64: the Extism
// memory offset of a JSON response. A failed call answers
// {"error": {"code", "message"}} where code is one of the [Code] values.
package abi

// Version is the ABI version a manifest must declare in its "abi" field.
const Version = "airlock/v1"

// HostModule is the Wasm import module that Airlock host functions live in.
const HostModule = "extism:host/user"

// ExtismKernelModule is the Extism kernel import module (alloc, input, output).
const ExtismKernelModule = "extism:host/env"

// Capability names a family of host functions that a grant may allow.
type Capability string

// The capabilities of DESIGN §3. The zero value means "always available".
const (
	CapNone    Capability = ""
	CapHTTP    Capability = "http"
	CapFS      Capability = "fs"
	CapMemory  Capability = "memory"
	CapMail    Capability = "mail"
	CapCall    Capability = "call"
	CapSecrets Capability = "secrets"
)

// Capabilities lists every capability a manifest may declare.
var Capabilities = []Capability{CapHTTP, CapFS, CapMemory, CapMail, CapCall, CapSecrets}

// String returns the capability's wire name ("always" for CapNone).
func (c Capability) String() string {
	if c == CapNone {
		return "always"
	}
	return string(c)
}

// Valid reports whether c is a capability a manifest or grant may name.
func (c Capability) Valid() bool {
	for _, k := range Capabilities {
		if c == k {
			return true
		}
	}
	return false
}

// Function names an Airlock host function imported from [HostModule].
type Function string

// The host functions of DESIGN §3.
const (
	FuncLog           Function = "log"
	FuncHTTPRequest   Function = "http_request"
	FuncFSRead        Function = "fs_read"
	FuncFSWrite       Function = "fs_write"
	FuncFSList        Function = "fs_list"
	FuncMemoryPut     Function = "memory_put"
	FuncMemoryQuery   Function = "memory_query"
	FuncMemoryDelete  Function = "memory_delete"
	FuncMailSend      Function = "mail_send"
	FuncToolCall      Function = "tool_call"
	FuncSecretPresent Function = "secret_present"
)

// Functions lists every host function in a stable order.
var Functions = []Function{
	FuncLog, FuncHTTPRequest, FuncFSRead, FuncFSWrite, FuncFSList,
	FuncMemoryPut, FuncMemoryQuery, FuncMemoryDelete, FuncMailSend,
	FuncToolCall, FuncSecretPresent,
}

// String returns the function's import name.
func (f Function) String() string { return string(f) }

// Capability returns the capability that must be granted for f to be linked.
// It returns CapNone for functions that are always available (log).
func (f Function) Capability() Capability {
	switch f {
	case FuncHTTPRequest:
		return CapHTTP
	case FuncFSRead, FuncFSWrite, FuncFSList:
		return CapFS
	case FuncMemoryPut, FuncMemoryQuery, FuncMemoryDelete:
		return CapMemory
	case FuncMailSend:
		return CapMail
	case FuncToolCall:
		return CapCall
	case FuncSecretPresent:
		return CapSecrets
	default:
		return CapNone
	}
}

// Known reports whether f is one of [Functions].
func (f Function) Known() bool {
	for _, k := range Functions {
		if f == k {
			return true
		}
	}
	return false
}

// Code is a stable problem code shared by the HTTP API and host functions.
type Code string

// The problem codes of DESIGN §4 and §9.
const (
	CodeBadRequest       Code = "bad_request"
	CodeUnauthenticated  Code = "unauthenticated"
	CodeReplay           Code = "replay"
	CodeGrantInvalid     Code = "grant_invalid"
	CodeGrantRevoked     Code = "grant_revoked"
	CodeForbidden        Code = "forbidden"
	CodeNotFound         Code = "not_found"
	CodeSchemaViolation  Code = "schema_violation"
	CodeTooLarge         Code = "too_large"
	CodeBudgetExceeded   Code = "budget_exceeded"
	CodeApprovalRequired Code = "approval_required"
	CodeQuarantined      Code = "quarantined"
	CodeOutputBlocked    Code = "output_blocked"
	CodeToolFailed       Code = "tool_failed"
	CodeUnavailable      Code = "unavailable"
)

// Codes lists every problem code.
var Codes = []Code{
	CodeBadRequest, CodeUnauthenticated, CodeReplay, CodeGrantInvalid,
	CodeGrantRevoked, CodeForbidden, CodeNotFound, CodeSchemaViolation,
	CodeTooLarge, CodeBudgetExceeded, CodeApprovalRequired, CodeQuarantined,
	CodeOutputBlocked, CodeToolFailed, CodeUnavailable,
}

// String returns the code's wire name.
func (c Code) String() string { return string(c) }

// HTTPStatus returns the HTTP status that carries c (DESIGN §9).
func (c Code) HTTPStatus() int {
	switch c {
	case CodeBadRequest:
		return 400
	case CodeUnauthenticated:
		return 401
	case CodeGrantInvalid, CodeGrantRevoked, CodeForbidden, CodeQuarantined, CodeOutputBlocked:
		return 403
	case CodeNotFound:
		return 404
	case CodeReplay:
		return 409
	case CodeTooLarge:
		return 413
	case CodeSchemaViolation:
		return 422
	case CodeBudgetExceeded:
		return 429
	case CodeApprovalRequired:
		return 202
	case CodeToolFailed:
		return 502
	case CodeUnavailable:
		return 503
	default:
		return 500
	}
}

// FailureReason qualifies CodeToolFailed.
type FailureReason string

// The reasons of DESIGN §9 for tool_failed, plus the output cap.
const (
	ReasonTimeout      FailureReason = "timeout"
	ReasonMemory       FailureReason = "memory"
	ReasonTrap         FailureReason = "trap"
	ReasonOutputSchema FailureReason = "output_schema"
	ReasonOutputSize   FailureReason = "output_size"
)

// String returns the reason's wire name.
func (r FailureReason) String() string { return string(r) }
