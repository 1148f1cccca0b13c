// Package policy holds a realm's signed policy (DESIGN §9 "Policy document"):
// the tools that need human approval and the tools denied outright, the mode
// of each DLP detector, injection handling, anomaly thresholds and actions,
// and the realm's default budgets.
//
// Decisions follow Parse → Compile → Allow: [Parse] decodes a document
// strictly, [Verify] checks its signature and compiles its globs once, and the
// compiled [Policy] answers [Policy.Denied] and [Policy.NeedsApproval] without
// parsing anything at call time. A realm without a document runs under
// [Default].
//
// # Security
//
// A policy is a compact JWS (typ airlock-policy+jwt) whose key comes only
// from its kid DID (identity.Verify); it is accepted only when the caller's
// trust function names that DID as an operator of the document's realm and
// that realm is the one being written, so an operator of one realm can never
// set another realm's policy. [Parse] refuses unknown members at any depth,
// duplicate and non-lower-case member names (which encoding/json would
// otherwise resolve silently), trailing data and values outside the
// documented sets, so that no two readers can disagree on what was signed.
//
// Versions are monotonic per realm: [Store.Put] refuses a version not
// greater than the stored one with [ErrStale] in a single conditional write,
// so a replayed or older signed policy (a downgrade to laxer rules) is never
// applied, also when several nodes share the database.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"strings"

	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/strictjson"
)

// Errors. Every refusal wraps exactly one of them.
var (
	// ErrInvalid: a malformed document or token, or one whose values are
	// outside the documented sets.
	ErrInvalid = errors.New("policy: invalid")
	// ErrUntrusted: the signature does not verify, or the signer is not an
	// operator of the realm, or the document is for another realm.
	ErrUntrusted = errors.New("policy: untrusted")
	// ErrStale: the version is not greater than the current one (a replay
	// or a downgrade).
	ErrStale = errors.New("policy: stale version")
)

// Limits.
const (
	// MaxTokenBytes bounds a policy token.
	MaxTokenBytes = 128 << 10
	// MaxGlobs bounds the approval and deny lists each.
	MaxGlobs = 256
	// MaxWindowS is the largest anomaly window, in seconds.
	MaxWindowS = 300
	// MaxWebhookBytes bounds the webhook URL.
	MaxWebhookBytes = 2048
)

// Detector names (keys of the dlp member).
const (
	DetectorSecrets    = "secrets"
	DetectorCards      = "cards"
	DetectorIBAN       = "iban"
	DetectorEmail      = "email"
	DetectorPhone      = "phone"
	DetectorNationalID = "national_id"
)

// DLP modes.
const (
	ModeOff    = "off"
	ModeFlag   = "flag"
	ModeRedact = "redact"
	ModeBlock  = "block"
)

// Injection modes; spotlight datamarks untrusted text (DESIGN issue 6 §4).
const (
	InjectionOff       = "off"
	InjectionFlag      = "flag"
	InjectionSpotlight = "spotlight"
	InjectionBlock     = "block"
)

// New egress host actions.
const (
	EgressOff   = "off"
	EgressAlert = "alert"
)

// defaultDLP is DESIGN §9 "Default policy": vault values and credential
// formats blocked, cards and IBANs redacted, e-mail and phone flagged.
// National IDs, which §9 does not name, are flagged like the other PII.
var defaultDLP = map[string]string{
	DetectorSecrets:    ModeBlock,
	DetectorCards:      ModeRedact,
	DetectorIBAN:       ModeRedact,
	DetectorEmail:      ModeFlag,
	DetectorPhone:      ModeFlag,
	DetectorNationalID: ModeFlag,
}

var (
	dlpModes       = []string{ModeOff, ModeFlag, ModeRedact, ModeBlock}
	injectionModes = []string{InjectionOff, InjectionFlag, InjectionSpotlight, InjectionBlock}
)

// Document is the signed policy JSON (DESIGN §9 "Policy document"). Realm and
// Version are required; every other member is optional and keeps its default
// when absent.
type Document struct {
	Realm     string            `json:"realm"`
	Version   int64             `json:"version"`
	Approval  []string          `json:"approval,omitempty"`
	Deny      []string          `json:"deny,omitempty"`
	DLP       map[string]string `json:"dlp,omitempty"`
	Injection string            `json:"injection,omitempty"`
	Anomaly   Anomaly           `json:"anomaly"`
	Budget    grant.Budget      `json:"budget"`
}

// Anomaly holds the behavioural monitoring thresholds and actions.
type Anomaly struct {
	WindowS       int     `json:"window_s"`
	BurstFactor   float64 `json:"burst_factor"`
	MinCalls      int     `json:"min_calls"`
	NewEgressHost string  `json:"new_egress_host"`
	Quarantine    bool    `json:"quarantine"`
	Webhook       string  `json:"webhook,omitempty"`
}

// DefaultAnomaly returns the thresholds of DESIGN §9: a 10 s window, a burst
// factor of 10, at least 50 calls, no new-host alerts, no quarantine.
func DefaultAnomaly() Anomaly {
	return Anomaly{WindowS: 10, BurstFactor: 10, MinCalls: 50, NewEgressHost: EgressOff}
}

// Parse decodes a policy document strictly and fills the defaults of absent
// anomaly members. It refuses unknown members, duplicate or non-lower-case
// member names, trailing data, a missing realm or version, a version below 1,
// DLP detectors and modes, injection modes and egress actions outside their
// sets, globs outside the grant tool grammar, anomaly thresholds out of range,
// negative budgets, and a webhook that is not an absolute http(s) URL without
// credentials.
func Parse(payload []byte) (*Document, error) {
	if len(payload) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: document larger than %d bytes", ErrInvalid, MaxTokenBytes)
	}
	if err := strictjson.LowerCaseMembers(payload); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	d := Document{Anomaly: DefaultAnomaly()}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the document", ErrInvalid)
	}
	// A required member must be present, not merely zero.
	var present struct {
		Realm   *json.RawMessage `json:"realm"`
		Version *json.RawMessage `json:"version"`
	}
	if err := json.Unmarshal(payload, &present); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if present.Realm == nil || present.Version == nil {
		return nil, fmt.Errorf("%w: realm and version are required", ErrInvalid)
	}
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &d, nil
}

func (d *Document) validate() error {
	switch {
	case !grant.ValidRealm(d.Realm):
		return fmt.Errorf("realm %q is not a valid realm name", d.Realm)
	case d.Version < 1:
		return fmt.Errorf("version must be a positive integer")
	case len(d.Approval) > MaxGlobs || len(d.Deny) > MaxGlobs:
		return fmt.Errorf("approval and deny hold at most %d globs each", MaxGlobs)
	}
	if _, err := grant.CompileGlobs(d.Approval); err != nil {
		return fmt.Errorf("approval: %v", err)
	}
	if _, err := grant.CompileGlobs(d.Deny); err != nil {
		return fmt.Errorf("deny: %v", err)
	}
	for k, v := range d.DLP {
		if _, ok := defaultDLP[k]; !ok {
			return fmt.Errorf("dlp: unknown detector %q", k)
		}
		if !contains(dlpModes, v) {
			return fmt.Errorf("dlp.%s: mode %q is not one of %s", k, v, strings.Join(dlpModes, "|"))
		}
	}
	if d.Injection != "" && !contains(injectionModes, d.Injection) {
		return fmt.Errorf("injection: %q is not one of %s", d.Injection, strings.Join(injectionModes, "|"))
	}
	a := d.Anomaly
	switch {
	case a.WindowS < 1 || a.WindowS > MaxWindowS:
		return fmt.Errorf("anomaly.window_s must be 1..%d", MaxWindowS)
	case !(a.BurstFactor > 0) || a.BurstFactor > 1e6:
		return fmt.Errorf("anomaly.burst_factor must be above 0 and at most 1e6")
	case a.MinCalls < 1:
		return fmt.Errorf("anomaly.min_calls must be at least 1")
	case a.NewEgressHost != EgressOff && a.NewEgressHost != EgressAlert:
		return fmt.Errorf("anomaly.new_egress_host must be %q or %q", EgressOff, EgressAlert)
	}
	if a.Webhook != "" {
		if err := checkWebhook(a.Webhook); err != nil {
			return fmt.Errorf("anomaly.webhook: %v", err)
		}
	}
	b := d.Budget
	if b.CallsPerMinute < 0 || b.TimeoutMS < 0 || b.MemoryMB < 0 || b.EgressBytesPerDay < 0 {
		return fmt.Errorf("budget values must not be negative")
	}
	return nil
}

// checkWebhook accepts an absolute http or https URL with a host and no
// userinfo or fragment. Credentials do not belong in a URL that ends up in
// configuration listings and logs.
func checkWebhook(s string) error {
	if len(s) > MaxWebhookBytes {
		return fmt.Errorf("longer than %d bytes", MaxWebhookBytes)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return fmt.Errorf("space, control or non-ASCII character")
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme must be http or https")
	case u.Host == "" || u.Hostname() == "" || u.Opaque != "":
		return fmt.Errorf("no host")
	case u.User != nil:
		return fmt.Errorf("userinfo is not allowed")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("fragment is not allowed")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Policy is a verified, compiled policy document. It is immutable once
// returned; callers must not modify Doc.
type Policy struct {
	Doc Document
	// Signer is the DID of the operator who signed the document ("" for
	// [Default]); Token the JWS as received ("" for Default).
	Signer string
	Token  string

	approval grant.Globs
	deny     grant.Globs
}

// Verify checks a compact JWS (typ airlock-policy+jwt) for realm, the realm
// named in the request path, and returns the compiled policy. The signer must
// be an operator that trust names for the document's realm, and the
// document's realm must be realm. Whether the version is new is decided by
// [Store.Put].
func Verify(token, realm string, trust func(realm, did string) bool) (*Policy, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: no policy token", ErrInvalid)
	}
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: token larger than %d bytes", ErrInvalid, MaxTokenBytes)
	}
	ver, err := identity.Verify(token, identity.TypPolicy)
	if err != nil {
		if errors.Is(err, identity.ErrSignature) {
			return nil, fmt.Errorf("%w: %v", ErrUntrusted, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	d, err := Parse(ver.Payload)
	if err != nil {
		return nil, err
	}
	if d.Realm != realm {
		return nil, fmt.Errorf("%w: document is for realm %q, not %q", ErrUntrusted, d.Realm, realm)
	}
	if trust == nil || !trust(d.Realm, ver.Signer) {
		return nil, fmt.Errorf("%w: signer is not an operator of realm %q", ErrUntrusted, d.Realm)
	}
	p, err := compile(*d)
	if err != nil {
		return nil, err
	}
	p.Signer, p.Token = ver.Signer, token
	return p, nil
}

// Sign validates d with [Parse] and signs it as a policy with the operator
// key, so an invalid document is never signed.
func Sign(op *identity.Key, d Document) (string, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("policy: %w", err)
	}
	if _, err := Parse(raw); err != nil {
		return "", err
	}
	tok, err := op.Sign(identity.TypPolicy, raw)
	if err != nil {
		return "", fmt.Errorf("policy: %w", err)
	}
	return tok, nil
}

func compile(d Document) (*Policy, error) {
	p := &Policy{Doc: d}
	var err error
	if p.approval, err = grant.CompileGlobs(d.Approval); err != nil {
		return nil, fmt.Errorf("%w: approval: %v", ErrInvalid, err)
	}
	if p.deny, err = grant.CompileGlobs(d.Deny); err != nil {
		return nil, fmt.Errorf("%w: deny: %v", ErrInvalid, err)
	}
	return p, nil
}

// Default is the policy of a realm without a document (DESIGN §9): no tool
// denied or held for approval by policy, default DLP modes, injection
// flagged, default anomaly thresholds, no default budget.
func Default(realm string) *Policy {
	return &Policy{Doc: Document{Realm: realm, Anomaly: DefaultAnomaly()}}
}

// Denied reports whether the policy denies tool ("bundle/tool").
func (p *Policy) Denied(tool string) bool { return p.deny.Match(tool) }

// NeedsApproval reports whether the policy holds tool for a human.
func (p *Policy) NeedsApproval(tool string) bool { return p.approval.Match(tool) }

// DLPModes returns the mode of every detector: the document's over the
// DESIGN §9 defaults. The map is the caller's to keep.
func (p *Policy) DLPModes() map[string]string {
	m := maps.Clone(defaultDLP)
	maps.Copy(m, p.Doc.DLP)
	return m
}

// Injection returns the injection mode, "flag" by default.
func (p *Policy) Injection() string {
	if p.Doc.Injection == "" {
		return InjectionFlag
	}
	return p.Doc.Injection
}

// Anomaly returns the anomaly thresholds and actions.
func (p *Policy) Anomaly() Anomaly { return p.Doc.Anomaly }
