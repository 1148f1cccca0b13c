package dlp

import (
	"fmt"

	"github.com/airlock-dev/airlock/internal/ascii"
)

// keywordIndex tells, in one pass over a text, which secret rules have a
// keyword in it (ASCII case-insensitively), so that only their patterns
// run. Checking each rule's keywords with bytes.Contains cost ~50 scans of
// every string of an output, most of the DLP's time on ordinary JSON.
type keywordIndex struct {
	// bigram marks the lower-cased first two bytes of some keyword; only
	// where one occurs can a keyword begin.
	bigram [1 << 16]bool
	// starting lists the keywords by their first two bytes.
	starting map[uint16][]ruleKeyword
}

type ruleKeyword struct {
	word string // lower case
	rule int    // index in secretRules
}

var keywords = newKeywordIndex(secretRules)

func newKeywordIndex(rules []secretRule) *keywordIndex {
	if len(rules) > 64 {
		panic("dlp: more than 64 secret rules: keywordIndex.rulesIn returns a uint64 set")
	}
	k := &keywordIndex{starting: map[uint16][]ruleKeyword{}}
	for i, r := range rules {
		for _, w := range r.keywords {
			if len(w) < 2 {
				panic(fmt.Sprintf("dlp: rule %s: keyword %q is shorter than two bytes", r.id, w))
			}
			for j := range len(w) {
				if ascii.Lower(w[j]) != w[j] {
					panic(fmt.Sprintf("dlp: rule %s: keyword %q is not in lower case", r.id, w))
				}
			}
			b := uint16(w[0])<<8 | uint16(w[1])
			k.bigram[b] = true
			k.starting[b] = append(k.starting[b], ruleKeyword{w, i})
		}
	}
	return k
}

// rulesIn returns the set (bit i for secretRules[i]) of rules one of whose
// keywords occurs in data.
func (k *keywordIndex) rulesIn(data []byte) uint64 {
	var set uint64
	for p := 0; p+1 < len(data); p++ {
		b := uint16(ascii.Lower(data[p]))<<8 | uint16(ascii.Lower(data[p+1]))
		if !k.bigram[b] {
			continue
		}
		for _, kw := range k.starting[b] {
			if set&(1<<kw.rule) == 0 && ascii.HasPrefixFold(data[p:], kw.word) {
				set |= 1 << kw.rule
			}
		}
	}
	return set
}
