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
		j := i + 1
		for j < len(data) && data[j] != '"' {
			if data[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(data) {
			break // unterminated: not valid JSON
		}
		end := j + 1
		k := end
		for k < len(data) && (data[k] == ' ' || data[k] == '\t' || data[k] == '\n' || data[k] == '\r') {
			k++
		}
		lits = append(lits, Literal{Start: i, End: end, Key: k < len(data) && data[k] == ':'})
		i = end - 1
	}
	return lits
}
