package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// maxSchemaMessage caps the length of a validation error message.
const maxSchemaMessage = 300

// Compiled holds a manifest with every tool's schemas compiled. Tool ids are
// "<bundle name>/<tool name>".
type Compiled struct {
	Manifest *Manifest
	SHA256   string // lowercase hex SHA-256 of the manifest bytes
	Tools    map[string]*CompiledTool
}

// CompiledTool is one tool with its compiled input and output schemas. It is
// safe for concurrent use.
type CompiledTool struct {
	ID            string
	Tool          Tool
	Input, Output *jsonschema.Schema
}

// printer renders validation messages (English, like the library's own).
var printer = message.NewPrinter(language.English)

// errRefusedRef is what the schema loader answers for every URL.
var errRefusedRef = errors.New("remote and file $refs are refused")

// refuseLoader is a jsonschema.URLLoader that loads nothing: schemas resolve
// only inside themselves and against the embedded standard meta-schemas.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) { return nil, errRefusedRef }

// Compile compiles every tool's schemas once. Schemas without $schema are
// JSON Schema draft 2020-12; format assertions are on; $refs resolve only
// within the schema itself and to the standard meta-schemas embedded in the
// jsonschema library — any other URL (https:, file:, …) is refused without
// I/O. manifestJSON is the manifest's exact bytes, hashed into SHA256.
func Compile(manifestJSON []byte, m *Manifest) (*Compiled, error) {
	sum := sha256.Sum256(manifestJSON)
	c := &Compiled{
		Manifest: m,
		SHA256:   hex.EncodeToString(sum[:]),
		Tools:    make(map[string]*CompiledTool, len(m.Tools)),
	}
	for _, t := range m.Tools {
		id := m.Name + "/" + t.Name
		in, err := compileSchema(id, "input", t.InputSchema)
		if err != nil {
			return nil, err
		}
		out, err := compileSchema(id, "output", t.OutputSchema)
		if err != nil {
			return nil, err
		}
		c.Tools[id] = &CompiledTool{ID: id, Tool: t, Input: in, Output: out}
	}
	return c, nil
}

// compileSchema compiles one schema with its own compiler, so that $ids in
// one tool's schema cannot collide with or be reached from another's.
func compileSchema(id, which string, raw []byte) (*jsonschema.Schema, error) {
	fail := func(err error) error {
		return fmt.Errorf("bundle: %w: %w: tool %s %s_schema: %v", ErrMalformed, ErrSchema, id, which, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fail(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refuseLoader{})
	// A hierarchical base, so that a relative $ref resolves to a URL the
	// loader refuses instead of back to the schema itself.
	loc := "airlock:///schemas/" + id + "/" + which + ".json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fail(err)
	}
	s, err := c.Compile(loc)
	if err != nil {
		return nil, fail(err)
	}
	return s, nil
}

// ValidateInput validates a decoded JSON value (as produced by
// jsonschema.UnmarshalJSON or a json.Decoder with UseNumber) against the
// tool's input schema. The error wraps [ErrSchema] and names the failing
// location and why; the value is the caller's own, so it may be echoed.
func (t *CompiledTool) ValidateInput(v any) error {
	return validate(t.Input, v, "input", true)
}

// ValidateOutput validates a decoded tool output against the output schema.
// The error wraps [ErrSchema] and names the failing location and keyword
// only: output may hold secrets or personal data, so it is never echoed.
func (t *CompiledTool) ValidateOutput(v any) error {
	return validate(t.Output, v, "output", false)
}

func validate(s *jsonschema.Schema, v any, which string, detail bool) error {
	if s == nil {
		return errorf(ErrSchema, "%s: no schema", which)
	}
	err := s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return errorf(ErrSchema, "%s: invalid value", which)
	}
	// The first leaf cause is the most specific failure.
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	// A JSON Pointer (RFC 6901) to the failing value; the root is named as such.
	where := which
	if len(ve.InstanceLocation) > 0 {
		where = fmt.Sprintf("%s at %q", which, "/"+strings.Join(escapeTokens(ve.InstanceLocation), "/"))
	}
	var msg string
	if detail {
		msg = ve.ErrorKind.LocalizedString(printer)
	} else {
		msg = "fails " + strings.Join(ve.ErrorKind.KeywordPath(), "/")
	}
	return errorf(ErrSchema, "%s", truncate(where+": "+msg, maxSchemaMessage))
}

// escapeTokens escapes JSON Pointer tokens (RFC 6901).
func escapeTokens(toks []string) []string {
	out := make([]string, len(toks))
	r := strings.NewReplacer("~", "~0", "/", "~1")
	for i, t := range toks {
		out[i] = r.Replace(t)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
