package dlp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"regexp"
	"strings"
)

// ruleExfil names findings of [FindExfiltration].
const ruleExfil = "markdown-exfil"

// minBlob is the length from which a base64- or hex-looking URL parameter
// counts as smuggled data.
const minBlob = 32

// minDecode is the shortest URL part worth decoding to look for a secret.
const minDecode = 16

// linkPatterns find the URLs that a markdown renderer fetches or offers:
// inline images and links, reference definitions, and inline HTML images.
// Group 1 is the URL.
var linkPatterns = []struct {
	opener byte // a byte every match holds, to skip text without one
	re     *regexp.Regexp
}{
	{'[', regexp.MustCompile(`!?\[[^\]\n]{0,1000}\]\(\s*<?([^\s()<>]+)>?(?:\s+(?:"[^"\n]*"|'[^'\n]*'|\([^)\n]*\)))?\s*\)`)},
	{'[', regexp.MustCompile(`(?m)^[ \t]{0,3}\[[^\]\n]+\]:[ \t]*<?([^\s<>]+)>?`)},
	{'<', regexp.MustCompile(`(?i)<img\b[^>]{0,1000}?\bsrc\s*=\s*["']?([^"'\s>]+)`)},
}

// FindExfiltration finds markdown images and links (and inline HTML
// images) whose URL carries data out: a credential format anywhere in the
// URL, also percent-encoded or base64- or hex-encoded in a path segment,
// query key or value, fragment or host label; or a query key, value or
// fragment of at least 32 base64- or hex-looking characters. Each finding
// spans the whole image or link and has Detector "secrets" and Rule
// "markdown-exfil". A rendered image is fetched without a click, so the
// data would leave as soon as a client displayed the text.
func FindExfiltration(text []byte) []Finding {
	var out []Finding
	for _, p := range linkPatterns {
		if bytes.IndexByte(text, p.opener) < 0 {
			continue
		}
		for _, m := range p.re.FindAllSubmatchIndex(text, -1) {
			if m[2] < 0 || !carriesData(string(text[m[2]:m[3]])) {
				continue
			}
			out = append(out, Finding{Detector: Secrets, Rule: ruleExfil, Start: m[0], End: m[1]})
		}
	}
	return resolve(out)
}

// carriesData reports whether a link target smuggles data: a credential
// anywhere in it, or a query parameter or fragment that looks like an
// encoded blob.
func carriesData(raw string) bool {
	secret, blob := inspectURL(raw)
	return secret || blob
}

// URLCarriesSecret reports whether a URL carries a credential format: in
// clear, percent-encoded, or base64- or hex-encoded in a host label, a path
// segment (or a dot-separated part of one, as in "<hex>.png"), a query key or
// value, or the fragment. Unlike the rule for rendered markdown, an encoded
// blob that decodes to no known credential is not enough here: outgoing API
// requests carry ids, hashes and cursors.
func URLCarriesSecret(raw string) bool {
	secret, _ := inspectURL(raw)
	return secret
}

// inspectURL reports whether raw carries a credential format (secret) and
// whether a query key or value or the fragment looks like an encoded blob of
// at least minBlob characters (blob).
func inspectURL(raw string) (secret, blob bool) {
	if hasSecret([]byte(raw)) {
		return true, false
	}
	if dec, err := url.PathUnescape(raw); err == nil && dec != raw && hasSecret([]byte(dec)) {
		return true, false
	}
	u, err := url.Parse(raw)
	if err != nil {
		// not a URL a client would fetch as such; judge the raw parts
		for _, part := range strings.FieldsFunc(raw, func(r rune) bool { return strings.ContainsRune("/?&=#.:;,", r) }) {
			if decodesToSecret(part) {
				return true, blob
			}
			blob = blob || looksEncoded(part)
		}
		return false, blob
	}
	var parts []string
	parts = append(parts, strings.Split(u.Hostname(), ".")...)
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		parts = append(parts, seg)
		if strings.Contains(seg, ".") {
			parts = append(parts, strings.Split(seg, ".")...)
		}
	}
	var params []string
	for k, vs := range parseQueryLoose(u.RawQuery) {
		params = append(params, k)
		params = append(params, vs...)
	}
	if u.Fragment != "" {
		params = append(params, u.Fragment)
		for k, vs := range parseQueryLoose(u.EscapedFragment()) {
			params = append(params, k)
			params = append(params, vs...)
		}
	}
	for _, p := range params {
		blob = blob || looksEncoded(p)
	}
	for _, p := range append(parts, params...) {
		if d, err := url.PathUnescape(p); err == nil {
			p = d
		}
		if decodesToSecret(p) {
			return true, blob
		}
	}
	return false, blob
}

// parseQueryLoose splits a query like url.ParseQuery but keeps what it can
// of a malformed one.
func parseQueryLoose(q string) map[string][]string {
	out := map[string][]string{}
	for _, pair := range strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' }) {
		k, v, _ := strings.Cut(pair, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		out[k] = append(out[k], v)
	}
	return out
}

// looksEncoded reports whether s is at least minBlob characters of hex, or
// of base64 (either alphabet, padding at the end only) that mixes letter
// cases or letters and digits, as encoded data does and words and slugs do
// not.
func looksEncoded(s string) bool {
	s = strings.TrimSpace(s)
	if len(s) < minBlob {
		return false
	}
	if isHex(s) {
		return true
	}
	body := strings.TrimRight(s, "=")
	if len(s)-len(body) > 2 {
		return false
	}
	var upper, lower, digit bool
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case 'A' <= c && c <= 'Z':
			upper = true
		case 'a' <= c && c <= 'z':
			lower = true
		case '0' <= c && c <= '9':
			digit = true
		case c == '+' || c == '/' || c == '-' || c == '_':
		default:
			return false
		}
	}
	return (upper && lower) || ((upper || lower) && digit)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && !('a' <= c && c <= 'f') && !('A' <= c && c <= 'F') {
			return false
		}
	}
	return len(s) > 0
}

var base64Encodings = []*base64.Encoding{
	base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
}

// decodesToSecret reports whether s, or its base64 or hex decoding, holds a
// credential format.
func decodesToSecret(s string) bool {
	if len(s) < minDecode {
		return false
	}
	if hasSecret([]byte(s)) {
		return true
	}
	for _, enc := range base64Encodings {
		if b, err := enc.DecodeString(s); err == nil && hasSecret(b) {
			return true
		}
	}
	if len(s)%2 == 0 && isHex(s) {
		if b, err := hex.DecodeString(s); err == nil && hasSecret(b) {
			return true
		}
	}
	return false
}
