// Package grant parses, verifies and compiles capability grants (DESIGN §2).
//
// A grant is a compact JWS (typ airlock-grant+jwt) signed by an operator
// trusted for the grant's realm. Decisions follow Parse → Compile → Allow:
// [Parse] decodes the claims strictly (unknown fields are errors), [Compile]
// validates every glob and host pattern once, and the compiled [Grant] answers
// Allow questions without parsing anything at call time.
//
// # Security
//
// The signing key comes only from the JWS kid DID (identity.Verify); whether
// that DID may issue grants for the realm is decided by the caller-supplied
// [Trust]. A grant is bound to one agent (sub), one host (aud) and one realm,
// and is valid only between nbf and exp. Revocation is checked by the caller
// against the store at every use, because it can change while a tool runs.
//
// A delegated grant (prf set) is signed by the agent holding its parent and
// is accepted only through [VerifyChain], which verifies every link up to an
// operator-signed root and checks that each link only narrows its parent;
// [Verifier.Verify] refuses it. VerifyChain returns the jti of every link so
// that revoking any ancestor revokes the child.
package grant

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/egress"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/strictjson"
)

// Errors. Every failure to accept a grant wraps ErrInvalid.
var (
	ErrInvalid = errors.New("grant: invalid")
)

// MaxTokenBytes bounds the size of a grant token.
const MaxTokenBytes = 64 << 10

// Claims is the payload of a grant (DESIGN §2).
type Claims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      string   `json:"aud"`
	Jti      string   `json:"jti"`
	Iat      int64    `json:"iat"`
	Nbf      int64    `json:"nbf"`
	Exp      int64    `json:"exp"`
	Realm    string   `json:"realm"`
	Tools    []string `json:"tools"`
	Caps     Caps     `json:"caps"`
	Budget   Budget   `json:"budget"`
	Approval []string `json:"approval,omitempty"`
	Prf      string   `json:"prf,omitempty"`
}

// Caps are the capabilities a grant gives. A nil field is not granted.
type Caps struct {
	HTTP    *HTTPCap   `json:"http,omitempty"`
	FS      *FSCap     `json:"fs,omitempty"`
	Memory  *MemoryCap `json:"memory,omitempty"`
	Secrets []string   `json:"secrets,omitempty"`
	Mail    *MailCap   `json:"mail,omitempty"`
	Call    []string   `json:"call,omitempty"`
}

// HTTPCap lists the egress hosts (egress.CompileHosts grammar).
type HTTPCap struct {
	Hosts []string `json:"hosts"`
}

// FSCap lists file roots readable and writable by the tool.
type FSCap struct {
	Read  []string `json:"read,omitempty"`
	Write []string `json:"write,omitempty"`
}

// MemoryCap bounds the agent's memory store.
type MemoryCap struct {
	MaxDocs int `json:"max_docs"`
}

// MailCap lists recipient patterns.
type MailCap struct {
	To []string `json:"to"`
}

// Budget limits what the agent may spend; zero means "no limit from the grant".
type Budget struct {
	CallsPerMinute    int   `json:"calls_per_minute,omitempty"`
	TimeoutMS         int   `json:"timeout_ms,omitempty"`
	MemoryMB          int   `json:"memory_mb,omitempty"`
	EgressBytesPerDay int64 `json:"egress_bytes_per_day,omitempty"`
}

var (
	realmRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	segmentRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	secretRE  = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
)

// ValidRealm reports whether s is a well-formed realm name.
func ValidRealm(s string) bool { return realmRE.MatchString(s) }

// Parse decodes grant claims strictly: unknown fields, trailing data and
// missing required claims are errors. It does not check signatures or time.
func Parse(payload []byte) (*Claims, error) {
	if err := strictjson.LowerCaseMembers(payload); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalid, err)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var c Claims
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after claims", ErrInvalid)
	}
	switch {
	case c.Iss == "" || c.Sub == "" || c.Aud == "" || c.Jti == "":
		return nil, fmt.Errorf("%w: iss, sub, aud and jti are required", ErrInvalid)
	case c.Iat == 0 || c.Exp == 0:
		return nil, fmt.Errorf("%w: iat and exp are required", ErrInvalid)
	case c.Exp <= c.Iat || (c.Nbf != 0 && c.Exp <= c.Nbf):
		return nil, fmt.Errorf("%w: exp must be after iat and nbf", ErrInvalid)
	case !realmRE.MatchString(c.Realm):
		return nil, fmt.Errorf("%w: realm %q is not a valid realm name", ErrInvalid, c.Realm)
	case len(c.Tools) == 0:
		return nil, fmt.Errorf("%w: tools must list at least one tool", ErrInvalid)
	}
	b := c.Budget
	if b.CallsPerMinute < 0 || b.TimeoutMS < 0 || b.MemoryMB < 0 || b.EgressBytesPerDay < 0 {
		return nil, fmt.Errorf("%w: budget values must not be negative", ErrInvalid)
	}
	if c.Caps.Memory != nil && c.Caps.Memory.MaxDocs < 0 {
		return nil, fmt.Errorf("%w: caps.memory.max_docs must not be negative", ErrInvalid)
	}
	return &c, nil
}

// Grant is a verified, compiled grant.
type Grant struct {
	Claims Claims
	// Token is the grant JWS as presented; Hash its hex SHA-256 (cache key).
	Token string
	Hash  string

	tools    []pattern
	approval []pattern
	call     []pattern
	hosts    *egress.HostList
	secrets  map[string]bool
}

// pattern is a compiled tool glob: two segments, each a literal or "*".
type pattern struct{ ns, name string }

func compileToolGlob(s string) (pattern, error) {
	if s == "*" {
		return pattern{"*", "*"}, nil
	}
	ns, name, ok := strings.Cut(s, "/")
	if !ok {
		return pattern{}, fmt.Errorf("tool pattern %q: want BUNDLE/TOOL", s)
	}
	for _, seg := range []string{ns, name} {
		if seg != "*" && !segmentRE.MatchString(seg) {
			return pattern{}, fmt.Errorf("tool pattern %q: segment %q is neither a name nor *", s, seg)
		}
	}
	return pattern{ns, name}, nil
}

func (p pattern) match(tool string) bool {
	ns, name, ok := strings.Cut(tool, "/")
	if !ok {
		return false
	}
	return (p.ns == "*" || p.ns == ns) && (p.name == "*" || p.name == name)
}

func compileGlobs(field string, in []string) ([]pattern, error) {
	out := make([]pattern, 0, len(in))
	for _, s := range in {
		p, err := compileToolGlob(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, field, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Globs is a compiled list of tool globs in the grammar of a grant's tools
// ("bundle/tool" where either segment may be "*", or "*" alone). Policies
// compile their approval and deny lists with it, so that a glob means the
// same thing in a grant and in a policy.
type Globs struct{ ps []pattern }

// CompileGlobs validates globs once; an invalid glob is an error wrapping
// [ErrInvalid].
func CompileGlobs(globs []string) (Globs, error) {
	ps, err := compileGlobs("globs", globs)
	if err != nil {
		return Globs{}, err
	}
	return Globs{ps: ps}, nil
}

// Match reports whether any glob matches tool ("bundle/tool").
func (g Globs) Match(tool string) bool { return matchAny(g.ps, tool) }

// Compile validates every pattern in c once and returns the allow-set.
func Compile(c *Claims) (*Grant, error) {
	g := &Grant{Claims: *c, secrets: map[string]bool{}}
	var err error
	if g.tools, err = compileGlobs("tools", c.Tools); err != nil {
		return nil, err
	}
	if g.approval, err = compileGlobs("approval", c.Approval); err != nil {
		return nil, err
	}
	if g.call, err = compileGlobs("caps.call", c.Caps.Call); err != nil {
		return nil, err
	}
	if c.Caps.HTTP != nil {
		if len(c.Caps.HTTP.Hosts) == 0 {
			return nil, fmt.Errorf("%w: caps.http.hosts is empty", ErrInvalid)
		}
		if g.hosts, err = egress.CompileHosts(c.Caps.HTTP.Hosts); err != nil {
			return nil, fmt.Errorf("%w: caps.http.hosts: %v", ErrInvalid, err)
		}
	}
	for _, s := range c.Caps.Secrets {
		if !secretRE.MatchString(s) {
			return nil, fmt.Errorf("%w: caps.secrets: %q is not a secret name", ErrInvalid, s)
		}
		g.secrets[s] = true
	}
	return g, nil
}

// AllowTool reports whether the grant lists tool ("bundle/tool").
func (g *Grant) AllowTool(tool string) bool { return matchAny(g.tools, tool) }

// NeedsApproval reports whether the grant's approval list names tool.
func (g *Grant) NeedsApproval(tool string) bool { return matchAny(g.approval, tool) }

// AllowCall reports whether a tool running under this grant may call tool.
func (g *Grant) AllowCall(tool string) bool { return matchAny(g.call, tool) }

func matchAny(ps []pattern, tool string) bool {
	for _, p := range ps {
		if p.match(tool) {
			return true
		}
	}
	return false
}

// Allows reports whether the grant gives capability c.
func (g *Grant) Allows(c abi.Capability) bool {
	caps := g.Claims.Caps
	switch c {
	case abi.CapNone:
		return true
	case abi.CapHTTP:
		return g.hosts != nil
	case abi.CapFS:
		return caps.FS != nil && (len(caps.FS.Read) > 0 || len(caps.FS.Write) > 0)
	case abi.CapMemory:
		return caps.Memory != nil
	case abi.CapMail:
		return caps.Mail != nil && len(caps.Mail.To) > 0
	case abi.CapCall:
		return len(g.call) > 0
	case abi.CapSecrets:
		return len(g.secrets) > 0
	}
	return false
}

// HTTPHosts returns the compiled egress allowlist (nil when http is not granted).
func (g *Grant) HTTPHosts() *egress.HostList { return g.hosts }

// AllowSecret reports whether the grant lets tools use the named secret.
func (g *Grant) AllowSecret(name string) bool { return g.secrets[name] }

// Trust says whether did is an operator trusted for realm.
type Trust func(realm, did string) bool

// Verifier checks presented grants. It remembers the grants it verified
// (signature, claims, compiled patterns) by the SHA-256 of their token until
// they expire, so an agent presenting the same grant on every request pays
// for the signature check once. Everything that can change between two
// uses — trust in the issuer, the requester, the host, the clock — is
// checked on every use; revocation is the caller's (host/intent checks the
// store on every call).
type Verifier struct {
	HostDID string
	Trust   Trust
	Now     func() time.Time
	// Skew is the allowed clock skew on nbf/exp (default identity.MaxClockSkew).
	Skew time.Duration

	cacheMu sync.Mutex
	cache   map[[sha256.Size]byte]*Grant
}

// MaxCachedGrants bounds the Verifier's cache of verified grants.
const MaxCachedGrants = 4096

// Verify checks token for requester (the DID that signed the request) and
// returns the compiled grant. Revocation is not checked here.
func (v *Verifier) Verify(token, requester string) (*Grant, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: no grant presented", ErrInvalid)
	}
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: grant token too large", ErrInvalid)
	}
	now := v.now()
	sum := sha256.Sum256([]byte(token))
	v.cacheMu.Lock()
	g, ok := v.cache[sum]
	v.cacheMu.Unlock()
	if !ok || g.Token != token {
		var err error
		if g, err = v.verifySignature(token); err != nil {
			return nil, err
		}
		g.Hash = hex.EncodeToString(sum[:])
		// Only grants of trusted issuers are remembered: anyone can sign a
		// well-formed grant with a key of their own.
		if v.Trust != nil && v.Trust(g.Claims.Realm, g.Claims.Iss) {
			v.remember(sum, g, now)
		}
	}
	c := &g.Claims
	if v.Trust == nil || !v.Trust(c.Realm, c.Iss) {
		return nil, fmt.Errorf("%w: issuer is not an operator trusted for the realm", ErrInvalid)
	}
	if c.Sub != requester {
		return nil, fmt.Errorf("%w: grant was issued to another agent", ErrInvalid)
	}
	if c.Aud != v.HostDID {
		return nil, fmt.Errorf("%w: grant is for another host", ErrInvalid)
	}
	if err := v.checkTimes(c, now); err != nil {
		return nil, err
	}
	cp := *g // callers get their own copy; the compiled patterns are read-only
	return &cp, nil
}

// verifySignature does the part of Verify that depends on the token alone:
// signature, claims, compilation.
func (v *Verifier) verifySignature(token string) (*Grant, error) {
	ver, err := identity.Verify(token, identity.TypGrant)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c, err := Parse(ver.Payload)
	if err != nil {
		return nil, err
	}
	if c.Prf != "" {
		return nil, fmt.Errorf("%w: a delegated grant (prf) is accepted only with its chain (VerifyChain)", ErrInvalid)
	}
	if c.Iss != ver.Signer {
		return nil, fmt.Errorf("%w: iss does not name the signing key", ErrInvalid)
	}
	g, err := Compile(c)
	if err != nil {
		return nil, err
	}
	g.Token = token
	return g, nil
}

// remember caches g. When the cache is full it drops the expired grants,
// and if none had expired, an arbitrary half of them.
func (v *Verifier) remember(sum [sha256.Size]byte, g *Grant, now time.Time) {
	v.cacheMu.Lock()
	defer v.cacheMu.Unlock()
	if v.cache == nil {
		v.cache = map[[sha256.Size]byte]*Grant{}
	}
	if len(v.cache) >= MaxCachedGrants {
		for k, e := range v.cache {
			if now.Unix() >= e.Claims.Exp {
				delete(v.cache, k)
			}
		}
		for k := range v.cache {
			if len(v.cache) < MaxCachedGrants/2 {
				break
			}
			delete(v.cache, k)
		}
	}
	v.cache[sum] = g
}

// fill sets the issuer, issue time, not-before and a fresh jti where the
// claims leave them empty.
func (c *Claims) fill(iss string, now time.Time) error {
	if c.Iss == "" {
		c.Iss = iss
	}
	if c.Iat == 0 {
		c.Iat = now.Unix()
	}
	if c.Nbf == 0 {
		c.Nbf = c.Iat
	}
	if c.Jti == "" {
		jti, err := identity.NewJTI()
		if err != nil {
			return err
		}
		c.Jti = jti
	}
	return nil
}

// Issue signs claims as a grant with the operator key. Iss, Iat and Jti are
// filled when empty. The claims are parsed and compiled first, so an invalid
// grant is never signed.
func Issue(op *identity.Key, c Claims, now time.Time) (string, error) {
	if err := c.fill(op.DID(), now); err != nil {
		return "", err
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	parsed, err := Parse(raw)
	if err != nil {
		return "", err
	}
	if _, err := Compile(parsed); err != nil {
		return "", err
	}
	return op.Sign(identity.TypGrant, raw)
}
