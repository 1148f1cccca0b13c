package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// scanValue has letters of both cases, digits and base64-unfriendly bytes,
// so that its std and URL base64 differ.
const scanValue = "sk_Live?~>>51Hz+/Qx9"

func TestScannerFindsLeaks(t *testing.T) {
	v := []byte(scanValue)
	quoted := []byte(`p@ss"word\with\quotes`)
	b64 := func(enc *base64.Encoding, prefix int) string {
		blob := append(append(bytes.Repeat([]byte{0xA5}, prefix), v...), []byte("trailing-bytes")...)
		return enc.EncodeToString(blob)
	}
	tests := []struct {
		name   string
		secret []byte
		out    string
	}{
		{"echoed raw", v, `{"body":"` + scanValue + `"}`},
		{"base64 std padded", v, base64.StdEncoding.EncodeToString(v)},
		{"base64 std unpadded", v, base64.RawStdEncoding.EncodeToString(v)},
		{"base64 url padded", v, base64.URLEncoding.EncodeToString(v)},
		{"base64 url unpadded", v, base64.RawURLEncoding.EncodeToString(v)},
		{"base64 std embedded at offset 0", v, b64(base64.StdEncoding, 3)},
		{"base64 std embedded at offset 1", v, b64(base64.StdEncoding, 1)},
		{"base64 std embedded at offset 2", v, b64(base64.StdEncoding, 5)},
		{"base64 url embedded at offset 0", v, b64(base64.RawURLEncoding, 0)},
		{"base64 url embedded at offset 1", v, b64(base64.RawURLEncoding, 4)},
		{"base64 url embedded at offset 2", v, b64(base64.RawURLEncoding, 2)},
		{"base64 in a JSON string with escaped slashes", v,
			`{"d":"` + strings.ReplaceAll(base64.StdEncoding.EncodeToString(v), "/", `\/`) + `"}`},
		{"base64 line-wrapped like MIME", v, wrap(b64(base64.StdEncoding, 7), 5)},
		{"hex lower", v, hex.EncodeToString(v)},
		{"hex upper", v, strings.ToUpper(hex.EncodeToString(v))},
		{"hex with colons", v, colonHex(v)},
		{"URL query escaping", v, "https://evil.example/?q=" + url.QueryEscape(scanValue)},
		{"URL path escaping", v, "https://evil.example/" + url.PathEscape(scanValue)},
		{"URL escaping every byte, lower case", v, percentAll(v)},
		{"URL query escaping of a value with spaces", []byte("correct horse battery"),
			"q=" + url.QueryEscape("correct horse battery")},
		{"JSON-escaped value with quotes and backslashes", quoted, mustJSON(t, string(quoted))},
		{"JSON \\u-escaped value", v, unicodeEscape(v)},
		{"URL-encoded inside a JSON string", quoted, mustJSON(t, url.QueryEscape(string(quoted)))},
		{"split with dashes", v, "sk-Live-51Hz-Qx9"},
		{"split with spaces", []byte("ABCD1234EFGH5678"), "ABCD 1234 EFGH 5678"},
		{"split with newlines", []byte("ABCD1234EFGH5678"), "ABCD\n1234\nEFGH\n5678"},
		{"split with JSON-escaped newlines", []byte("ABCD1234EFGH5678"), mustJSON(t, "ABCD\n1234\nEFGH\n5678")},
		{"split one character per line", []byte("ABCD1234EFGH5678"), strings.Join(strings.Split("ABCD1234EFGH5678", ""), "\n")},
		{"split hex", v, strings.Join(chunks(hex.EncodeToString(v), 4), " ")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decoy := NewSecret([]byte("unrelated-decoy-value-xyz"))
			s := NewScanner([]Secret{decoy, NewSecret(tt.secret)})
			i, ok := s.Find([]byte(tt.out))
			if !ok || i != 1 {
				t.Fatalf("Find(%q) = %d, %v; want 1, true", tt.out, i, ok)
			}
		})
	}
}

func TestScannerIgnoresUnrelatedText(t *testing.T) {
	s := NewScanner([]Secret{
		NewSecret([]byte(scanValue)),
		NewSecret([]byte("ghp_16C7e42F292c6912E7710c838347Ae178B4a")),
		NewSecret([]byte("ABCD1234EFGH5678")),
		{}, // zero value: ignored
	})
	benign := map[string]string{
		"prose":           "The quick brown fox jumps over the lazy dog. Live long and prosper, 51 times.",
		"JSON output":     `{"status":200,"headers":{"content-type":"application/json"},"body":"eyJoZWxsbyI6IndvcmxkIn0="}`,
		"escaped JSON":    `{"msg":"line one\nline two \"quoted\" \\ backslash \u00e9"}`,
		"URL":             "https://api.github.com/repos/airlock-dev/airlock/issues?state=open&per_page=100",
		"random base64":   base64.StdEncoding.EncodeToString([]byte("a completely different payload with other bytes")),
		"random hex":      hex.EncodeToString([]byte("another different payload")),
		"prefix of value": scanValue[:6],
		"value's digits":  "1234 5678",
		"empty":           "",
		"split too short": "AB-CD",
	}
	for name, text := range benign {
		t.Run(name, func(t *testing.T) {
			if i, ok := s.Find([]byte(text)); ok {
				t.Fatalf("Find flagged unrelated text as secret %d", i)
			}
		})
	}
	if _, ok := (*Scanner)(nil).Find([]byte(scanValue)); ok {
		t.Fatal("nil scanner found something")
	}
	if _, ok := NewScanner(nil).Find([]byte(scanValue)); ok {
		t.Fatal("empty scanner found something")
	}
}

func TestScannerReturnsLowestIndex(t *testing.T) {
	s := NewScanner([]Secret{NewSecret([]byte("first-secret-1")), NewSecret([]byte("second-secret-2"))})
	if i, ok := s.Find([]byte("second-secret-2 and then " + base64.StdEncoding.EncodeToString([]byte("first-secret-1")))); !ok || i != 0 {
		t.Fatalf("Find = %d, %v; want 0", i, ok)
	}
}

func TestBase64CoresAreStable(t *testing.T) {
	// Every core must appear in the encoding of the value at its offset,
	// whatever bytes surround it.
	v := []byte(scanValue)
	for pre := range 6 {
		for _, fill := range []byte{0x00, 0xff, 0x5a} {
			blob := append(append(bytes.Repeat([]byte{fill}, pre), v...), fill, fill, fill)
			enc := base64.StdEncoding.EncodeToString(blob)
			found := false
			for _, c := range base64Cores(v) {
				found = found || strings.Contains(enc, string(c))
			}
			if !found {
				t.Fatalf("offset %d fill %#x: no core in %s", pre, fill, enc)
			}
		}
	}
}

func mustJSON(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{"output": s})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wrap(s string, n int) string { return strings.Join(chunks(s, n), "\r\n") }

func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out, s = append(out, s[:n]), s[n:]
	}
	return append(out, s)
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = hex.EncodeToString([]byte{c})
	}
	return strings.Join(parts, ":")
}

func percentAll(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteString("%" + hex.EncodeToString([]byte{c}))
	}
	return sb.String()
}

func unicodeEscape(b []byte) string {
	var sb strings.Builder
	sb.WriteString(`{"o":"`)
	for _, c := range b {
		sb.WriteString(`\u00` + hex.EncodeToString([]byte{c}))
	}
	sb.WriteString(`"}`)
	return sb.String()
}
