package inject

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/airlock-dev/airlock/internal/jsonscan"
)

// sep is what may stand between the words of a phrase: white space, HTML
// tags and non-breaking-space entities, markdown emphasis and quotes, and
// JSON-escaped newlines and tabs.
const sep = `(?:[\s\p{Zs}*_~>"'\x60]|&nbsp;|&#160;|&#xa0;|\\[nrt]|<[^<>]{0,64}>)+`

// phrase turns a pattern written with single spaces between words into one
// that allows any run of sep there.
func phrase(p string) string { return strings.ReplaceAll(p, " ", sep) }

// overridePhrases are instruction-override phrases seen in prompt-injection
// attacks; spaces stand for sep.
var overridePhrases = []string{
	`ignore (?:(?:all|any|the|your|every|of|my|these|those) )*(?:previous|prior|above|earlier|preceding|foregoing|former|original|initial|system|developer)(?: \w+)? (?:instructions?|prompts?|directions?|rules|guidelines|messages|context|commands?|guardrails)`,
	`ignore (?:(?:all|any|of) )*(?:your|the system'?s?) (?:instructions?|system prompt|prompt|rules|guidelines|guardrails)`,
	`disregard (?:(?:all|any|the|your|every|of|my|these|those) )*(?:(?:previous|prior|above|earlier|preceding|system|original|initial|developer) )?(?:instructions?|prompts?|directions?|rules|guidelines|messages|context|system prompt|guardrails)`,
	`forget (?:(?:all|any|the|your|every|of|my|everything) )*(?:previous|prior|above|earlier|preceding|your|system) (?:instructions?|prompts?|directions?|rules|guidelines|messages|context)`,
	`forget everything (?:above|before|you (?:were|have been) told)`,
	`you are now (?:an? |the |in |no longer|acting|going to|my |free|unrestricted|unfiltered|jailbroken|DAN\b|in developer mode)`,
	`(?:new|updated|revised|real|actual|additional) (?:system )?(?:instructions?|prompt|task)(?: )?:`,
	`(?:override|bypass) (?:(?:the|your|all|any) )*(?:system prompt|instructions?|safety|guardrails|rules|restrictions|filters?)`,
	`do not (?:follow|obey) (?:(?:the|your|any) )*(?:previous|prior|above|original|system) (?:instructions?|prompts?|rules)`,
	`(?:reveal|print|output|repeat|show|leak) (?:me )?(?:your|the) (?:system prompt|initial instructions|hidden instructions|original instructions|instructions above)`,
	`from now on,? you (?:are|will|must|shall)`,
	`act as (?:an? )?(?:unrestricted|unfiltered|jailbroken|DAN\b)`,
}

// override matches an override phrase that begins a word.
var override = func() *matcher {
	parts := make([]string, len(overridePhrases))
	for i, p := range overridePhrases {
		parts[i] = phrase(p)
	}
	return newPhraseMatcher(parts)
}()

// roleplay matches chat-template tokens and role headers that try to open
// a new turn or system message inside data. Each alternative begins at a
// line start or with '<' or '[' — and none that begins at a line start
// can begin with '<' or '[', so testing those anchored mid-line finds
// nothing a line start would not.
var roleplay = newLineMatcher(`(?i)`, strings.Join([]string{
	`(?m:^[ \t]*#{1,6}[ \t]*(?:system|assistant)\b)`,
	`(?m:^[ \t]*#{1,6}[ \t]*(?:instruction|response)[ \t]*:)`,
	`(?m:^[ \t]*system[ \t]*:)`,
	`(?-i:(?m:^(?:Human|Assistant)[ \t]*:))`,
	`<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text)\|>`,
	`\[/?INST\]`,
	`<</?SYS>>`,
	`</?(?:system|system[_-]?prompt|instructions)>`,
	`<(?:start|end)_of_turn>`,
}, "|"), "<[")

// isInvisible reports whether r is an invisible character used to hide or
// reorder text.
func isInvisible(r rune) bool {
	switch {
	case r >= 0xE0000 && r <= 0xE007F: // tags
		return true
	case r >= 0x200B && r <= 0x200D: // zero-width space, non-joiner, joiner
		return true
	case r >= 0x2060 && r <= 0x2064: // word joiner, invisible operators
		return true
	case r == 0xFEFF: // zero-width no-break space
		return true
	case r >= 0x202A && r <= 0x202E: // bidi embeddings and overrides
		return true
	case r >= 0x2066 && r <= 0x2069: // bidi isolates
		return true
	}
	return false
}

// findInvisible returns each run of invisible characters; a byte-order mark
// that opens the text is not one.
func findInvisible(text []byte) []Flag {
	var flags []Flag
	start := -1
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		inv := isInvisible(r) && !(i == 0 && r == 0xFEFF)
		switch {
		case inv && start < 0:
			start = i
		case !inv && start >= 0:
			flags = append(flags, Flag{Kind: KindInvisible, Start: start, End: i})
			start = -1
		}
		i += size
	}
	if start >= 0 {
		flags = append(flags, Flag{Kind: KindInvisible, Start: start, End: len(text)})
	}
	return flags
}

// normalized is text with invisible characters removed and each other
// character NFKC-folded, with the original range of every byte.
type normalized struct {
	text       []byte
	start, end []int // original [start, end) of the character that gave each byte
}

func normalize(text []byte) normalized {
	n := normalized{
		text:  make([]byte, 0, len(text)),
		start: make([]int, 0, len(text)),
		end:   make([]int, 0, len(text)),
	}
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		var out []byte
		switch {
		case isInvisible(r) || r == 0x00AD: // soft hyphen hides inside words too
		case r < utf8.RuneSelf || r == utf8.RuneError:
			out = text[i : i+size]
		default:
			out = norm.NFKC.Bytes(text[i : i+size])
		}
		for _, b := range out {
			n.text = append(n.text, b)
			n.start = append(n.start, i)
			n.end = append(n.end, i+size)
		}
		i += size
	}
	return n
}

// find returns the matches of m in the normalized text as flags over the
// original text.
func (n normalized) find(kind string, m *matcher) []Flag {
	var flags []Flag
	for _, m := range m.findAll(n.text) {
		if m[1] <= m[0] {
			continue
		}
		flags = append(flags, Flag{Kind: kind, Start: n.start[m[0]], End: n.end[m[1]-1]})
	}
	return flags
}

// maxDepth bounds how many base64 layers are peeled.
const maxDepth = 2

// base64Run is a run of at least 40 base64 characters, either alphabet:
// shorter runs rarely hold a whole instruction.
var base64Run = regexp.MustCompile(`[A-Za-z0-9+/]{40,}={0,2}|[A-Za-z0-9_-]{40,}={0,2}`)

// base64Runs returns base64Run.FindAllIndex(text, -1) without running the
// pattern over the whole text: a match lies inside a run of at least 40
// bytes of either alphabet, plus at most two '=' after it, so the pattern
// runs over those segments only (most text has none).
func base64Runs(text []byte) [][]int {
	var out [][]int
	for i := 0; i < len(text); {
		if !isBase64Byte(text[i]) {
			i++
			continue
		}
		start := i
		for i < len(text) && isBase64Byte(text[i]) {
			i++
		}
		if i-start < 40 {
			continue
		}
		end := i
		for end < len(text) && end-i < 2 && text[end] == '=' {
			end++
		}
		for _, m := range base64Run.FindAllIndex(text[start:end], -1) {
			out = append(out, []int{start + m[0], start + m[1]})
		}
		i = end
	}
	return out
}

// isBase64Byte reports whether b belongs to either base64 alphabet
// ([A-Za-z0-9+/] or [A-Za-z0-9_-]).
func isBase64Byte(b byte) bool {
	return isWordByte(b) || b == '+' || b == '/' || b == '-'
}

var encodings = []*base64.Encoding{
	base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
}

// findEncoded flags base64 runs whose decoding carries an override phrase
// or a role header, also behind a second layer of base64.
func findEncoded(text []byte, depth int) []Flag {
	if depth >= maxDepth {
		return nil
	}
	var flags []Flag
	for _, m := range base64Runs(text) {
		if decodedInjects(text[m[0]:m[1]], depth) {
			flags = append(flags, Flag{Kind: KindEncoded, Start: m[0], End: m[1]})
		}
	}
	return flags
}

func decodedInjects(run []byte, depth int) bool {
	for _, enc := range encodings {
		dec := make([]byte, enc.DecodedLen(len(run)))
		k, err := enc.Decode(dec, run)
		if err != nil || !utf8.Valid(dec[:k]) {
			continue
		}
		n := normalize(dec[:k])
		if override.match(n.text) || roleplay.match(n.text) {
			return true
		}
		if len(findEncoded(dec[:k], depth+1)) > 0 {
			return true
		}
	}
	return false
}

// scanJSONStrings scans the decoded form of every escaped string literal of
// valid JSON and flags a marker found there over the literal, unless raw
// already holds a flag of that kind inside the literal.
func scanJSONStrings(text []byte, raw []Flag) []Flag {
	if bytes.IndexByte(text, '\\') < 0 || !json.Valid(text) {
		return nil
	}
	var flags []Flag
	for _, lit := range jsonscan.StringLiterals(text) {
		quoted := text[lit.Start:lit.End]
		if bytes.IndexByte(quoted, '\\') < 0 {
			continue // scanned as it is
		}
		var s string
		if err := json.Unmarshal(quoted, &s); err != nil {
			continue
		}
		seen := map[string]bool{}
		for _, f := range raw {
			if f.Start < lit.End && f.End > lit.Start {
				seen[f.Kind] = true
			}
		}
		for _, f := range scanText([]byte(s), 0) {
			if !seen[f.Kind] {
				seen[f.Kind] = true
				flags = append(flags, Flag{Kind: f.Kind, Start: lit.Start, End: lit.End})
			}
		}
	}
	return flags
}
