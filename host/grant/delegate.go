package grant

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/host/egress"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/mail"
)

// MaxChainLength bounds a delegation chain: the leaf, its parents and the
// operator-signed root together.
const MaxChainLength = 5

// VerifyChain checks a delegated grant presented with its chain (DESIGN §9:
// "chain": [parent, …, operator-signed root]) for requester and returns the
// compiled leaf grant and the jti of every link, leaf first, so that the
// caller can refuse the leaf when any ancestor is revoked.
//
// The root must be a grant that v.Verify accepts for its own sub (an
// operator trusted for the realm signed it, for this host, valid now, no
// prf). Every other link must be signed by the sub of the link above it (its
// iss), carry prf = that link's jti, be for the same host and realm, be valid
// now, expire no later than its parent and only narrow it (see
// [CheckNarrows]). The leaf's sub must be requester. With an empty chain
// VerifyChain is v.Verify. Revocation is not checked here.
func VerifyChain(leaf string, chain []string, requester string, v *Verifier) (*Grant, []string, error) {
	if len(chain) == 0 {
		g, err := v.Verify(leaf, requester)
		if err != nil {
			return nil, nil, err
		}
		return g, []string{g.Claims.Jti}, nil
	}
	if 1+len(chain) > MaxChainLength {
		return nil, nil, fmt.Errorf("%w: delegation chain longer than %d grants", ErrInvalid, MaxChainLength)
	}
	tokens := append([]string{leaf}, chain...)

	// The root names its own holder; v.Verify then checks it exactly as a
	// grant presented by that holder.
	root := tokens[len(tokens)-1]
	rc, _, err := readLink(root)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: chain root: %v", ErrInvalid, unwrapInvalid(err))
	}
	parent, err := v.Verify(root, rc.Sub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: chain root: %v", ErrInvalid, unwrapInvalid(err))
	}
	jtis := []string{parent.Claims.Jti}
	for i := len(tokens) - 2; i >= 0; i-- {
		child, err := v.verifyLink(tokens[i], parent)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: chain link %d: %v", ErrInvalid, i, unwrapInvalid(err))
		}
		if slices.Contains(jtis, child.Claims.Jti) {
			return nil, nil, fmt.Errorf("%w: chain link %d: jti repeats an ancestor's", ErrInvalid, i)
		}
		jtis = append(jtis, child.Claims.Jti)
		parent = child
	}
	if parent.Claims.Sub != requester {
		return nil, nil, fmt.Errorf("%w: grant was issued to another agent", ErrInvalid)
	}
	slices.Reverse(jtis)
	return parent, jtis, nil
}

// unwrapInvalid drops the "grant: invalid: " prefix of an error that is
// about to be wrapped again, so that messages name the sentinel once.
func unwrapInvalid(err error) string {
	return strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")
}

// readLink verifies the signature of one token and parses its claims.
func readLink(token string) (*Claims, string, error) {
	if len(token) > MaxTokenBytes {
		return nil, "", fmt.Errorf("%w: grant token too large", ErrInvalid)
	}
	ver, err := identity.Verify(token, identity.TypGrant)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c, err := Parse(ver.Payload)
	if err != nil {
		return nil, "", err
	}
	if c.Iss != ver.Signer {
		return nil, "", fmt.Errorf("%w: iss does not name the signing key", ErrInvalid)
	}
	return c, ver.Signer, nil
}

// verifyLink checks a delegated token against its already verified parent.
func (v *Verifier) verifyLink(token string, parent *Grant) (*Grant, error) {
	c, _, err := readLink(token)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Prf == "":
		return nil, fmt.Errorf("%w: link has no prf naming its parent", ErrInvalid)
	case c.Prf != parent.Claims.Jti:
		return nil, fmt.Errorf("%w: prf does not name the parent grant", ErrInvalid)
	case c.Iss != parent.Claims.Sub:
		return nil, fmt.Errorf("%w: signed by someone other than the holder (sub) of the parent grant", ErrInvalid)
	case c.Aud != v.HostDID:
		return nil, fmt.Errorf("%w: grant is for another host", ErrInvalid)
	}
	if err := v.checkTimes(c, v.now()); err != nil {
		return nil, err
	}
	g, err := Compile(c)
	if err != nil {
		return nil, err
	}
	if err := CheckNarrows(&parent.Claims, c); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(token))
	g.Token, g.Hash = token, hex.EncodeToString(sum[:])
	return g, nil
}

// now is the verifier's clock.
func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// checkTimes applies the nbf/exp rules at now, with the verifier's skew.
func (v *Verifier) checkTimes(c *Claims, now time.Time) error {
	skew := v.Skew
	if skew == 0 {
		skew = identity.MaxClockSkew
	}
	if c.Nbf != 0 && now.Add(skew).Unix() < c.Nbf {
		return fmt.Errorf("%w: grant not yet valid", ErrInvalid)
	}
	if now.Add(-skew).Unix() >= c.Exp {
		return fmt.Errorf("%w: grant expired", ErrInvalid)
	}
	return nil
}

// Delegate signs child as a grant delegated from parent with the key of the
// agent holding parent (parent.Sub). Iss, Prf, Aud, Realm, Iat, Nbf and Jti
// are filled when empty; Exp defaults to the parent's; a zero budget field
// takes the parent's value and the parent's approval globs are added to the
// child's, because leaving them out would widen the grant. The result is
// checked with [CheckNarrows] before it is signed, so a widening delegation
// is never produced.
func Delegate(holder *identity.Key, parent *Claims, child Claims, now time.Time) (string, error) {
	if holder.DID() != parent.Sub {
		return "", fmt.Errorf("%w: only the holder (sub) of the parent grant may delegate it", ErrInvalid)
	}
	if child.Prf == "" {
		child.Prf = parent.Jti
	}
	if child.Aud == "" {
		child.Aud = parent.Aud
	}
	if child.Realm == "" {
		child.Realm = parent.Realm
	}
	if child.Exp == 0 {
		child.Exp = parent.Exp
	}
	if err := child.fill(holder.DID(), now); err != nil {
		return "", err
	}
	child.Budget = inheritBudget(parent.Budget, child.Budget)
	for _, a := range parent.Approval {
		if !slices.Contains(child.Approval, a) {
			child.Approval = append(child.Approval, a)
		}
	}
	switch {
	case child.Iss != holder.DID():
		return "", fmt.Errorf("%w: iss must be the delegating agent", ErrInvalid)
	case child.Prf != parent.Jti:
		return "", fmt.Errorf("%w: prf must be the parent's jti", ErrInvalid)
	}
	raw, err := json.Marshal(child)
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
	if err := CheckNarrows(parent, parsed); err != nil {
		return "", err
	}
	return holder.Sign(identity.TypGrant, raw)
}

func inheritBudget(p, c Budget) Budget {
	if c.CallsPerMinute == 0 {
		c.CallsPerMinute = p.CallsPerMinute
	}
	if c.TimeoutMS == 0 {
		c.TimeoutMS = p.TimeoutMS
	}
	if c.MemoryMB == 0 {
		c.MemoryMB = p.MemoryMB
	}
	if c.EgressBytesPerDay == 0 {
		c.EgressBytesPerDay = p.EgressBytesPerDay
	}
	return c
}

// CheckNarrows returns nil when child gives nothing that parent does not:
// same realm and host, exp no later, every tool and call glob covered by a
// parent glob, every parent approval glob covered by a child one, each
// capability a subset of the parent's, and each budget no larger (a zero
// budget in the parent is unlimited; under a nonzero one the child's must be
// nonzero and no larger). Patterns are compared conservatively: a refusal
// may be stricter than the exact set relation, an acceptance never wider.
// Every failure wraps [ErrInvalid] and names the field that widens.
func CheckNarrows(parent, child *Claims) error {
	widens := func(field, detail string, args ...any) error {
		return fmt.Errorf("%w: delegated grant widens %s: %s", ErrInvalid, field, fmt.Sprintf(detail, args...))
	}
	switch {
	case child.Realm != parent.Realm:
		return widens("realm", "%q is not the parent's realm", child.Realm)
	case child.Aud != parent.Aud:
		return widens("aud", "not the parent's host")
	case child.Exp > parent.Exp:
		return widens("exp", "expires after the parent")
	}
	if err := globsCovered("tools", parent.Tools, child.Tools); err != nil {
		return err
	}
	if err := globsCovered("caps.call", parent.Caps.Call, child.Caps.Call); err != nil {
		return err
	}
	// Approval works the other way round: every tool the parent holds for
	// a human must still be held in the child.
	cp, err := compileGlobs("approval", child.Approval)
	if err != nil {
		return err
	}
	pp, err := compileGlobs("approval", parent.Approval)
	if err != nil {
		return err
	}
	for i, p := range pp {
		if !slices.ContainsFunc(cp, func(c pattern) bool { return c.covers(p) }) {
			return widens("approval", "drops %q", parent.Approval[i])
		}
	}
	if err := capsNarrow(&parent.Caps, &child.Caps, widens); err != nil {
		return err
	}
	pb, cb := parent.Budget, child.Budget
	for _, b := range []struct {
		name string
		p, c int64
	}{
		{"calls_per_minute", int64(pb.CallsPerMinute), int64(cb.CallsPerMinute)},
		{"timeout_ms", int64(pb.TimeoutMS), int64(cb.TimeoutMS)},
		{"memory_mb", int64(pb.MemoryMB), int64(cb.MemoryMB)},
		{"egress_bytes_per_day", pb.EgressBytesPerDay, cb.EgressBytesPerDay},
	} {
		if !limitWithin(b.p, b.c) {
			return widens("budget."+b.name, "%d is above the parent's %d (0 is unlimited)", b.c, b.p)
		}
	}
	return nil
}

// limitWithin reports whether limit c is no larger than limit p, where 0 is
// unlimited.
func limitWithin(p, c int64) bool { return p == 0 || (c > 0 && c <= p) }

// covers reports whether every tool p matches is matched by b.
func (b pattern) covers(p pattern) bool {
	return (b.ns == "*" || b.ns == p.ns) && (b.name == "*" || b.name == p.name)
}

func globsCovered(field string, parent, child []string) error {
	pp, err := compileGlobs(field, parent)
	if err != nil {
		return err
	}
	cp, err := compileGlobs(field, child)
	if err != nil {
		return err
	}
	for i, c := range cp {
		if !slices.ContainsFunc(pp, func(p pattern) bool { return p.covers(c) }) {
			return fmt.Errorf("%w: delegated grant widens %s: %q is not within the parent's", ErrInvalid, field, child[i])
		}
	}
	return nil
}

func capsNarrow(p, c *Caps, widens func(field, detail string, args ...any) error) error {
	if c.HTTP != nil {
		if p.HTTP == nil {
			return widens("caps.http", "the parent has no http capability")
		}
		if _, err := egress.CompileHosts(c.HTTP.Hosts); err != nil {
			return fmt.Errorf("%w: caps.http.hosts: %v", ErrInvalid, err)
		}
		for _, ch := range c.HTTP.Hosts {
			cs := splitHostPattern(ch)
			if !slices.ContainsFunc(p.HTTP.Hosts, func(ph string) bool { return cs.within(splitHostPattern(ph)) }) {
				return widens("caps.http.hosts", "%q is not within the parent's hosts", ch)
			}
		}
	}
	if c.FS != nil && (len(c.FS.Read) > 0 || len(c.FS.Write) > 0) {
		if p.FS == nil {
			return widens("caps.fs", "the parent has no fs capability")
		}
		if err := rootsWithin("caps.fs.read", p.FS.Read, c.FS.Read, widens); err != nil {
			return err
		}
		if err := rootsWithin("caps.fs.write", p.FS.Write, c.FS.Write, widens); err != nil {
			return err
		}
	}
	if c.Memory != nil {
		if p.Memory == nil {
			return widens("caps.memory", "the parent has no memory capability")
		}
		if !limitWithin(int64(p.Memory.MaxDocs), int64(c.Memory.MaxDocs)) {
			return widens("caps.memory.max_docs", "%d is above the parent's %d (0 is unlimited)", c.Memory.MaxDocs, p.Memory.MaxDocs)
		}
	}
	for _, s := range c.Secrets {
		if !slices.Contains(p.Secrets, s) {
			return widens("caps.secrets", "%q is not among the parent's secrets", s)
		}
	}
	if c.Mail != nil && len(c.Mail.To) > 0 {
		if p.Mail == nil {
			return widens("caps.mail", "the parent has no mail capability")
		}
		if err := mailWithin(p.Mail.To, c.Mail.To, widens); err != nil {
			return err
		}
	}
	return nil
}

// hostPattern is a caps.http.hosts entry split into its parts (already
// validated by egress.CompileHosts).
type hostPattern struct {
	scheme string // "" for both
	host   string // lower case, no trailing dot; "*.name" for a wildcard
	port   int    // 0 for any
}

func splitHostPattern(s string) hostPattern {
	var h hostPattern
	s = strings.ToLower(s)
	if i := strings.Index(s, "://"); i >= 0 {
		h.scheme, s = s[:i], s[i+3:]
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		if end := strings.IndexByte(s, ']'); end >= 0 {
			host, port = s[:end+1], strings.TrimPrefix(s[end+1:], ":")
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
	}
	h.host = strings.TrimSuffix(host, ".")
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 {
			n = -1 // never equal to a valid port, never "any"
		}
		h.port = n
	}
	return h
}

// within reports whether every URL c matches is matched by p: c's scheme and
// port are no broader, and c's host equals p's or is a plain name under p's
// wildcard. A wildcard child is accepted only when it equals the parent's.
func (c hostPattern) within(p hostPattern) bool {
	if p.scheme != "" && p.scheme != c.scheme {
		return false
	}
	if p.port != 0 && p.port != c.port {
		return false
	}
	if c.host == p.host {
		return true
	}
	suffix, wild := strings.CutPrefix(p.host, "*")
	if !wild || strings.Contains(c.host, "*") || strings.HasPrefix(c.host, "[") {
		return false
	}
	if _, err := netip.ParseAddr(c.host); err == nil {
		return false
	}
	return strings.HasSuffix(c.host, suffix) && len(c.host) > len(suffix)
}

// rootsWithin checks that each child file root lies under a parent root of
// the same kind.
func rootsWithin(field string, parent, child []string, widens func(field, detail string, args ...any) error) error {
	for _, c := range child {
		cr := strings.TrimSuffix(c, "/")
		if !validRoot(cr) {
			return fmt.Errorf("%w: %s: %q is not a relative path of plain segments", ErrInvalid, field, c)
		}
		if !slices.ContainsFunc(parent, func(p string) bool {
			pr := strings.TrimSuffix(p, "/")
			return validRoot(pr) && (cr == pr || strings.HasPrefix(cr, pr+"/"))
		}) {
			return widens(field, "%q is not under a parent root", c)
		}
	}
	return nil
}

// validRoot reports whether r is a relative slash path whose segments are
// all names: no empty, "." or ".." segment, no backslash, no control byte.
// On such paths a string prefix is a directory prefix.
func validRoot(r string) bool {
	if r == "" || r[0] == '/' || strings.ContainsAny(r, "\\") {
		return false
	}
	for i := 0; i < len(r); i++ {
		if r[i] < 0x20 || r[i] == 0x7f {
			return false
		}
	}
	for seg := range strings.SplitSeq(r, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// mailWithin checks each child recipient pattern against the parent's: a
// "*@domain" child needs the same "*@domain" in the parent, an exact address
// needs the parent to allow it.
func mailWithin(parent, child []string, widens func(field, detail string, args ...any) error) error {
	if _, err := mail.CompileRecipients(child); err != nil {
		return fmt.Errorf("%w: caps.mail.to: %v", ErrInvalid, err)
	}
	pr, err := mail.CompileRecipients(parent)
	if err != nil {
		return widens("caps.mail.to", "the parent's patterns do not compile")
	}
	for _, c := range child {
		if strings.HasPrefix(c, "*@") {
			if !slices.ContainsFunc(parent, func(p string) bool { return strings.EqualFold(p, c) }) {
				return widens("caps.mail.to", "%q is not among the parent's patterns", c)
			}
			continue
		}
		if !pr.Allow(c) {
			return widens("caps.mail.to", "%q is not allowed by the parent", c)
		}
	}
	return nil
}
