// Package ascii compares bytes ignoring ASCII case only, for the output
// filters' scanners (host/inject, host/dlp), which must match exactly what
// their ASCII-lowercasing reference implementations match: bytes.EqualFold
// would also fold non-ASCII runes such as U+212A (Kelvin sign) into 'k'.
package ascii

// Lower returns c in lower case if it is an ASCII capital letter, else c.
func Lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// HasPrefixFold reports whether b begins with word, ignoring ASCII case.
// word must be in lower case.
func HasPrefixFold(b []byte, word string) bool {
	if len(b) < len(word) {
		return false
	}
	for i := range len(word) {
		if Lower(b[i]) != word[i] {
			return false
		}
	}
	return true
}
