package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
)

// FuzzParseCheckpoint: whatever a stored or fetched checkpoint body holds,
// parsing never panics, and what it accepts is exactly what the host would
// have written for the same values.
func FuzzParseCheckpoint(f *testing.F) {
	root := make([]byte, 32)
	f.Add(formatCheckpoint(testOrigin, 0, root))
	f.Add(formatCheckpoint("o", 123456, bytes.Repeat([]byte{0xff}, 32)))
	f.Add("o\n5\n" + base64.StdEncoding.EncodeToString(root) + "\nextension\n")
	f.Add("o\n-0\nAAAA\n")
	f.Fuzz(func(t *testing.T, text string) {
		origin, size, r, err := parseCheckpoint(text)
		if err != nil {
			return
		}
		if again := formatCheckpoint(origin, size, r); again != text {
			t.Fatalf("accepted non-canonical checkpoint %q (canonical %q)", text, again)
		}
	})
}

// FuzzDecodeLeaf: a stored leaf never panics the decoder, and a leaf it
// accepts re-encodes to the same bytes, so its leaf hash names one entry.
func FuzzDecodeLeaf(f *testing.F) {
	f.Add([]byte(`{"index":0,"time":"2026-01-01T00:00:00Z","realm":"r","actor":"a","action":"invoke","tool":"t","decision":"allow","reason":"","request":"j","grant":"g","input_sha256":"","output_sha256":""}`))
	f.Add([]byte(`{"index":1,"time":"2026-01-01T00:00:00.5Z","realm":"","actor":"","action":"","tool":"","decision":"","reason":"\u003c","request":"","grant":"","input_sha256":"","output_sha256":"","parent":1}`))
	f.Add([]byte(`{"index":1,"index":2}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, leaf []byte) {
		e, err := decodeLeaf(leaf)
		if err != nil {
			return
		}
		again, err := json.Marshal(e)
		if err != nil || !bytes.Equal(again, leaf) {
			t.Fatalf("accepted non-canonical leaf %q (canonical %q, %v)", leaf, again, err)
		}
	})
}
