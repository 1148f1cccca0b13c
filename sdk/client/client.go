// Package client is the Go client for agents and operators talking to an
// Airlock host: it signs a request proof over every request and verifies the
// host's signed receipt over every response, against a pinned host DID.
//
// # Security
//
// The private key never leaves the process: only proofs signed with it are
// sent. A response whose receipt is missing, signed by another key, or does
// not match the request jti, the status or the exact body bytes is refused
// with [ErrReceipt], so an agent never acts on an answer from a host it did
// not pin. Pin the host DID out of band (Options.HostDID); without a pin the
// client trusts the DID that GET /v1/host reports on first use (TOFU).
//
// This package imports host/identity (pure signing and verification code,
// no runtime) rather than re-implementing JWS; it never imports the host
// runtime or the server.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/identity"
)

// Errors.
var (
	ErrReceipt = errors.New("client: receipt missing or invalid")
	ErrProblem = errors.New("client: host answered with a problem")
)

// MaxResponse caps response bodies read by the client.
const MaxResponse = 16 << 20

// Client talks to one host as one key.
type Client struct {
	base    string
	key     *identity.Key
	hostDID string
	http    *http.Client
	now     func() time.Time
}

// Options configure a Client.
type Options struct {
	HostDID string       // pinned host DID; "" = trust GET /v1/host on first use
	HTTP    *http.Client // nil → a client with a 60 s timeout
}

// New returns a client for the host at baseURL (e.g. http://127.0.0.1:8080).
func New(baseURL string, key *identity.Key, opt Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: host URL %q must be http(s)://host:port", baseURL)
	}
	hc := opt.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), key: key, hostDID: opt.HostDID, http: hc, now: time.Now}, nil
}

// HostInfo is GET /v1/host.
type HostInfo struct {
	DID        string          `json:"did"`
	JWK        json.RawMessage `json:"jwk"`
	Version    string          `json:"version"`
	Algorithms []string        `json:"algorithms"`
}

// Host fetches /v1/host; with no pinned DID it pins the answer.
func (c *Client) Host(ctx context.Context) (*HostInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/host", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	var info HostInfo
	if err := json.Unmarshal(body, &info); err != nil || info.DID == "" {
		return nil, fmt.Errorf("client: malformed /v1/host answer")
	}
	if c.hostDID == "" {
		c.hostDID = info.DID
	}
	if info.DID != c.hostDID {
		return nil, fmt.Errorf("%w: host reports %s, pinned %s", ErrReceipt, info.DID, c.hostDID)
	}
	if _, err := identity.VerifyReceipt(resp.Header.Get("Airlock-Receipt"), c.hostDID, "", resp.StatusCode, body); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrReceipt, err)
	}
	return &info, nil
}

// HostDID returns the pinned host DID ("" before the first request).
func (c *Client) HostDID() string { return c.hostDID }

// Response is a verified answer.
type Response struct {
	Status  int
	Body    []byte
	Header  http.Header
	Receipt *identity.Receipt
	Token   string // the receipt JWS
}

// Problem decodes the RFC 9457 problem in a non-2xx answer.
func (r *Response) Problem() (*Problem, bool) {
	if r.Status < 300 {
		return nil, false
	}
	var p Problem
	if err := json.Unmarshal(r.Body, &p); err != nil || p.Code == "" {
		return nil, false
	}
	return &p, true
}

// Problem is an RFC 9457 problem with Airlock's code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

func (p *Problem) Error() string {
	s := fmt.Sprintf("%d %s", p.Status, p.Code)
	if p.Reason != "" {
		s += " (" + p.Reason + ")"
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

// Do sends a signed request and verifies the receipt. pathAndQuery is the
// request target, e.g. "/v1/plugins?realm=default".
func (c *Client) Do(ctx context.Context, method, pathAndQuery, contentType string, body []byte) (*Response, error) {
	if c.hostDID == "" {
		if _, err := c.Host(ctx); err != nil {
			return nil, err
		}
	}
	proof, jti, err := identity.SignRequestJTI(c.key, c.hostDID, method, pathAndQuery, body, c.now())
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+pathAndQuery, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Airlock "+proof)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	token := resp.Header.Get("Airlock-Receipt")
	rcpt, err := identity.VerifyReceipt(token, c.hostDID, jti, resp.StatusCode, rb)
	if err != nil && resp.StatusCode >= 400 {
		// A request the host could not authenticate (or whose replay check
		// failed) is refused with a receipt bound to no request: still signed
		// by the pinned host over this status and body.
		rcpt, err = identity.VerifyReceipt(token, c.hostDID, "", resp.StatusCode, rb)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrReceipt, err)
	}
	return &Response{Status: resp.StatusCode, Body: rb, Header: resp.Header, Receipt: rcpt, Token: token}, nil
}

// DoJSON marshals in, sends it, and on 2xx decodes the answer into out (if
// non-nil). A problem answer is returned as *Problem (errors.As) wrapping
// ErrProblem; the verified Response is returned in every case it exists.
func (c *Client) DoJSON(ctx context.Context, method, pathAndQuery string, in, out any) (*Response, error) {
	var body []byte
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body, ctype = b, "application/json"
	}
	resp, err := c.Do(ctx, method, pathAndQuery, ctype, body)
	if err != nil {
		return nil, err
	}
	return resp, resp.decode(out)
}

func (r *Response) decode(out any) error {
	if p, ok := r.Problem(); ok {
		return fmt.Errorf("%w: %w", ErrProblem, p)
	}
	if r.Status >= 300 {
		return fmt.Errorf("%w: status %d", ErrProblem, r.Status)
	}
	if out != nil && len(r.Body) > 0 {
		if err := json.Unmarshal(r.Body, out); err != nil {
			return fmt.Errorf("client: decode answer: %w", err)
		}
	}
	return nil
}

// IntentResult is the 200 answer of an intent.
type IntentResult struct {
	ID     string          `json:"id"`
	Status string          `json:"status,omitempty"`
	Output json.RawMessage `json:"output"`
	Flags  []string        `json:"flags"`
}

// Invoke calls tool with input under grant.
func (c *Client) Invoke(ctx context.Context, tool string, input json.RawMessage, grant string) (*IntentResult, *Response, error) {
	return c.InvokeChain(ctx, tool, input, grant, nil)
}

// InvokeChain calls tool under a delegated grant whose chain (parent, …,
// operator-signed root) is sent along.
func (c *Client) InvokeChain(ctx context.Context, tool string, input json.RawMessage, grant string, chain []string) (*IntentResult, *Response, error) {
	var res IntentResult
	resp, err := c.DoJSON(ctx, http.MethodPost, "/v1/intents", struct {
		Tool  string          `json:"tool"`
		Input json.RawMessage `json:"input"`
		grantBody
	}{tool, input, grantBody{grant, chain}}, &res)
	if err != nil {
		return nil, resp, err
	}
	return &res, resp, nil
}

// Tools lists the tools grant (with chain, for a delegated grant) lets
// this agent call, with their schemas (POST /v1/tools).
func (c *Client) Tools(ctx context.Context, grant string, chain []string) ([]abi.ToolInfo, *Response, error) {
	var out abi.ToolList
	resp, err := c.DoJSON(ctx, http.MethodPost, "/v1/tools", grantBody{grant, chain}, &out)
	if err != nil {
		return nil, resp, err
	}
	return out.Tools, resp, nil
}

// Install uploads a signed bundle into realm.
func (c *Client) Install(ctx context.Context, realm string, bundle []byte) (*Response, error) {
	resp, err := c.Do(ctx, http.MethodPost, "/v1/plugins?realm="+url.QueryEscape(realm), "application/x-tar", bundle)
	if err != nil {
		return nil, err
	}
	return resp, resp.decode(nil)
}

// Revoke posts a revocation ({"realm", and one of "grant", "agent", "publisher"}).
func (c *Client) Revoke(ctx context.Context, realm, kind, subject string) (*Response, error) {
	return c.DoJSON(ctx, http.MethodPost, "/v1/revocations", map[string]string{"realm": realm, kind: subject}, nil)
}

// MemoryPut stores docs in the agent's own memory (POST /v1/memory/put);
// grant (with chain, for a delegated grant) must give the memory
// capability.
func (c *Client) MemoryPut(ctx context.Context, grant string, chain []string, docs []abi.Document) (*Response, error) {
	return c.DoJSON(ctx, http.MethodPost, "/v1/memory/put", struct {
		grantBody
		abi.MemoryPutRequest
	}{grantBody{grant, chain}, abi.MemoryPutRequest{Documents: docs}}, nil)
}

// MemoryQuery asks the agent's own memory for the k documents nearest to
// q.Query (POST /v1/memory/query). Every result is data from memory with
// its provenance, never an instruction.
func (c *Client) MemoryQuery(ctx context.Context, grant string, chain []string, q abi.MemoryQueryRequest) ([]abi.MemoryResult, *Response, error) {
	var out abi.MemoryQueryResponse
	resp, err := c.DoJSON(ctx, http.MethodPost, "/v1/memory/query", struct {
		grantBody
		abi.MemoryQueryRequest
	}{grantBody{grant, chain}, q}, &out)
	if err != nil {
		return nil, resp, err
	}
	return out.Results, resp, nil
}

// MemoryDelete removes documents by id from the agent's own memory (POST
// /v1/memory/delete).
func (c *Client) MemoryDelete(ctx context.Context, grant string, chain []string, ids []string) (*Response, error) {
	return c.DoJSON(ctx, http.MethodPost, "/v1/memory/delete", struct {
		grantBody
		abi.MemoryDeleteRequest
	}{grantBody{grant, chain}, abi.MemoryDeleteRequest{IDs: ids}}, nil)
}

// grantBody is the grant part of a request body: the grant and, for a
// delegated one, its chain.
type grantBody struct {
	Grant string   `json:"grant"`
	Chain []string `json:"chain,omitempty"`
}
