package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"unicode/utf16"
	"unicode/utf8"
)

// minEncoded is the shortest encoded or alphanumeric-only form that the
// scanner looks for; shorter forms would match ordinary text. The raw value
// is always looked for, whatever its length.
const minEncoded = 8

// Scanner finds secret values in bytes, raw or encoded. Build one per
// invocation from the values in play ([Vault.Values]); it is safe for
// concurrent use.
//
// The scanner decodes the data rather than encoding the values where it
// can: it looks in the data as given, in its JSON-unescaped form (\", \\,
// \/, \n, \uXXXX …), and in the percent-decoded form of each (with and
// without '+' as space), so any mix of upper and lower case and any choice
// of which bytes to escape is caught. In each of those it looks for
//
//   - the value itself;
//   - its base64, standard and URL alphabets, padded or not, also inside a
//     longer base64 blob: the value is encoded at each of the 3 byte offsets
//     and the characters that depend on neighbouring bytes are trimmed;
//   - its hex, in any letter case;
//   - "split" forms: the value with separators inserted (dashes, spaces,
//     newlines, line-wrapped base64 …), by comparing only the ASCII letters
//     and digits of both sides, when the value has at least 8 of them.
type Scanner struct {
	patterns []pattern
}

// pattern is what Find looks for on behalf of one value.
type pattern struct {
	raw      []byte
	b64      [][]byte // base64 cores, compared as they are
	hex      []byte   // lowercase hex, compared with lowercased data
	split    [][]byte // alphanumeric-only forms, compared with alphanumeric-only data
	splitHex []byte   // lowercase hex, compared with lowercased alphanumeric-only data
}

// NewScanner prepares a scanner for values. Empty values are ignored. The
// scanner keeps copies; values are never part of what it returns.
func NewScanner(values []Secret) *Scanner {
	s := &Scanner{patterns: make([]pattern, len(values))}
	for i, v := range values {
		b := v.bytes()
		if len(b) == 0 {
			continue
		}
		p := pattern{raw: clone(b), b64: base64Cores(b)}
		if h := hex.EncodeToString(b); len(h) >= minEncoded {
			p.hex = []byte(h)
			p.splitHex = p.hex
		}
		add := func(form []byte) {
			if n := alnum(form); len(n) >= minEncoded && !containsForm(p.split, n) {
				p.split = append(p.split, n)
			}
		}
		add(b)
		for _, c := range p.b64 {
			add(c)
		}
		s.patterns[i] = p
	}
	return s
}

// Find reports whether data contains any of the scanner's values, raw or
// encoded, and which one (the lowest index among those found). It never
// returns the value.
func (s *Scanner) Find(data []byte) (index int, found bool) {
	if s == nil || len(s.patterns) == 0 || len(data) == 0 {
		return -1, false
	}
	hs := haystacks(data)
	for i, p := range s.patterns {
		if p.raw == nil {
			continue
		}
		for _, h := range hs {
			if h.contains(p) {
				return i, true
			}
		}
	}
	return -1, false
}

// haystack is one decoded view of the data, with its derived forms computed
// on first use.
type haystack struct {
	b                        []byte
	lower, alnum, lowerAlnum []byte
	done                     bool
}

func (h *haystack) derive() {
	if !h.done {
		h.lower = asciiLower(h.b)
		h.alnum = alnum(h.b)
		h.lowerAlnum = asciiLower(h.alnum)
		h.done = true
	}
}

func (h *haystack) contains(p pattern) bool {
	if bytes.Contains(h.b, p.raw) {
		return true
	}
	for _, c := range p.b64 {
		if bytes.Contains(h.b, c) {
			return true
		}
	}
	if p.hex == nil && p.split == nil {
		return false
	}
	h.derive()
	if p.hex != nil && (bytes.Contains(h.lower, p.hex) || bytes.Contains(h.lowerAlnum, p.splitHex)) {
		return true
	}
	for _, c := range p.split {
		if bytes.Contains(h.alnum, c) {
			return true
		}
	}
	return false
}

// haystacks returns the views of data to search: data, its JSON-unescaped
// form, and the percent-decoded forms of both, each only when it differs.
func haystacks(data []byte) []*haystack {
	views := [][]byte{data}
	if bytes.IndexByte(data, '\\') >= 0 {
		views = append(views, jsonUnescape(data))
	}
	for _, v := range views {
		if bytes.IndexByte(v, '%') >= 0 {
			views = append(views, percentDecode(v, false))
		}
		if bytes.IndexByte(v, '+') >= 0 {
			views = append(views, percentDecode(v, true))
		}
	}
	hs := make([]*haystack, len(views))
	for i, v := range views {
		hs[i] = &haystack{b: v}
	}
	return hs
}

// base64Cores returns the parts of value's base64 encodings (both alphabets)
// that are the same wherever value sits in a longer blob: value is encoded
// after 0, 1 and 2 leading bytes and only the characters made entirely of
// value's bits are kept.
func base64Cores(value []byte) [][]byte {
	var cores [][]byte
	for k := range 3 {
		buf := make([]byte, k+len(value))
		copy(buf[k:], value)
		start := (8*k + 5) / 6          // first character without a leading byte's bits
		end := 8 * (k + len(value)) / 6 // last character without a trailing byte's bits, exclusive
		if end-start < minEncoded {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			c := []byte(enc.EncodeToString(buf)[start:end])
			if !containsForm(cores, c) {
				cores = append(cores, c)
			}
		}
	}
	return cores
}

func containsForm(forms [][]byte, f []byte) bool {
	for _, x := range forms {
		if bytes.Equal(x, f) {
			return true
		}
	}
	return false
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// alnum returns the ASCII letters and digits of b, in order.
func alnum(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if isAlnum(c) {
			out = append(out, c)
		}
	}
	return out
}

func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// percentDecode decodes every well-formed %XX (any case) and, when plus is
// set, '+' as a space; anything else is kept as it is.
func percentDecode(b []byte, plus bool) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '%' && i+2 < len(b) {
			hi, ok1 := unhex(b[i+1])
			lo, ok2 := unhex(b[i+2])
			if ok1 && ok2 {
				out = append(out, hi<<4|lo)
				i += 2
				continue
			}
		}
		if c == '+' && plus {
			c = ' '
		}
		out = append(out, c)
	}
	return out
}

// jsonUnescape decodes the JSON string escapes in b wherever they are
// (\" \\ \/ \b \f \n \r \t \uXXXX, with surrogate pairs); a malformed escape
// is kept as it is.
func jsonUnescape(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' || i+1 == len(b) {
			out = append(out, c)
			continue
		}
		switch e := b[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
			i++
		case 'b':
			out = append(out, '\b')
			i++
		case 'f':
			out = append(out, '\f')
			i++
		case 'n':
			out = append(out, '\n')
			i++
		case 'r':
			out = append(out, '\r')
			i++
		case 't':
			out = append(out, '\t')
			i++
		case 'u':
			r, n := decodeU(b[i:])
			if n == 0 {
				out = append(out, c)
				continue
			}
			out = utf8.AppendRune(out, r)
			i += n - 1
		default:
			out = append(out, c)
		}
	}
	return out
}

// decodeU decodes a \uXXXX escape at the start of b, or a surrogate pair of
// two, returning the rune and the bytes used (0 when malformed).
func decodeU(b []byte) (rune, int) {
	r, ok := hex4(b)
	if !ok {
		return 0, 0
	}
	if utf16.IsSurrogate(r) {
		if r2, ok := hex4(b[6:]); ok {
			if p := utf16.DecodeRune(r, r2); p != utf8.RuneError {
				return p, 12
			}
		}
		return utf8.RuneError, 6
	}
	return r, 6
}

// hex4 parses "\uXXXX" at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range b[2:6] {
		d, ok := unhex(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}
