package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// oldStrictObject and oldDecodeClaims are strictObject and decodeClaims as
// they were before strictjson.Members, token by token with a json.Decoder:
// the reference the new ones must agree with.
func oldStrictObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, errors.New("not JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	members := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("bad JSON")
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("bad JSON")
		}
		if _, dup := members[name]; dup {
			return nil, fmt.Errorf("duplicate member %s", short(name))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errors.New("bad JSON")
		}
		members[name] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, errors.New("bad JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after JSON object")
	}
	return members, nil
}

func oldDecodeClaims(data []byte, required []string, v any) error {
	members, err := oldStrictObject(data)
	if err != nil {
		return fail(ErrMalformed, "claims: %v", err)
	}
	for name := range members {
		if !contains(required, name) {
			return fail(ErrClaims, "unknown claim %s", short(name))
		}
	}
	for _, name := range required {
		if _, ok := members[name]; !ok {
			return fail(ErrClaims, "missing claim %q", name)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail(ErrClaims, "claims: %v", err)
	}
	return nil
}

const (
	diffProof   = `{"iss":"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK","aud":"did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2","jti":"q3Yg9m8a0XKe1Tq0m2G7Xw","iat":1767225600,"exp":1767225660,"htm":"POST","htu":"/v1/intents","bh":"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"}`
	diffReceipt = `{"iss":"did:key:z6Mk","aud":"did:key:z6Mr","iat":1767225600,"req":"q3Yg9m8a0XKe1Tq0m2G7Xw","status":200,"bh":"47DEQpj8HBSa","seq":12}`
	diffHeader  = `{"alg":"EdDSA","kid":"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK","typ":"airlock-request+jwt"}`
)

// diffCorpus is a list of tricky variations of claims and header objects.
func diffCorpus() []string {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	corpus := []string{diffProof, diffReceipt, diffHeader, ``, ` `, `null`, `[]`, `"x"`, `1`, `{}`, `{} `, `{}{}`, `{} {}`, `{}x`, `{}]`}
	for _, base := range []string{diffProof, diffReceipt, diffHeader} {
		inner := base[1 : len(base)-1]
		corpus = append(corpus,
			" \n"+base+"\t\r\n",
			base+"{}",
			base+"x",
			base+`"`,
			"{"+inner+`,"iss":"x"}`,      // duplicate
			"{"+inner+`,"\u0069ss":"x"}`, // escaped duplicate
			"{"+inner+`,"alg":"none"}`,   // duplicate header
			"{"+inner+`,"ISS":"x"}`,      // case-folded unknown
			"{"+inner+`,"admin":true}`,   // unknown
			"{"+inner+`,"x":`+deep(9999)+`}`,
			"{"+inner+`,"x":`+deep(10000)+`}`,
			"{"+inner+`,"x":`+deep(10001)+`}`,
			"{"+inner+",}",
			"{"+inner,
			"{"+strings.Replace(inner, `"iss"`, `"Iss"`, 1)+"}",
			"{"+strings.Replace(inner, `"iss"`, `"\u0069ss"`, 1)+"}",
			"{"+strings.Replace(inner, `"iat":1767225600`, `"iat":"1767225600"`, 1)+"}",
			"{"+strings.Replace(inner, `"iat":1767225600`, `"iat":1.5`, 1)+"}",
			"{"+strings.Replace(inner, `"iat":1767225600`, `"iat":1e400`, 1)+"}",
			"{"+strings.Replace(inner, `"iat":1767225600`, `"iat":null`, 1)+"}",
			"{"+strings.Replace(inner, `"iat":1767225600`, `"iat":01`, 1)+"}",
			"{"+strings.Replace(inner, `"status":200`, `"status":{"a":1}`, 1)+"}",
			"{"+strings.Replace(inner, `"aud":"`, `"aud":"\u00e9\ud800`, 1)+"}",
			"{"+strings.Replace(inner, `"aud":"`, "\"aud\":\"\xff", 1)+"}",
			"{"+strings.Replace(inner, `"aud":"`, "\"aud\":\"\x01", 1)+"}",
			"{"+strings.Replace(inner, `"alg":"EdDSA"`, `"alg":1`, 1)+"}",
			"{"+strings.Replace(inner, `"alg":"EdDSA"`, `"alg":null`, 1)+"}",
			"{"+strings.Replace(inner, `"alg":"EdDSA"`, `"jwk":{}`, 1)+"}",
			"{"+strings.Replace(inner, `,`, ` , `, -1)+"}",
			"{"+strings.Replace(inner, `,`, `,,`, 1)+"}",
			"{"+strings.Replace(inner, `:`, ` `, 1)+"}",
		)
		// Every required member dropped in turn.
		for _, name := range append(append([]string{}, proofClaims...), receiptClaims...) {
			if i := strings.Index(base, `"`+name+`":`); i > 0 {
				j := i + strings.IndexAny(base[i:], ",}")
				corpus = append(corpus, strings.Replace(base[:i]+base[j:], "{,", "{", 1))
			}
		}
	}
	return corpus
}

// claimsTarget is a claims type decodeClaims is used with.
type claimsTarget struct {
	name     string
	required []string
	new      func() any
}

var claimsTargets = []claimsTarget{
	{"proof", proofClaims, func() any { return new(Proof) }},
	{"receipt", receiptClaims, func() any { return new(Receipt) }},
}

// sameSentinel reports whether two errors wrap the same identity sentinel.
func sameSentinel(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	for _, s := range []error{ErrMalformed, ErrAlgorithm, ErrHeader, ErrSignature, ErrClaims, ErrReplay, ErrKey} {
		if errors.Is(a, s) != errors.Is(b, s) {
			return false
		}
	}
	return true
}

func checkClaimsDiff(t *testing.T, data []byte) {
	t.Helper()
	for _, c := range claimsTargets {
		oldV, newV := c.new(), c.new()
		oldErr := oldDecodeClaims(data, c.required, oldV)
		newErr := decodeClaims(data, c.required, newV)
		if !sameSentinel(oldErr, newErr) {
			t.Fatalf("%s: decodeClaims(%.200q) = %v, was %v", c.name, data, newErr, oldErr)
		}
		if oldErr == nil && !reflect.DeepEqual(oldV, newV) {
			t.Fatalf("%s: decodeClaims(%.200q) decoded %+v, was %+v", c.name, data, newV, oldV)
		}
	}
}

func checkObjectDiff(t *testing.T, data []byte) {
	t.Helper()
	oldM, oldErr := oldStrictObject(data)
	newM, newErr := strictObject(data)
	if (oldErr == nil) != (newErr == nil) {
		t.Fatalf("strictObject(%.200q) = %v, was %v", data, newErr, oldErr)
	}
	if len(oldM) != len(newM) {
		t.Fatalf("strictObject(%.200q) = %q, was %q", data, newM, oldM)
	}
	for name, v := range oldM {
		if !bytes.Equal(newM[name], v) {
			t.Fatalf("strictObject(%.200q) = %q, was %q", data, newM, oldM)
		}
	}
}

func TestStrictDecodingMatchesDecoder(t *testing.T) {
	for _, doc := range diffCorpus() {
		checkClaimsDiff(t, []byte(doc))
		checkObjectDiff(t, []byte(doc))
	}
}

// TestClaimsAreTheStructFields checks what decodeClaims relies on to decode
// without DisallowUnknownFields: each claims list is exactly the JSON field
// names of its struct, all of scalar types.
func TestClaimsAreTheStructFields(t *testing.T) {
	for _, c := range claimsTargets {
		typ := reflect.TypeOf(c.new()).Elem()
		var names []string
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			names = append(names, name)
			if f.Anonymous || !f.IsExported() || f.Type.Kind() > reflect.Float64 && f.Type.Kind() != reflect.String {
				t.Errorf("%s: field %s is not a plain scalar field", c.name, f.Name)
			}
		}
		if !reflect.DeepEqual(names, c.required) {
			t.Errorf("%s: fields %q, claims %q", c.name, names, c.required)
		}
	}
}

func FuzzStrictDecoding(f *testing.F) {
	for _, doc := range diffCorpus() {
		if len(doc) < 1000 {
			f.Add([]byte(doc))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkClaimsDiff(t, data)
		checkObjectDiff(t, data)
	})
}

func BenchmarkDecodeClaims(b *testing.B) {
	proof := []byte(diffProof)
	b.Run("proof/old", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var p Proof
			if err := oldDecodeClaims(proof, proofClaims, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proof/new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var p Proof
			if err := decodeClaims(proof, proofClaims, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
	header := []byte(diffHeader)
	b.Run("header/old", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := oldStrictObject(header); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("header/new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := strictObject(header); err != nil {
				b.Fatal(err)
			}
		}
	})
}
