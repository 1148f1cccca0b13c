package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/identity"
)

// Caps on manifest contents.
const (
	// MaxManifestBytes caps manifest.json.
	MaxManifestBytes = 256 << 10
	// MaxDescriptionBytes caps a tool's description.
	MaxDescriptionBytes = 4 << 10
	// maxVersionLen caps the version string (it ends up in file names).
	maxVersionLen = 64
	// maxHostLen caps one entry of a secret's hosts.
	maxHostLen = 253 + len("https://") + len(":65535")
	// maxJSONDepth caps the nesting of manifest JSON, schemas included.
	maxJSONDepth = 64
)

// Manifest is a plugin's manifest.json (DESIGN §2).
type Manifest struct {
	Name         string   `json:"name"`
	Version      string   `json:"version"`
	Publisher    string   `json:"publisher"`
	ModuleSHA256 string   `json:"module_sha256"`
	ABI          string   `json:"abi"`
	Tools        []Tool   `json:"tools"`
	Secrets      []Secret `json:"secrets,omitempty"`
	Limits       Limits   `json:"limits"`
}

// Tool is one tool of a manifest: an export of the module of the same name.
type Tool struct {
	Name         string           `json:"name"`
	Description  string           `json:"description"`
	InputSchema  json.RawMessage  `json:"input_schema"`
	OutputSchema json.RawMessage  `json:"output_schema"`
	Capabilities []abi.Capability `json:"capabilities"`
	Approval     bool             `json:"approval"`
}

// Secret declares a vault secret the plugin may have injected into requests
// to Hosts, as header Header with value Format where "{}" is the secret.
type Secret struct {
	Name   string   `json:"name"`
	Hosts  []string `json:"hosts"`
	Header string   `json:"header"`
	Format string   `json:"format"`
}

// Limits are the plugin's own resource limits; zero means "no opinion".
type Limits struct {
	MemoryMB  int `json:"memory_mb,omitempty"`
	TimeoutMS int `json:"timeout_ms,omitempty"`
}

var (
	bundleNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)
	toolNameRE   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	secretNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
	versionRE    = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)
	sha256HexRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// secretHostRE is deliberately narrow: optional http(s) scheme, optional
	// leading "*." wildcard, a DNS name, IPv4 or bracketed IPv6 literal, and an
	// optional port. The egress allowlist decides what actually matches.
	secretHostRE = regexp.MustCompile(`^(https?://)?(\*\.)?([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`)
)

// forbiddenSecretHeaders are headers a secret may never be injected into:
// framing, routing and hop-by-hop headers, which the egress client refuses
// anyway (matched case-insensitively; "proxy-" is a prefix).
var forbiddenSecretHeaders = []string{
	"host", "content-length", "transfer-encoding", "connection", "upgrade",
	"te", "trailer", "keep-alive", "proxy-",
}

// ParseManifest decodes a signed manifest strictly. Unknown, duplicate or
// case-folded fields and trailing data are refused; every field is validated
// (names, semver-like version, abi, did:key publisher, lowercase hex module
// hash, tools, capabilities, secrets, limits) and both schemas of every tool
// must compile (see [Compile]). data is capped at [MaxManifestBytes].
func ParseManifest(data []byte) (*Manifest, error) {
	return parse(data, false)
}

// ParseTemplate is [ParseManifest] for a plugin's source manifest.json: the
// publisher and module_sha256 may be empty (they are filled by [Build]).
func ParseTemplate(data []byte) (*Manifest, error) {
	return parse(data, true)
}

func parse(data []byte, template bool) (*Manifest, error) {
	if len(data) > MaxManifestBytes {
		return nil, errorf(ErrTooLarge, "manifest is %d bytes, cap %d", len(data), MaxManifestBytes)
	}
	if err := checkJSONShape(data); err != nil {
		return nil, errorf(ErrMalformed, "manifest: %v", err)
	}
	if err := checkFieldNames(data); err != nil {
		return nil, errorf(ErrMalformed, "%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, errorf(ErrMalformed, "manifest: %v", err)
	}
	if err := m.validate(template); err != nil {
		return nil, err
	}
	// The schemas must compile now, so that a manifest that parses is one
	// that can serve.
	if _, err := Compile(data, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// validate checks every field; template relaxes publisher and module_sha256.
func (m *Manifest) validate(template bool) error {
	bad := func(format string, args ...any) error {
		return errorf(ErrMalformed, "manifest: "+format, args...)
	}
	if !bundleNameRE.MatchString(m.Name) {
		return bad("name %q must match %s", m.Name, bundleNameRE)
	}
	if len(m.Version) > maxVersionLen || !versionRE.MatchString(m.Version) {
		return bad("version %q is not MAJOR.MINOR.PATCH[-prerelease]", m.Version)
	}
	if m.ABI != abi.Version {
		return bad("abi %q, want %q", m.ABI, abi.Version)
	}
	if m.Publisher != "" || !template {
		if !strings.HasPrefix(m.Publisher, "did:key:") {
			return bad("publisher %q is not a did:key", m.Publisher)
		}
		if _, err := identity.DecodeDID(m.Publisher); err != nil {
			return bad("publisher: %v", err)
		}
	}
	if m.ModuleSHA256 != "" || !template {
		if !sha256HexRE.MatchString(m.ModuleSHA256) {
			return bad("module_sha256 must be 64 lowercase hex digits")
		}
	}
	if len(m.Tools) == 0 {
		return bad("no tools")
	}
	tools := make(map[string]bool, len(m.Tools))
	for i := range m.Tools {
		t := &m.Tools[i]
		if err := t.validate(); err != nil {
			return bad("tool %d: %v", i, err)
		}
		if tools[t.Name] {
			return bad("duplicate tool %q", t.Name)
		}
		tools[t.Name] = true
	}
	secrets := make(map[string]bool, len(m.Secrets))
	for i, s := range m.Secrets {
		if err := s.validate(); err != nil {
			return bad("secret %d: %v", i, err)
		}
		if secrets[s.Name] {
			return bad("duplicate secret %q", s.Name)
		}
		secrets[s.Name] = true
	}
	if m.Limits.MemoryMB < 0 || m.Limits.TimeoutMS < 0 {
		return bad("limits must not be negative")
	}
	return nil
}

func (t *Tool) validate() error {
	if !toolNameRE.MatchString(t.Name) {
		return fmt.Errorf("name %q must match %s", t.Name, toolNameRE)
	}
	if len(t.Description) > MaxDescriptionBytes {
		return fmt.Errorf("tool %q: description is over %d bytes", t.Name, MaxDescriptionBytes)
	}
	if isAbsent(t.InputSchema) {
		return fmt.Errorf("tool %q: input_schema missing", t.Name)
	}
	if isAbsent(t.OutputSchema) {
		return fmt.Errorf("tool %q: output_schema missing", t.Name)
	}
	seen := make(map[abi.Capability]bool, len(t.Capabilities))
	for _, c := range t.Capabilities {
		if !c.Valid() {
			return fmt.Errorf("tool %q: unknown capability %q", t.Name, string(c))
		}
		if seen[c] {
			return fmt.Errorf("tool %q: duplicate capability %q", t.Name, string(c))
		}
		seen[c] = true
	}
	if t.Capabilities == nil {
		t.Capabilities = []abi.Capability{}
	}
	return nil
}

func (s Secret) validate() error {
	if !secretNameRE.MatchString(s.Name) {
		return fmt.Errorf("name %q must match %s", s.Name, secretNameRE)
	}
	if len(s.Hosts) == 0 {
		return fmt.Errorf("secret %s: no hosts", s.Name)
	}
	for _, h := range s.Hosts {
		if len(h) > maxHostLen || !secretHostRE.MatchString(h) {
			return fmt.Errorf("secret %s: invalid host %q", s.Name, h)
		}
	}
	if !httpguts.ValidHeaderFieldName(s.Header) {
		return fmt.Errorf("secret %s: header %q is not a valid header name", s.Name, s.Header)
	}
	lower := strings.ToLower(s.Header)
	for _, f := range forbiddenSecretHeaders {
		if lower == f || (strings.HasSuffix(f, "-") && strings.HasPrefix(lower, f)) {
			return fmt.Errorf("secret %s: header %q may not carry a secret", s.Name, s.Header)
		}
	}
	if strings.Count(s.Format, "{}") != 1 {
		return fmt.Errorf(`secret %s: format must contain exactly one "{}"`, s.Name)
	}
	if !httpguts.ValidHeaderFieldValue(s.Format) {
		return fmt.Errorf("secret %s: format is not a valid header value", s.Name)
	}
	return nil
}

// isAbsent reports whether a raw JSON field was missing or null.
func isAbsent(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// checkJSONShape walks data token by token and refuses what encoding/json
// lets through silently: duplicate object keys (last one wins), trailing data
// after the top-level value, and nesting deeper than maxJSONDepth.
func checkJSONShape(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		keys    map[string]bool // nil for arrays
		wantKey bool
	}
	var stack []*frame
	done := false
	// valueDone marks the end of one value in the enclosing container.
	valueDone := func() {
		if len(stack) == 0 {
			done = true
			return
		}
		if top := stack[len(stack)-1]; top.keys != nil {
			top.wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if !done {
				return errors.New("empty document")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if done {
			return errors.New("trailing data after the JSON value")
		}
		if len(stack) > 0 {
			if top := stack[len(stack)-1]; top.keys != nil && top.wantKey {
				// Token only yields a string (or '}') where a key is expected.
				if k, ok := tok.(string); ok {
					if top.keys[k] {
						return fmt.Errorf("duplicate key %q", k)
					}
					top.keys[k] = true
					top.wantKey = false
					continue
				}
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxJSONDepth {
				return fmt.Errorf("nested deeper than %d", maxJSONDepth)
			}
			f := &frame{}
			if tok == json.Delim('{') {
				f.keys, f.wantKey = map[string]bool{}, true
			}
			stack = append(stack, f)
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// checkFieldNames refuses keys that encoding/json would match to a field
// case-insensitively ("Name" for "name"): the manifest's own objects must use
// the exact field names. Schemas are not touched.
func checkFieldNames(data []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return err
	}
	if err := exactKeys("manifest", top, Manifest{}); err != nil {
		return err
	}
	var objs []map[string]json.RawMessage
	if raw, ok := top["tools"]; ok {
		if err := json.Unmarshal(raw, &objs); err != nil {
			return fmt.Errorf("tools: %w", err)
		}
		for _, o := range objs {
			if err := exactKeys("tool", o, Tool{}); err != nil {
				return err
			}
		}
	}
	if raw, ok := top["secrets"]; ok {
		objs = nil
		if err := json.Unmarshal(raw, &objs); err != nil {
			return fmt.Errorf("secrets: %w", err)
		}
		for _, o := range objs {
			if err := exactKeys("secret", o, Secret{}); err != nil {
				return err
			}
		}
	}
	if raw, ok := top["limits"]; ok {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(raw, &o); err != nil {
			return fmt.Errorf("limits: %w", err)
		}
		if err := exactKeys("limits", o, Limits{}); err != nil {
			return err
		}
	}
	return nil
}

// exactKeys checks that every key of obj is the json tag name of a field of
// the struct v.
func exactKeys(what string, obj map[string]json.RawMessage, v any) error {
	typ := reflect.TypeOf(v)
	names := make(map[string]bool, typ.NumField())
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		names[name] = true
	}
	for k := range obj {
		if !names[k] {
			return fmt.Errorf("%s: unknown field %q", what, k)
		}
	}
	return nil
}
