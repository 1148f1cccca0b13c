package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	starlarkjson "go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Interpreter limits. The sandbox's time and memory limits are the boundary;
// these make the common runaway cases fail early with a clear message.
const (
	maxCodeBytes   = 64 << 10  // source size
	maxSteps       = 5_000_000 // Starlark execution steps (about 2 s of CPU as Wasm)
	maxPrintLines  = 100       // print calls kept
	maxPrintBytes  = 64 << 10  // bytes of print output kept
	maxErrorBytes  = 1 << 10   // error message returned to the caller
	maxDepth       = 64        // nesting of input and result values
	maxResultBytes = 1 << 20   // encoded result
	maxHTTPCalls   = 32        // http_get calls per run
)

// filename names the agent's code in error positions.
const filename = "main.star"

// Errors of a run. Each is returned wrapped with the "starlark: " prefix and
// details; the tool returns the text to the caller as its error.
var (
	errCodeTooLarge = errors.New("code too large")
	errInput        = errors.New("input not convertible to Starlark")
	errResult       = errors.New("result not convertible to JSON")
	errScript       = errors.New("script failed")
)

// runInput is the input of both tools.
type runInput struct {
	Code  string          `json:"code"`
	Input json.RawMessage `json:"input,omitempty"`
}

// runOutput is the output of both tools. Prints is never nil.
type runOutput struct {
	Result json.RawMessage `json:"result"`
	Prints []string        `json:"prints"`
}

// httpGetter fetches url with GET and returns the status and body. In the
// plugin it goes through the host's http_request function.
type httpGetter func(url string) (status int, body []byte, err error)

// execute runs in.Code as a Starlark file with "input" and "json"
// predeclared, plus "http_get" when get is not nil, and returns the global
// "result" as JSON (null when the code sets none) with what the code printed.
func execute(in runInput, get httpGetter) (runOutput, error) {
	return executeSteps(in, get, maxSteps)
}

// executeSteps is execute with a limit of steps Starlark execution steps.
func executeSteps(in runInput, get httpGetter, steps uint64) (runOutput, error) {
	if len(in.Code) > maxCodeBytes {
		return runOutput{}, fmt.Errorf("starlark: %w: %d bytes, the limit is %d", errCodeTooLarge, len(in.Code), maxCodeBytes)
	}
	input, err := fromJSON(in.Input)
	if err != nil {
		return runOutput{}, fmt.Errorf("starlark: %w: %w", errInput, err)
	}

	prints := &printer{lines: []string{}}
	thread := &starlark.Thread{
		Name:  "run",
		Print: prints.print,
		Load: func(*starlark.Thread, string) (starlark.StringDict, error) {
			return nil, errors.New("load is not available")
		},
	}
	thread.SetMaxExecutionSteps(steps)

	predeclared := starlark.StringDict{
		"input": input,
		"json":  starlarkjson.Module,
	}
	if get != nil {
		predeclared["http_get"] = httpGetBuiltin(get)
	}
	opts := &syntax.FileOptions{
		Set:             true,
		While:           true,
		TopLevelControl: true,
		GlobalReassign:  true,
		Recursion:       false,
	}
	globals, err := starlark.ExecFileOptions(opts, thread, filename, in.Code, predeclared)
	if err != nil {
		return runOutput{}, fmt.Errorf("starlark: %w: %s", errScript, truncate(scriptError(err), maxErrorBytes))
	}
	result, err := toJSON(globals["result"])
	if err != nil {
		return runOutput{}, fmt.Errorf("starlark: %w: %s", errResult, truncate(err.Error(), maxErrorBytes))
	}
	return runOutput{Result: result, Prints: prints.lines}, nil
}

// scriptError is a one-line message for a Starlark error: the position in
// the agent's code where it happened, the builtin that failed if any, and
// the message.
func scriptError(err error) string {
	var ee *starlark.EvalError
	if !errors.As(err, &ee) {
		// Scanner, parser and resolver errors already carry a position.
		return err.Error()
	}
	var builtin string
	for i := range ee.CallStack {
		fr := ee.CallStack.At(i)
		if fr.Pos.Filename() != filename {
			if builtin == "" {
				builtin = fr.Name
			}
			continue
		}
		if builtin != "" {
			return fmt.Sprintf("%s: in %s: %s", fr.Pos, builtin, ee.Msg)
		}
		return fmt.Sprintf("%s: %s", fr.Pos, ee.Msg)
	}
	return ee.Msg
}

// printer keeps the first maxPrintLines print calls, at most maxPrintBytes in
// all; the rest is dropped.
type printer struct {
	lines []string
	bytes int
}

func (p *printer) print(_ *starlark.Thread, msg string) {
	room := maxPrintBytes - p.bytes
	if len(p.lines) >= maxPrintLines || room <= 0 {
		return
	}
	msg = truncate(msg, room)
	p.lines = append(p.lines, msg)
	p.bytes += len(msg)
}

// httpGetBuiltin is http_get(url) → {"status": int, "body": string}. The
// host enforces the grant's allowlist; the URL check here only gives a
// clearer error for what could never be fetched.
func httpGetBuiltin(get httpGetter) *starlark.Builtin {
	calls := 0
	return starlark.NewBuiltin("http_get", func(_ *starlark.Thread, b *starlark.Builtin,
		args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var raw string
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "url", &raw); err != nil {
			return nil, err
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("url must be an absolute http or https URL")
		}
		if calls >= maxHTTPCalls {
			return nil, fmt.Errorf("more than %d calls in one run", maxHTTPCalls)
		}
		calls++
		status, body, err := get(u.String())
		if err != nil {
			return nil, err
		}
		d := starlark.NewDict(2)
		if err := d.SetKey(starlark.String("status"), starlark.MakeInt(status)); err != nil {
			return nil, err
		}
		if err := d.SetKey(starlark.String("body"), starlark.String(body)); err != nil {
			return nil, err
		}
		return d, nil
	})
}

// fromJSON converts one JSON value to Starlark: null → None, booleans →
// bool, integers → int (any size), other numbers → float, strings → string,
// arrays → list, objects → dict in document order (a repeated key keeps its
// last value). Empty data is None.
func fromJSON(data []byte) (starlark.Value, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return starlark.None, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (starlark.Value, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return starlark.None, nil
	case bool:
		return starlark.Bool(t), nil
	case string:
		return starlark.String(t), nil
	case json.Number:
		return number(t)
	case json.Delim:
		if depth >= maxDepth {
			return nil, fmt.Errorf("nested deeper than %d", maxDepth)
		}
		switch t {
		case '[':
			var elems []starlark.Value
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				elems = append(elems, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return starlark.NewList(elems), nil
		case '{':
			d := starlark.NewDict(0)
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key %v is not a string", kt)
				}
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				if err := d.SetKey(starlark.String(k), v); err != nil {
					return nil, err
				}
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return d, nil
		}
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// number converts a JSON number: an integer literal to a Starlark int of any
// size, anything else to a finite float.
func number(n json.Number) (starlark.Value, error) {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return starlark.MakeInt64(i), nil
		}
		if b, ok := new(big.Int).SetString(s, 10); ok {
			return starlark.MakeBigInt(b), nil
		}
		return nil, fmt.Errorf("invalid number %q", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, fmt.Errorf("number %q out of float range", truncate(s, 64))
	}
	return starlark.Float(f), nil
}

// toJSON encodes a Starlark value as JSON: None, bool, int, finite float,
// string (invalid UTF-8 becomes U+FFFD), list and tuple, and dict with string
// keys. Anything else (functions, sets, ranges, bytes, modules, cycles or
// nesting deeper than maxDepth, an encoding over maxResultBytes) is an error.
// A nil value (no global "result") is null.
func toJSON(v starlark.Value) (json.RawMessage, error) {
	if v == nil {
		return json.RawMessage("null"), nil
	}
	var buf bytes.Buffer
	if err := encodeValue(&buf, v, 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func encodeValue(buf *bytes.Buffer, v starlark.Value, depth int) error {
	if buf.Len() > maxResultBytes {
		return fmt.Errorf("encoding is over %d bytes", maxResultBytes)
	}
	switch x := v.(type) {
	case starlark.NoneType:
		buf.WriteString("null")
	case starlark.Bool:
		buf.WriteString(strconv.FormatBool(bool(x)))
	case starlark.Int:
		buf.WriteString(x.String())
	case starlark.Float:
		if math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
			return fmt.Errorf("non-finite float %v", x)
		}
		// Float.String always has a decimal point or an exponent, so a
		// float stays a float when the JSON is read back.
		buf.WriteString(x.String())
	case starlark.String:
		return encodeString(buf, string(x))
	case *starlark.List, starlark.Tuple:
		if depth >= maxDepth {
			return fmt.Errorf("nested deeper than %d (or cyclic)", maxDepth)
		}
		seq := x.(starlark.Indexable)
		buf.WriteByte('[')
		for i := range seq.Len() {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encodeValue(buf, seq.Index(i), depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case *starlark.Dict:
		if depth >= maxDepth {
			return fmt.Errorf("nested deeper than %d (or cyclic)", maxDepth)
		}
		buf.WriteByte('{')
		for i, item := range x.Items() {
			k, ok := item[0].(starlark.String)
			if !ok {
				return fmt.Errorf("dict key of type %s, want string", item[0].Type())
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encodeString(buf, string(k)); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := encodeValue(buf, item[1], depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("cannot encode a value of type %s", v.Type())
	}
	return nil
}

func encodeString(buf *bytes.Buffer, s string) error {
	b, err := json.Marshal(s) // escapes; invalid UTF-8 becomes U+FFFD
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}

// truncate returns s as valid UTF-8 of at most n bytes, cut on a rune
// boundary.
func truncate(s string, n int) string {
	// Cut first, so a huge string is not copied whole; replacing invalid
	// bytes may grow it again, hence the second cut.
	s = strings.ToValidUTF8(cut(s, n), "\uFFFD")
	return cut(s, n)
}

// cut returns at most n bytes of s, backing up to a rune start.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// main does nothing: the tools are the module's exports (main.go). It is
// here, not in main.go, so that the package also builds outside wasip1,
// where its logic is tested.
func main() {}
