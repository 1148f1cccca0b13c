package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/airlock-dev/airlock/internal/jsonscan"
)

// Member is one member of a JSON object, as [Members] returns it.
type Member struct {
	Name  string // unescaped, as encoding/json decodes it
	Value []byte // the value's bytes, a sub-slice of the input, without surrounding whitespace
}

// Errors of [Members] besides [*DuplicateError].
var (
	// ErrSyntax: not JSON, or invalid JSON anywhere in the object.
	ErrSyntax = errors.New("invalid JSON")
	// ErrNotObject: a JSON value other than an object.
	ErrNotObject = errors.New("not a JSON object")
	// ErrTrailing: something other than whitespace after the object.
	ErrTrailing = errors.New("trailing data after JSON object")
)

// DuplicateError is the refusal of an object that names a member twice.
type DuplicateError struct {
	Name string // the member name, unescaped
}

// Error quotes the name, bounded so that a hostile document cannot flood
// logs.
func (e *DuplicateError) Error() string {
	const limit = 64
	name := e.Name
	if len(name) > limit {
		name = name[:limit] + "..."
	}
	return fmt.Sprintf("duplicate member %q", name)
}

// Members splits data, which must be exactly one JSON object (whitespace
// around it aside), into its members in document order. It refuses invalid
// JSON anywhere in data ([ErrSyntax]), a value other than an object
// ([ErrNotObject]), anything but whitespace after the object ([ErrTrailing])
// and a member name used twice, compared after unescaping so that "a" and
// "\u0061" are the same name ([*DuplicateError]). Nested values are checked
// for validity only: their own members are not split nor compared. An
// empty object has no members (nil, and a nil error).
//
// It accepts and refuses exactly what a json.Decoder reading the object
// token by token (Token for the braces and names, Decode for each value)
// does, at a fraction of the cost, and reports the same first problem
// (except that it may call invalid JSON that does not start with a brace
// ErrNotObject, or the other way round). So each value is validated on its own, by json.Valid unless it is
// a string without escapes: encoding/json's nesting limit counts from the
// value, not from the object. Like encoding/json it accepts invalid UTF-8
// inside strings, and it unescapes a name as encoding/json does (invalid
// UTF-8 becomes U+FFFD, so two names that differ only there are the same).
func Members(data []byte) ([]Member, error) {
	i := skipSpace(data, 0)
	if i == len(data) {
		return nil, ErrSyntax
	}
	if data[i] != '{' {
		if startsValue(data[i]) {
			return nil, ErrNotObject
		}
		return nil, ErrSyntax
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil, trailing(data, i+1)
	}
	var (
		members = make([]Member, 0, 8)
		seen    map[string]struct{} // only for objects with many members
	)
	for i < len(data) && data[i] == '"' {
		nameEnd, simple, ok := jsonscan.StringEnd(data, i)
		if !ok {
			return nil, ErrSyntax
		}
		name, ok := unquote(data[i:nameEnd], simple)
		if !ok {
			return nil, ErrSyntax
		}
		if dupMember(members, &seen, name) {
			return nil, &DuplicateError{Name: name}
		}
		i = skipSpace(data, nameEnd)
		if i >= len(data) || data[i] != ':' {
			return nil, ErrSyntax
		}
		i = skipSpace(data, i+1)
		end, ok := value(data, i)
		if !ok {
			return nil, ErrSyntax
		}
		members = append(members, Member{Name: name, Value: data[i:end]})
		i = skipSpace(data, end)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
			continue
		}
		if i < len(data) && data[i] == '}' {
			if err := trailing(data, i+1); err != nil {
				return nil, err
			}
			return members, nil
		}
		return nil, ErrSyntax
	}
	return nil, ErrSyntax
}

// trailing refuses anything but whitespace from data[i] on.
func trailing(data []byte, i int) error {
	if skipSpace(data, i) != len(data) {
		return ErrTrailing
	}
	return nil
}

// value returns the index just past the valid JSON value starting at
// data[i]; ok is false if there is none.
func value(data []byte, i int) (end int, ok bool) {
	if i < len(data) && data[i] == '"' {
		end, simple, ok := jsonscan.StringEnd(data, i)
		return end, ok && (simple || json.Valid(data[i:end]))
	}
	end, ok = valueEnd(data, i)
	return end, ok && json.Valid(data[i:end])
}

// linearDup is the member count up to which duplicates are found by
// comparing names pairwise, cheaper than a map for the small objects of
// the request path; larger objects get a map so that the check stays linear.
const linearDup = 16

// dupMember reports whether name is among the names of members, recording
// it in *seen once members is large.
func dupMember(members []Member, seen *map[string]struct{}, name string) bool {
	if len(members) < linearDup {
		for _, m := range members {
			if m.Name == name {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*linearDup)
		for _, m := range members {
			(*seen)[m.Name] = struct{}{}
		}
	}
	if _, dup := (*seen)[name]; dup {
		return true
	}
	(*seen)[name] = struct{}{}
	return false
}

// unquote decodes the string literal lit (quotes included) as
// encoding/json does; ok is false if lit is not a valid JSON string. A
// simple literal (see [jsonscan.StringEnd]) of valid UTF-8 is its bytes as
// they are.
func unquote(lit []byte, simple bool) (s string, ok bool) {
	if body := lit[1 : len(lit)-1]; simple && utf8.Valid(body) {
		return string(body), true
	}
	return s, json.Unmarshal(lit, &s) == nil
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace, or len(data).
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// startsValue reports whether c can begin a JSON value.
func startsValue(c byte) bool {
	switch c {
	case '{', '[', '"', '-', 't', 'f', 'n':
		return true
	}
	return '0' <= c && c <= '9'
}

// valueEnd returns the index just past the value, other than a string,
// starting at data[i]. It only finds extents (brackets are counted, strings
// skipped) and does not validate: on invalid JSON its answer means nothing,
// but it never reads outside data, and ok is false when no end is found.
func valueEnd(data []byte, i int) (end int, ok bool) {
	if i >= len(data) {
		return 0, false
	}
	switch data[i] {
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			case '"':
				e, _, ok := jsonscan.StringEnd(data, j)
				if !ok {
					return 0, false
				}
				j = e - 1
			}
		}
		return 0, false
	}
	// A number or a literal: it ends where a delimiter or whitespace begins.
	j := i
	for j < len(data) {
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j, j > i
		}
		j++
	}
	return j, j > i
}
