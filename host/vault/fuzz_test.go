package vault

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"testing"
	"unicode/utf8"
)

// FuzzScanner feeds arbitrary output and values to the scanner: it never
// panics, a raw value is always found, and so are its usual encodings when
// the value is long enough to have them.
func FuzzScanner(f *testing.F) {
	f.Add([]byte(scanValue), []byte("prefix "), []byte(" suffix"))
	f.Add([]byte("ABCD1234EFGH5678"), []byte(`{"a":"\u00`), []byte(`%4`))
	f.Add([]byte{0, 1, 2, 0xff, '\\', 'u', 'd', '8', '0', '0'}, []byte("\\"), []byte("%"))
	f.Fuzz(func(t *testing.T, value, prefix, suffix []byte) {
		s := NewScanner([]Secret{NewSecret(value)})
		s.Find(prefix) // never panics
		s.Find(append(append(clone(prefix), '\\', 'u'), suffix...))
		if len(value) == 0 {
			if _, ok := s.Find(append(clone(prefix), suffix...)); ok {
				t.Fatal("empty value found")
			}
			return
		}
		join := func(mid []byte) []byte {
			return append(append(append([]byte{}, prefix...), mid...), suffix...)
		}
		if i, ok := s.Find(join(value)); !ok || i != 0 {
			t.Fatalf("raw value not found: %d %v", i, ok)
		}
		if len(value) < MinSecretBytes {
			return
		}
		forms := map[string][]byte{
			"base64 std": []byte(base64.StdEncoding.EncodeToString(join(value))),
			"base64 url": []byte(base64.RawURLEncoding.EncodeToString(join(value))),
			"hex":        []byte(hex.EncodeToString(value)),
			"query":      []byte(url.QueryEscape(string(value))),
		}
		if utf8.Valid(value) {
			j, _ := json.Marshal(string(value))
			forms["json"] = j
		}
		for name, form := range forms {
			if _, ok := s.Find(form); !ok {
				t.Fatalf("%s form %q not found", name, form)
			}
		}
	})
}
