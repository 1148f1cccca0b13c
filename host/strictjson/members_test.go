package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// refMembers is the behaviour Members replaces: the object read token by
// token with a json.Decoder (identity's strictObject before Members). Its
// errors are Members' sentinels so that the two can be compared.
func refMembers(data []byte) ([]Member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, ErrSyntax
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, ErrNotObject
	}
	var members []Member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, ErrSyntax
		}
		name, ok := tok.(string)
		if !ok {
			return nil, ErrSyntax
		}
		if seen[name] {
			return nil, &DuplicateError{Name: name}
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, ErrSyntax
		}
		members = append(members, Member{Name: name, Value: raw})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, ErrSyntax
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, ErrTrailing
	}
	return members, nil
}

func TestMembers(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	type m = []Member
	mem := func(name, value string) Member { return Member{Name: name, Value: []byte(value)} }
	for _, tc := range []struct {
		name, doc string
		want      []Member
		err       error // nil: accepted
	}{
		{"empty object", `{}`, nil, nil},
		{"empty object with whitespace", " \t\r\n{ \n} \n", nil, nil},
		{"members in document order", `{"b":1,"a":"x","c":true}`, m{mem("b", "1"), mem("a", `"x"`), mem("c", "true")}, nil},
		{"values without surrounding whitespace", `{ "a" : 1 , "b" :	[ 1 ,2 ] }`, m{mem("a", "1"), mem("b", "[ 1 ,2 ]")}, nil},
		{"all value kinds", `{"s":"x","n":-1.5e+3,"t":true,"f":false,"z":null,"o":{},"l":[]}`,
			m{mem("s", `"x"`), mem("n", "-1.5e+3"), mem("t", "true"), mem("f", "false"), mem("z", "null"), mem("o", "{}"), mem("l", "[]")}, nil},
		{"braces and quotes inside strings", `{"a":"}{\"][","b":{"c":"}\\"},"d":["]"]}`,
			m{mem("a", `"}{\"]["`), mem("b", `{"c":"}\\"}`), mem("d", `["]"]`)}, nil},
		{"nested members are not compared", `{"a":{"x":1,"x":2},"b":[{"y":1,"y":2}]}`,
			m{mem("a", `{"x":1,"x":2}`), mem("b", `[{"y":1,"y":2}]`)}, nil},
		{"escaped name is unescaped", `{"\u0061\n":1}`, m{mem("a\n", "1")}, nil},
		{"name with a quote", `{"a\"b":1}`, m{mem(`a"b`, "1")}, nil},
		{"non-ASCII name", `{"é":1}`, m{mem("é", "1")}, nil},
		{"empty name", `{"":1}`, m{mem("", "1")}, nil},
		{"invalid UTF-8 is accepted like json.Valid", "{\"a\":\"\xff\"}", m{mem("a", "\"\xff\"")}, nil},
		{"invalid UTF-8 in a name becomes U+FFFD", "{\"\xff\":1}", m{mem("\uFFFD", "1")}, nil},
		{"value nested 10000 deep (the decoder's limit, from the value)", `{"a":` + deep(10000) + `}`, m{mem("a", deep(10000))}, nil},

		{"duplicate", `{"a":1,"a":2}`, nil, &DuplicateError{"a"}},
		{"duplicate escaped", `{"a":1,"\u0061":2}`, nil, &DuplicateError{"a"}},
		{"duplicate escaped solidus", `{"/":1,"\/":2}`, nil, &DuplicateError{"/"}},
		{"duplicate via invalid UTF-8", "{\"\xff\":1,\"\xfe\":2}", nil, &DuplicateError{"\uFFFD"}},
		{"duplicate found before a later error", `{"a":1,"a":2,`, nil, &DuplicateError{"a"}},
		{"duplicate among many members", `{` + manyMembers(40) + `,"m7":0}`, nil, &DuplicateError{"m7"}},
		{"case differs: not a duplicate", `{"a":1,"A":2}`, m{mem("a", "1"), mem("A", "2")}, nil},

		{"empty input", ``, nil, ErrSyntax},
		{"whitespace only", " \n", nil, ErrSyntax},
		{"array", `[1]`, nil, ErrNotObject},
		{"string", `"{}"`, nil, ErrNotObject},
		{"number", `12`, nil, ErrNotObject},
		{"null", `null`, nil, ErrNotObject},
		{"not JSON", `alg=EdDSA`, nil, ErrSyntax},
		{"byte order mark", "\ufeff{}", nil, ErrSyntax},
		{"two objects", `{} {}`, nil, ErrTrailing},
		{"garbage after", `{}x`, nil, ErrTrailing},
		{"closing brace after", `{"a":1}}`, nil, ErrTrailing},
		{"invalid JSON after", `{"a":1}{"`, nil, ErrTrailing},
		{"unterminated", `{"a":1`, nil, ErrSyntax},
		{"unterminated name", `{"a`, nil, ErrSyntax},
		{"unterminated value", `{"a":"x}`, nil, ErrSyntax},
		{"missing value", `{"a":}`, nil, ErrSyntax},
		{"missing colon", `{"a" 1}`, nil, ErrSyntax},
		{"missing comma", `{"a":1 "b":2}`, nil, ErrSyntax},
		{"trailing comma", `{"a":1,}`, nil, ErrSyntax},
		{"leading comma", `{,"a":1}`, nil, ErrSyntax},
		{"name not a string", `{a:1}`, nil, ErrSyntax},
		{"number name", `{1:1}`, nil, ErrSyntax},
		{"bad escape in name", `{"\x":1}`, nil, ErrSyntax},
		{"control character in name", "{\"a\tb\":1}", nil, ErrSyntax},
		{"control character in value", "{\"a\":\"\n\"}", nil, ErrSyntax},
		{"bad nested value", `{"a":[1,]}`, nil, ErrSyntax},
		{"mismatched brackets", `{"a":[}]}`, nil, ErrSyntax},
		{"bad number", `{"a":01}`, nil, ErrSyntax},
		{"number then garbage", `{"a":1x}`, nil, ErrSyntax},
		{"bad literal", `{"a":tru}`, nil, ErrSyntax},
		{"array closes the object", `{"a":1]`, nil, ErrSyntax},
		{"value nested 10001 deep", `{"a":` + deep(10001) + `}`, nil, ErrSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Members([]byte(tc.doc))
			if tc.err == nil {
				if err != nil {
					t.Fatalf("Members(%.80q) = %v", tc.doc, err)
				}
				if !sameMembers(got, tc.want, false) {
					t.Fatalf("Members(%.80q) = %q, want %q", tc.doc, got, tc.want)
				}
			} else if !sameError(err, tc.err) {
				t.Fatalf("Members(%.80q) = %v, want %v", tc.doc, err, tc.err)
			}
			// The reference agrees on every case.
			ref, rerr := refMembers([]byte(tc.doc))
			if !sameError(err, rerr) || !sameMembers(got, ref, false) {
				t.Fatalf("reference: %q, %v; Members: %q, %v", ref, rerr, got, err)
			}
		})
	}
}

func TestMembersValueIsSubslice(t *testing.T) {
	data := []byte(`{"a": [1, 2] }`)
	got, err := Members(data)
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	if &got[0].Value[0] != &data[6] || string(got[0].Value) != "[1, 2]" {
		t.Fatal("Value is not a sub-slice of the input")
	}
}

func TestDuplicateErrorBounded(t *testing.T) {
	msg := (&DuplicateError{Name: strings.Repeat("x", 10000)}).Error()
	if len(msg) > 100 {
		t.Fatalf("message of %d bytes", len(msg))
	}
}

// manyMembers returns n members "m0":0 … without the braces.
func manyMembers(n int) string {
	list := make([]string, n)
	for i := range list {
		list[i] = fmt.Sprintf(`"m%d":0`, i)
	}
	return strings.Join(list, ",")
}

// sameError reports whether two errors of Members or refMembers are the
// same refusal: the same sentinel, or duplicates of the same name.
func sameError(a, b error) bool {
	var da, db *DuplicateError
	if errors.As(a, &da) || errors.As(b, &db) {
		return errors.As(a, &da) && errors.As(b, &db) && da.Name == db.Name
	}
	return a == b
}

// sameMembers compares member lists; compact compares values after
// json.Compact instead of byte for byte.
func sameMembers(a, b []Member, compact bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name {
			return false
		}
		va, vb := a[i].Value, b[i].Value
		if compact {
			var ca, cb bytes.Buffer
			if json.Compact(&ca, va) != nil || json.Compact(&cb, vb) != nil {
				return false
			}
			va, vb = ca.Bytes(), cb.Bytes()
		}
		if !bytes.Equal(va, vb) {
			return false
		}
	}
	return true
}

// FuzzMembers checks Members against the token-by-token reference: the
// same acceptance, the same members (names, and values compared compacted
// and byte for byte), the same refusal.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":{"b":[1,"}"]},"c":"\"{"}`,
		`{} {}`, `{}x`, `[1]`, `"x"`, ``, ` `, `{"a":1,}`, `{"a" 1}`, "{\"\xff\":1,\"\xfe\":2}",
		`{"iss":"did:key:z6Mk","aud":"did:key:z6Mk","jti":"AAAA","iat":1,"exp":2,"htm":"POST","htu":"/v1/intents","bh":"x"}`,
		`{"tool":"echo/echo","input":{"message":"hi"},"grant":"a.b.c"}`,
		`{"a":-0.5e-3,"b":true,"c":null,"d":[[]],"e":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Members(data)
		ref, rerr := refMembers(data)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("Members(%q): %v; reference: %v", data, err, rerr)
		}
		if err == nil {
			if !sameMembers(got, ref, true) || !sameMembers(got, ref, false) {
				t.Fatalf("Members(%q) = %q; reference %q", data, got, ref)
			}
			return
		}
		// A first token that is a value but not an object, or no valid
		// token at all: the two may tell these apart differently (the
		// decoder reads "1x" as 1 then stops, "\"x" fails).
		notObject := func(e error) bool { return e == ErrNotObject || e == ErrSyntax }
		if first := bytes.TrimLeft(data, " \t\r\n"); len(first) == 0 || first[0] != '{' {
			if !notObject(err) || !notObject(rerr) {
				t.Fatalf("Members(%q): %v; reference: %v", data, err, rerr)
			}
			return
		}
		if !sameError(err, rerr) {
			t.Fatalf("Members(%q): %v; reference: %v", data, err, rerr)
		}
	})
}

// Typical request-path objects: a request proof's claims, a JWS protected
// header, an intent body.
var benchDocs = []struct{ name, doc string }{
	{"proof", `{"iss":"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK","aud":"did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2","jti":"q3Yg9m8a0XKe1Tq0m2G7Xw","iat":1767225600,"exp":1767225660,"htm":"POST","htu":"/v1/intents","bh":"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"}`},
	{"header", `{"alg":"EdDSA","kid":"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK","typ":"airlock-request+jwt"}`},
	{"intent", `{"tool":"echo/echo","input":{"message":"hello, world","n":[1,2,3]},"grant":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJkaWQ6a2V5OnoifQ.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl"}`},
}

func BenchmarkMembers(b *testing.B) {
	for _, d := range benchDocs {
		data := []byte(d.doc)
		b.Run(d.name+"/old", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := refMembers(data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(d.name+"/new", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Members(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
