package intent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/abi"
)

// oldStrictJSON and oldCheckMembers are StrictJSON and checkMembers as they
// were before strictjson.Members, token by token with a json.Decoder: the
// reference the new ones must agree with.
func oldStrictJSON(data []byte, v any) error {
	if err := oldCheckMembers(data, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

func oldCheckMembers(data []byte, v any) error {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	names := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			if tag == "-" {
				continue
			}
			if n, _, _ := strings.Cut(tag, ","); n != "" {
				name = n
			}
		}
		names[name] = true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		name, _ := tok.(string)
		if !names[name] {
			return fmt.Errorf("json: unknown field %q", name)
		}
		if seen[name] {
			return fmt.Errorf("json: duplicate field %q", name)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

// oddStruct has what checkMembers and encoding/json see differently: an
// embedded struct, a skipped field, an unexported one, an untagged one, a
// field named "-".
type oddStruct struct {
	Embedded
	A    string `json:"a"`
	Skip string `json:"-"`
	//lint:ignore SA5008 a field named "-" is the edge case under test
	Dash  string `json:"-,"`
	Plain int
	//lint:ignore U1000 the point is that it is unexported and never set
	hidden int
}

// Embedded is promoted into oddStruct by encoding/json, not by checkMembers.
type Embedded struct {
	E string `json:"e"`
}

// hiddenEmbed embeds an unexported struct, whose fields encoding/json
// promotes and checkMembers does not know.
type hiddenEmbed struct {
	inner
	A string `json:"a"`
}

type inner struct {
	E string `json:"e"`
}

// recursive is a field type that never reaches a scalar.
type recursive []recursive

type withRecursive struct {
	R recursive `json:"r"`
	P *int      `json:"p"`
}

// structOf builds, at run time, struct types vet would refuse to compile
// with: two fields with one JSON name (encoding/json drops both), and a tag
// name encoding/json finds invalid (it uses the Go name instead).
func structOf(fields ...reflect.StructField) func() any {
	t := reflect.StructOf(fields)
	return func() any { return reflect.New(t).Interface() }
}

// strictTargets are the types StrictJSON decodes into, and some it could.
var strictTargets = []struct {
	name string
	new  func() any
}{
	{"Request", func() any { return new(Request) }},
	{"LogRequest", func() any { return new(abi.LogRequest) }},
	{"HTTPRequest", func() any { return new(abi.HTTPRequest) }},
	{"MemoryPutRequest", func() any { return new(abi.MemoryPutRequest) }},
	{"memoryRequest", func() any { return new(memoryRequest) }},
	{"ToolCallRequest", func() any { return new(abi.ToolCallRequest) }},
	{"oddStruct", func() any { return new(oddStruct) }},
	{"hiddenEmbed", func() any { return new(hiddenEmbed) }},
	{"withRecursive", func() any { return new(withRecursive) }},
	{"interface holding a struct", func() any {
		return &struct {
			I any `json:"i"`
		}{I: new(abi.LogRequest)}
	}},
	{"conflicting names", structOf(
		reflect.StructField{Name: "X", Type: reflect.TypeFor[string](), Tag: `json:"x"`},
		reflect.StructField{Name: "Y", Type: reflect.TypeFor[string](), Tag: `json:"x"`})},
	{"invalid tag name", structOf(
		reflect.StructField{Name: "A", Type: reflect.TypeFor[string](), Tag: `json:"a'b"`})},
	{"map", func() any { return new(map[string]any) }},
	{"RawMessage", func() any { return new(json.RawMessage) }},
	{"slice", func() any { return new([]string) }},
}

const diffIntent = `{"tool":"echo/echo","input":{"message":"hello, world","n":[1,2,3]},"grant":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJkaWQ6a2V5OnoifQ.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl"}`

func strictCorpus() []string {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	corpus := []string{
		``, ` `, `null`, ` null `, `[]`, `["a"]`, `"x"`, `1`, `true`, `{}`, `{} `, `{}{}`, `{} {}`, `{}x`, `{}]`, `{`, `}`,
		diffIntent,
		diffIntent + `{"tool":"web/fetch"}`,
		diffIntent + `]`,
		diffIntent + ` `,
		`tool=echo/echo`,
		`{"tool":"a","tool":"b","grant":"g"}`,
		`{"tool":"a","\u0074ool":"b","grant":"g"}`,
		`{"Tool":"a","grant":"g"}`,
		`{"TOOL":"a","grant":"g"}`,
		`{"tool":"a","grant":"g","admin":true}`,
		`{"admin":true,"tool":"a","tool":"b"}`,
		`{"tool":"a","tool":"b",`,
		`{"tool":"a","x":1,`,
		`{"tool":"a","grant":"g","chain":["x"]}`,
		`{"tool":"a","grant":"g","chain":"x"}`,
		`{"tool":1,"grant":"g"}`,
		`{"tool":null,"grant":null,"input":null}`,
		`{"tool":"a","input":` + deep(9999) + `}`,
		`{"tool":"a","input":` + deep(10000) + `}`,
		`{"tool":"a","input":` + deep(10001) + `}`,
		`{"level":"info","message":"a"}`,
		`{"level":"info","message":"a"} {"level":"error"}`,
		`{"level":"info","Level":"error"}`,
		`{"method":"GET","url":"https://x","headers":{"a":"b","a":"c"},"body":"aGk="}`,
		`{"method":"GET","url":"https://x","body":"not base64"}`,
		`{"documents":[{"id":"1","content":"x","metadata":{"k":"v"}}]}`,
		`{"documents":[{"id":"1","text":"x"}]}`,
		`{"documents":[{"id":"1","text":"x","extra":1}]}`,
		`{"documents":[{"ID":"1"}]}`,
		`{"grant":"g","documents":[],"k":3,"where":{"a":"b"},"ids":["x"]}`,
		`{"grant":"g","k":1.5}`,
		`{"tool":"a/b","input":{"x":1}}`,
		`{"e":"x","a":"y"}`,
		`{"Embedded":{"e":"x"}}`,
		`{"a":"y","Plain":1}`,
		`{"a":"y","plain":1}`,
		`{"-":"d"}`,
		`{"Skip":"s"}`,
		`{"hidden":1}`,
		`{"x":"1"}`,
		`{"a'b":"1"}`,
		`{"A":"1"}`,
		`{"e":"1","a":"2"}`,
		`{"a":"2"}`,
		`{"r":[[[]],[]],"p":1}`,
		`{"r":[1]}`,
		`{"r":null,"p":null}`,
		`{"i":{"level":"info","extra":1}}`,
		`{"i":{"level":"info"}}`,
		"{\"tool\":\"\xff\",\"grant\":\"g\"}",
		"{\"\xff\":1,\"\xfe\":2}",
		"{\"tool\":\"a\nb\"}",
	}
	return corpus
}

func checkStrictDiff(t *testing.T, data []byte) {
	t.Helper()
	for _, target := range strictTargets {
		oldV, newV := target.new(), target.new()
		oldErr := oldStrictJSON(data, oldV)
		newErr := StrictJSON(data, newV)
		if (oldErr == nil) != (newErr == nil) {
			t.Fatalf("%s: StrictJSON(%.200q) = %v, was %v", target.name, data, newErr, oldErr)
		}
		if oldErr == nil && !reflect.DeepEqual(oldV, newV) {
			t.Fatalf("%s: StrictJSON(%.200q) decoded %+v, was %+v", target.name, data, newV, oldV)
		}
	}
	oldReq, oldErr := oldDecodeRequest(data)
	newReq, newErr := DecodeRequest(data)
	if (oldErr == nil) != (newErr == nil) || (newErr != nil && !errors.Is(newErr, ErrBadRequest)) {
		t.Fatalf("DecodeRequest(%.200q) = %v, was %v", data, newErr, oldErr)
	}
	if !reflect.DeepEqual(oldReq, newReq) {
		t.Fatalf("DecodeRequest(%.200q) = %+v, was %+v", data, newReq, oldReq)
	}
}

// oldDecodeRequest is DecodeRequest over oldStrictJSON.
func oldDecodeRequest(body []byte) (*Request, error) {
	var req Request
	if err := oldStrictJSON(body, &req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if req.Tool == "" || req.Grant == "" {
		return nil, fmt.Errorf("%w: tool and grant are required", ErrBadRequest)
	}
	if len(req.Input) == 0 {
		req.Input = json.RawMessage("{}")
	}
	return &req, nil
}

func TestStrictJSONMatchesDecoder(t *testing.T) {
	for _, doc := range strictCorpus() {
		checkStrictDiff(t, []byte(doc))
	}
}

func FuzzStrictJSON(f *testing.F) {
	for _, doc := range strictCorpus() {
		if len(doc) < 1000 {
			f.Add([]byte(doc))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkStrictDiff(t, data) })
}

func BenchmarkDecodeRequest(b *testing.B) {
	body := []byte(diffIntent)
	b.Run("old", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := oldDecodeRequest(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeRequest(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
