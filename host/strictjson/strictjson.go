// Package strictjson holds the JSON checks that encoding/json does not make
// and that signed documents need: a document that two parsers could read
// differently (duplicate members, case-folded names) is refused outright.
//
// # Security
//
// encoding/json keeps the last of two duplicate members and matches member
// names case-insensitively; another verifier of the same signed bytes may do
// neither. Refusing such documents keeps every reader on one meaning.
package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// LowerCaseMembers refuses what encoding/json lets through silently and another
// verifier may read differently: a duplicate member (Go keeps the last one)
// and a member name that is not lower case (Go matches "SUB" to sub). Signed
// documents whose member names are all lower case (grant claims, policies)
// use it so that neither is ever needed.
func LowerCaseMembers(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var stack []map[string]bool // one set of seen names per open object; nil for arrays
	expectKey := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) > 0 || expectKey {
				return fmt.Errorf("unexpected end of JSON")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if expectKey {
			expectKey = false
			if name, ok := tok.(string); ok {
				seen := stack[len(stack)-1]
				if name != strings.ToLower(name) {
					return fmt.Errorf("member %q is not lower case", name)
				}
				if seen[name] {
					return fmt.Errorf("duplicate member %q", name)
				}
				seen[name] = true
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, map[string]bool{})
		case json.Delim('['):
			stack = append(stack, nil)
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// The next token is a member name when the innermost container is
		// an object and no value is pending.
		expectKey = len(stack) > 0 && stack[len(stack)-1] != nil && dec.More()
	}
}
