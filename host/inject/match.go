package inject

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"

	"github.com/airlock-dev/airlock/internal/ascii"
)

// A matcher finds the matches of one detector's pattern without running
// the pattern over the whole text: Go's regexp engine costs about half a
// microsecond per byte for patterns this size (9 ms for 20 KB of JSON),
// while a match can only begin at a few kinds of places — a word that
// starts one of the phrases, a line start, a '<'. The matcher finds those
// candidates with a byte scan and runs the pattern, anchored, from each.
// It reports exactly the matches pattern.FindAllIndex reports (the
// differential fuzz test FuzzMatchersAgree holds it to that).
type matcher struct {
	pattern *regexp.Regexp // the detector's pattern, over the whole text
	// first holds the bytes a match may begin with; with lineStarts, a
	// match may also begin at the start of any line.
	first      [256]bool
	lineStarts bool
	// at returns the end of the pattern's match that begins at text[p],
	// or -1.
	at func(text []byte, p int) int
}

// next returns the first candidate position at or after p, or len(text).
func (m *matcher) next(text []byte, p int) int {
	for ; p < len(text); p++ {
		if m.first[text[p]] || m.lineStarts && (p == 0 || text[p-1] == '\n') {
			return p
		}
	}
	return p
}

// findAll returns the leftmost-first, non-overlapping matches in text,
// as regexp.FindAllIndex does.
func (m *matcher) findAll(text []byte) [][]int {
	var out [][]int
	for p := m.next(text, 0); p < len(text); p = m.next(text, p+1) {
		if end := m.at(text, p); end > p {
			out = append(out, []int{p, end})
			p = end - 1
		}
	}
	return out
}

// match reports whether text holds a match.
func (m *matcher) match(text []byte) bool {
	for p := m.next(text, 0); p < len(text); p = m.next(text, p+1) {
		if m.at(text, p) > p {
			return true
		}
	}
	return false
}

// newPhraseMatcher matches (?i)\b(?:phrase|phrase|…): each phrase must
// begin with a literal word (startsOf), and at a candidate only the
// phrases that can begin there are tried, each with its own small
// anchored pattern, in their order — which is how leftmost-first
// alternation picks among them.
func newPhraseMatcher(phrases []string) *matcher {
	m := &matcher{pattern: regexp.MustCompile(`(?i)\b(?:` + strings.Join(phrases, "|") + `)`)}
	type phraseRE struct {
		starts *wordStarts
		re     *regexp.Regexp
	}
	res := make([]phraseRE, len(phrases))
	for i, p := range phrases {
		res[i] = phraseRE{startsOf([]string{p}), regexp.MustCompile(`(?i)^(?:` + p + `)`)}
	}
	all := startsOf(phrases)
	for b, prefixes := range all {
		if len(prefixes) > 0 {
			m.first[b] = true
			if 'a' <= b && b <= 'z' {
				m.first[b-'a'+'A'] = true
			}
		}
	}
	m.at = func(text []byte, p int) int {
		if !all.at(text, p) {
			return -1
		}
		for _, r := range res {
			if !r.starts.at(text, p) {
				continue
			}
			if loc := r.re.FindIndex(text[p:]); loc != nil {
				return p + loc[1]
			}
		}
		return -1
	}
	mustNotMatchEmpty(m.pattern)
	return m
}

// newLineMatcher matches flags(?:alternatives), each of which begins at a
// line start ((?m)^) or with one of the bytes of first, trying it only
// there.
func newLineMatcher(flags, alternatives, first string) *matcher {
	m := &matcher{pattern: regexp.MustCompile(flags + `(?:` + alternatives + `)`), lineStarts: true}
	for _, b := range []byte(first) {
		m.first[b] = true
	}
	anchored := regexp.MustCompile(flags + `^(?:` + alternatives + `)`)
	m.at = func(text []byte, p int) int {
		if loc := anchored.FindIndex(text[p:]); loc != nil {
			return p + loc[1]
		}
		return -1
	}
	mustNotMatchEmpty(m.pattern)
	return m
}

// mustNotMatchEmpty panics if re matches the empty string: findAll steps
// over each match, which an empty one would not move past.
func mustNotMatchEmpty(re *regexp.Regexp) {
	if re.MatchString("") {
		panic("inject: a detector pattern matches the empty string")
	}
}

// isWordByte is Go regexp's \b notion of a word character (ASCII only).
func isWordByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// wordStarts indexes, by first byte, the lower-case literal prefixes one of
// which every match of a (?i)\b(?:…) pattern begins with.
type wordStarts [256][]string

// at reports whether text[p] is at a word boundary and begins one of the
// prefixes (ASCII case-insensitively). The text is NFKC-normalized, so
// the only non-ASCII letters that fold to ASCII ones (U+017F long s,
// U+212A Kelvin sign) have already become 's' and 'K'.
func (w *wordStarts) at(text []byte, p int) bool {
	if p > 0 && isWordByte(text[p-1]) {
		return false
	}
	for _, s := range w[ascii.Lower(text[p])] {
		if ascii.HasPrefixFold(text[p:], s) {
			return true
		}
	}
	return false
}

// startsOf returns the word starts of the phrases (each a (?i) pattern):
// the literal each must begin with, read from its parsed form. It panics
// when a phrase does not begin with a literal word, so that a new phrase
// cannot silently escape the candidate scan.
func startsOf(phrases []string) *wordStarts {
	var w wordStarts
	for _, p := range phrases {
		re, err := syntax.Parse(`(?i)`+p, syntax.Perl)
		if err != nil {
			panic(fmt.Sprintf("inject: phrase %q: %v", p, err))
		}
		prefixes, ok := literalPrefixes(re)
		if !ok {
			panic(fmt.Sprintf("inject: phrase %q does not begin with a literal word", p))
		}
		for _, s := range prefixes {
			s = strings.ToLower(s)
			if s == "" || !isWordByte(s[0]) || strings.IndexFunc(s, func(r rune) bool { return r >= 0x80 }) >= 0 {
				panic(fmt.Sprintf("inject: phrase %q begins with %q, not an ASCII word", p, s))
			}
			w[s[0]] = append(w[s[0]], s)
		}
	}
	return &w
}

// literalPrefixes returns literals one of which every match of re begins
// with, or false if re may begin otherwise.
func literalPrefixes(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return []string{string(re.Rune)}, len(re.Rune) > 0
	case syntax.OpCapture:
		return literalPrefixes(re.Sub[0])
	case syntax.OpConcat:
		if len(re.Sub) == 0 {
			return nil, false
		}
		first, ok := literalPrefixes(re.Sub[0])
		if !ok || re.Sub[0].Op != syntax.OpLiteral || len(re.Sub) == 1 {
			return first, ok
		}
		// A literal is all of its part of the match: what follows it
		// lengthens the prefixes (the parser factors "real|revised" into
		// "re(?:al|vised)", and "re" alone would make every "re…" word a
		// candidate).
		rest, ok := literalPrefixes(&syntax.Regexp{Op: syntax.OpConcat, Flags: re.Flags, Sub: re.Sub[1:]})
		if !ok {
			return first, true
		}
		var out []string
		for _, r := range rest {
			out = append(out, first[0]+r)
		}
		return out, true
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			p, ok := literalPrefixes(sub)
			if !ok {
				return nil, false
			}
			out = append(out, p...)
		}
		return out, true
	case syntax.OpCharClass:
		// [Aa]-style classes of a few letters, as alternation of single
		// letters parses to.
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1]-re.Rune[i] > 26 {
				return nil, false
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				out = append(out, string(r))
			}
		}
		return out, len(out) > 0
	}
	return nil, false
}
