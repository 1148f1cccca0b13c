package ascii

import "testing"

func TestHasPrefixFold(t *testing.T) {
	for _, c := range []struct {
		b, word string
		want    bool
	}{
		{"AKIA1234", "akia", true},
		{"akIa", "akia", true},
		{"aki", "akia", false},
		{"a\u212aia", "akia", false}, // no folding beyond ASCII
		{"", "", true},
		{"x", "", true},
		{"[a", "{a", false}, // '[' is not a capital letter
	} {
		if got := HasPrefixFold([]byte(c.b), c.word); got != c.want {
			t.Errorf("HasPrefixFold(%q, %q) = %v, want %v", c.b, c.word, got, c.want)
		}
	}
}
