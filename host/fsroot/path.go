package fsroot

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of the file area.
const (
	// MaxFileBytes caps a file read or written through the area.
	MaxFileBytes = 4 << 20
	// MaxPathBytes caps a tool-supplied path and a grant root.
	MaxPathBytes = 1024
	// MaxListEntries caps the entries of one directory listing; a larger
	// directory is refused with ErrTooLarge.
	MaxListEntries = 1000
)

// checkPath validates a tool-supplied path and returns it without the
// trailing slash that dirOK allows, or "" and what is wrong with it. See the
// package doc for the grammar.
func checkPath(p string, dirOK bool) (clean, problem string) {
	if dirOK && len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	if problem := checkRel(p); problem != "" {
		return "", problem
	}
	return p, ""
}

// checkRel is the grammar shared by paths and grant roots: a non-empty
// relative slash path of at most MaxPathBytes, valid UTF-8, no control
// character, no backslash, and no segment that is empty, "." or "..". It
// returns what is wrong with p, or "".
func checkRel(p string) string {
	switch {
	case p == "":
		return "empty"
	case len(p) > MaxPathBytes:
		return "longer than " + strconv.Itoa(MaxPathBytes) + " bytes"
	case !utf8.ValidString(p):
		return "not UTF-8"
	case p[0] == '/':
		return "absolute"
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == 0:
			return "NUL byte"
		case c < 0x20 || c == 0x7f:
			return "control character"
		case c == '\\':
			return "backslash"
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return "empty segment"
		case ".", "..":
			return `"` + seg + `" segment`
		}
	}
	return ""
}

// compileRoots validates grant roots ("docs/" or "docs") and returns them
// without the trailing slash.
func compileRoots(kind string, roots []string) ([]string, error) {
	out := make([]string, 0, len(roots))
	for _, r := range roots {
		c := strings.TrimSuffix(r, "/")
		if problem := checkRel(c); problem != "" {
			return nil, fmt.Errorf("fsroot: %s root %s: %w: %s", kind, quote(r), ErrInvalid, problem)
		}
		out = append(out, c)
	}
	return out, nil
}

// match returns the longest root that p equals or lies under, and p relative
// to it ("." when p is the root itself).
func match(roots []string, p string) (root, rel string, ok bool) {
	for _, r := range roots {
		var cand string
		switch {
		case p == r:
			cand = "."
		case strings.HasPrefix(p, r) && p[len(r)] == '/':
			cand = p[len(r)+1:]
		default:
			continue
		}
		if !ok || len(r) > len(root) {
			root, rel, ok = r, cand, true
		}
	}
	return root, rel, ok
}
