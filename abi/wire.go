package abi

import "encoding/json"

// Error is the body of a failed host function call.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// ErrorResponse wraps Error as every failed host function answers it.
type ErrorResponse struct {
	Error *Error `json:"error"`
}

// LogRequest is the argument of [FuncLog].
type LogRequest struct {
	Level   string `json:"level"`
	Message string `json:"message"`
}

// Log levels accepted by [FuncLog].
const (
	LogDebug = "debug"
	LogInfo  = "info"
	LogWarn  = "warn"
	LogError = "error"
)

// HTTPRequest is the argument of [FuncHTTPRequest]. Body is standard base64
// on the wire (encoding/json's []byte encoding).
type HTTPRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    []byte            `json:"body,omitempty"`
}

// HTTPResponse is the answer of [FuncHTTPRequest].
type HTTPResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    []byte            `json:"body"`
}

// FSReadRequest is the argument of [FuncFSRead].
type FSReadRequest struct {
	Path string `json:"path"`
}

// FSReadResponse is the answer of [FuncFSRead].
type FSReadResponse struct {
	Data []byte `json:"data"`
}

// FSWriteRequest is the argument of [FuncFSWrite].
type FSWriteRequest struct {
	Path string `json:"path"`
	Data []byte `json:"data"`
}

// FSListRequest is the argument of [FuncFSList].
type FSListRequest struct {
	Path string `json:"path"`
}

// FSEntry is one entry of an [FSListResponse].
type FSEntry struct {
	Name string `json:"name"`
	Dir  bool   `json:"dir"`
	Size int64  `json:"size"`
}

// FSListResponse is the answer of [FuncFSList].
type FSListResponse struct {
	Entries []FSEntry `json:"entries"`
}

// Document is one agent-memory document.
type Document struct {
	ID       string            `json:"id"`
	Content  string            `json:"content"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// MemoryPutRequest is the argument of [FuncMemoryPut].
type MemoryPutRequest struct {
	Documents []Document `json:"documents"`
}

// MemoryQueryRequest is the argument of [FuncMemoryQuery].
type MemoryQueryRequest struct {
	Query string            `json:"query"`
	K     int               `json:"k"`
	Where map[string]string `json:"where,omitempty"`
}

// MemoryResult is one hit of a memory query.
type MemoryResult struct {
	ID         string            `json:"id"`
	Content    string            `json:"content"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Similarity float32           `json:"similarity"`
	Provenance map[string]string `json:"provenance,omitempty"`
}

// MemoryQueryResponse is the answer of [FuncMemoryQuery].
type MemoryQueryResponse struct {
	Results []MemoryResult `json:"results"`
}

// MemoryDeleteRequest is the argument of [FuncMemoryDelete].
type MemoryDeleteRequest struct {
	IDs []string `json:"ids"`
}

// MailSendRequest is the argument of [FuncMailSend].
type MailSendRequest struct {
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Body    string   `json:"body"`
}

// ToolCallRequest is the argument of [FuncToolCall]. Input is raw JSON.
type ToolCallRequest struct {
	Tool  string          `json:"tool"`
	Input json.RawMessage `json:"input"`
}

// ToolCallResponse is the answer of [FuncToolCall].
type ToolCallResponse struct {
	Output json.RawMessage `json:"output"`
}

// SecretPresentRequest is the argument of [FuncSecretPresent].
type SecretPresentRequest struct {
	Name string `json:"name"`
}

// SecretPresentResponse is the answer of [FuncSecretPresent].
type SecretPresentResponse struct {
	Present bool `json:"present"`
}

// Empty is the answer of host functions that return nothing ({}).
type Empty struct{}

// ToolInfo is one tool in the answer to POST /v1/tools (HTTP API): a tool
// the presented grant lets the signing agent call, as its manifest
// describes it.
type ToolInfo struct {
	ID           string          `json:"id"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
	// Approval: a call is held for a human (the manifest, the grant or
	// the realm's policy asks for it).
	Approval bool `json:"approval"`
}

// ToolList is the answer to POST /v1/tools.
type ToolList struct {
	Tools []ToolInfo `json:"tools"`
}
