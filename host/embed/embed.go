// Package embed turns text into the vectors that agent memory ranks by
// (DESIGN §7). The embedding function is always explicit: [Builtin] is the
// offline default, and [Parse] reads the operator's "embedder" setting for a
// model server (Ollama or an OpenAI-compatible endpoint).
//
// A [Func] has the same shape as chromem-go's EmbeddingFunc, so it can be
// handed to chromem-go directly, but callers should never let chromem-go pick
// an embedder itself: its implicit default calls OpenAI with $OPENAI_API_KEY.
//
// # Security
//
// [Builtin] needs no download and opens no connection: it is pure
// computation over the text. The remote embedders send document text to the
// configured server, only through the *http.Client the caller provides, and
// take their API key from the caller's apiKey function (the vault) on every
// request, never from the environment. The key goes only into the
// Authorization header; no error or log line carries it, the document text,
// or the server's answer. Answers are size-capped and every vector is checked
// (non-empty, finite, bounded dimension, non-zero) and L2-normalised before
// it is returned.
package embed

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Func embeds one text. It has the same shape as chromem.EmbeddingFunc.
type Func func(ctx context.Context, text string) ([]float32, error)

// DefaultDim is the dimension of [Builtin] when asked for dim <= 0.
const DefaultDim = 512

// MaxDim bounds the dimension of any vector this package returns, builtin or
// remote.
const MaxDim = 1 << 14

// Errors returned by this package, always wrapped as "embed: …". Test with
// errors.Is.
var (
	// ErrSpec: the embedder setting does not follow the grammar of [Parse].
	ErrSpec = errors.New("invalid embedder spec")
	// ErrUpstream: the model server could not be reached, answered with a
	// non-200 status, or sent an answer that is not a usable vector.
	ErrUpstream = errors.New("embedding server failed")
	// ErrKey: the API key could not be read from the vault.
	ErrKey = errors.New("api key unavailable")
)

// normalize checks v and returns it scaled to unit length, in place. It
// refuses empty, oversized, non-finite and all-zero vectors.
func normalize(v []float32) ([]float32, error) {
	if len(v) == 0 || len(v) > MaxDim {
		return nil, fmt.Errorf("vector dimension %d outside 1..%d", len(v), MaxDim)
	}
	var sum float64
	for _, x := range v {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, errors.New("vector holds a non-finite value")
		}
		sum += f * f
	}
	if sum == 0 || math.IsInf(sum, 0) {
		return nil, errors.New("vector has no usable length")
	}
	n := math.Sqrt(sum)
	for i, x := range v {
		v[i] = float32(float64(x) / n)
	}
	return v, nil
}
