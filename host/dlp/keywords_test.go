package dlp

import (
	"bytes"
	"testing"
)

// rulesWithKeyword is the plain reference for keywordIndex.rulesIn (what
// findSecrets did before): the text with ASCII letters in lower case, each
// rule's keywords searched for one by one.
func rulesWithKeyword(data []byte) uint64 {
	low := make([]byte, len(data))
	for i, c := range data {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	var set uint64
	for i, r := range secretRules {
		for _, k := range r.keywords {
			if bytes.Contains(low, []byte(k)) {
				set |= 1 << i
			}
		}
	}
	return set
}

// FuzzKeywordIndex holds the one-pass keyword index to the plain search.
func FuzzKeywordIndex(f *testing.F) {
	for _, s := range []string{
		"", "e", "ey", "they said", "AKIAIOSFODNN7EXAMPLE", "token ghp_abc and XOXB-1",
		"-----BEGIN RSA PRIVATE KEY-----", "hooks.SLACK.com/services/x", "sk_live_ sK-AnT-ApI03",
		"xoxe.xoxp-1-2", "\xffakia\x00Aiza",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := keywords.rulesIn(data), rulesWithKeyword(data); got != want {
			t.Fatalf("rulesIn(%q) = %b, the plain search finds %b", data, got, want)
		}
	})
}

// TestKeywordIndexRefusesBadKeywords: a keyword the one-pass index could
// not find is refused when the package loads.
func TestKeywordIndexRefusesBadKeywords(t *testing.T) {
	for _, kw := range []string{"x", "AKIA"} {
		t.Run(kw, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("keyword %q accepted", kw)
				}
			}()
			newKeywordIndex([]secretRule{{id: "test", keywords: []string{kw}}})
		})
	}
}
