package embed

import (
	"context"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Feature weights of [Builtin]. A document has many more character trigrams
// than words, so trigrams weigh less: they rescue inflections and typos
// ("passwords", "pasword") without drowning the words themselves.
const (
	weightUnigram = 1.0
	weightBigram  = 0.6
	weightTrigram = 0.25
)

// Feature kinds, hashed in front of the feature text so that the word "abc"
// and the trigram "abc" land in unrelated buckets.
const (
	kindUnigram byte = 'u'
	kindBigram  byte = 'b'
	kindTrigram byte = 't'
	kindEmpty   byte = 'e'
)

// Builtin returns the offline default embedder: signed feature hashing
// (FNV-1a, 64 bit) of lower-cased word unigrams, word bigrams and character
// trigrams of each word (padded with a space on both sides) into dim buckets
// (DefaultDim when dim <= 0, at most MaxDim), L2-normalised.
//
// A word is a run of letters and digits; text without any is hashed as one
// word of its non-space characters, and empty or blank text maps to a fixed
// unit vector, so the result always has unit length. It needs no model, no
// download and no network, is deterministic across runs and hosts, and
// ranks texts that share words, word pairs and word fragments above texts
// that do not. It knows no synonyms.
func Builtin(dim int) Func {
	if dim <= 0 {
		dim = DefaultDim
	}
	if dim > MaxDim {
		dim = MaxDim
	}
	return func(ctx context.Context, text string) ([]float32, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return builtinVector(text, dim), nil
	}
}

// builtinVector is the pure computation behind [Builtin].
func builtinVector(text string, dim int) []float32 {
	acc := make([]float64, dim)
	add := func(h uint64, w float64) {
		// The low bits pick the bucket, the top bit the sign: colliding
		// features cancel out on average instead of piling up.
		i := int(h % uint64(dim))
		if h>>63 == 1 {
			w = -w
		}
		acc[i] += w
	}

	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
	if len(words) == 0 {
		if w := strings.Join(strings.Fields(strings.ToLower(text)), ""); w != "" {
			words = []string{w}
		}
	}

	runes := make([]rune, 0, 64)
	for i, w := range words {
		add(hash1(kindUnigram, w), weightUnigram)
		if i > 0 {
			add(hash2(kindBigram, words[i-1], w), weightBigram)
		}
		runes = append(runes[:0], ' ')
		runes = append(runes, []rune(w)...)
		runes = append(runes, ' ')
		for j := 0; j+3 <= len(runes); j++ {
			add(hashRunes(kindTrigram, runes[j:j+3]), weightTrigram)
		}
	}

	var sum float64
	for _, x := range acc {
		sum += x * x
	}
	out := make([]float32, dim)
	if sum == 0 {
		// Blank text, or features that cancelled out exactly: a fixed unit
		// vector keeps every similarity defined.
		h := hash1(kindEmpty, "")
		out[h%uint64(dim)] = 1
		return out
	}
	n := math.Sqrt(sum)
	for i, x := range acc {
		out[i] = float32(x / n)
	}
	return out
}

// FNV-1a, 64 bit (the parameters of hash/fnv), inlined so that hashing a
// feature allocates nothing.
const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

func fnvByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = fnvByte(h, s[i])
	}
	return h
}

// fmix is the 64-bit finaliser of MurmurHash3. FNV-1a alone mixes its last
// bytes poorly into the top bit, which carries the sign.
func fmix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func hash1(kind byte, s string) uint64 {
	return fmix(fnvString(fnvByte(fnvOffset, kind), s))
}

func hash2(kind byte, a, b string) uint64 {
	h := fnvString(fnvByte(fnvOffset, kind), a)
	h = fnvByte(h, ' ')
	return fmix(fnvString(h, b))
}

func hashRunes(kind byte, rs []rune) uint64 {
	h := fnvByte(fnvOffset, kind)
	var buf [4]byte
	for _, r := range rs {
		n := utf8.EncodeRune(buf[:], r)
		for _, b := range buf[:n] {
			h = fnvByte(h, b)
		}
	}
	return fmix(h)
}
