// Package jsonscan finds the string literals of a valid JSON document by
// their byte ranges, without decoding them, so that callers (DLP redaction,
// injection scanning) can rewrite or flag a literal in place and keep every
// other byte's offset.
package jsonscan

// Literal is the byte range [Start, End) of one JSON string literal, quotes
// included. Key reports whether it is an object key.
type Literal struct {
	Start, End int
	Key        bool
}

// StringLiterals returns the string literals of data in order. data must be
// valid JSON (callers check json.Valid first): then every '"' outside a
// string opens one, and a string is an object key when the next byte after
// it that is not white space is ':'. On other input it returns the
// literals before the first unterminated one and never panics.
func StringLiterals(data []byte) []Literal {
	var lits []Literal
	for i := 0; i < len(data); i++ {
		if data[i] != '"' {
			continue
		}
		end, _, ok := StringEnd(data, i)
		if !ok {
			break // unterminated: not valid JSON
		}
		k := end
		for k < len(data) && (data[k] == ' ' || data[k] == '\t' || data[k] == '\n' || data[k] == '\r') {
			k++
		}
		lits = append(lits, Literal{Start: i, End: end, Key: k < len(data) && data[k] == ':'})
		i = end - 1
	}
	return lits
}

// StringEnd returns the index just past the string literal whose opening
// quote is data[i]; ok is false if it is not terminated. simple reports a
// literal without escapes or control characters, which is then valid JSON.
func StringEnd(data []byte, i int) (end int, simple, ok bool) {
	simple = true
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return j + 1, simple, true
		case c == '\\':
			simple = false
			j++ // the escaped byte; a \uXXXX's hex digits need no care
		case c < 0x20:
			simple = false
		}
	}
	return 0, false, false
}
