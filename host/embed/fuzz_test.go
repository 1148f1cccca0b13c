package embed

import (
	"context"
	"math"
	"net/http"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"builtin", "ollama:http://127.0.0.1:11434:nomic-embed-text:latest",
		"openai:https://api.example.org/v1:text-embedding-3-small", "ollama:http://[::1]:1:m",
		"openai:https://u@h:m", "ollama:http://h:1", "x:", ":", "",
	} {
		f.Add(s)
	}
	hc := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		panic("Parse must not send anything")
	})}
	f.Fuzz(func(t *testing.T, spec string) {
		fn, name, err := Parse(spec, hc, nil)
		if err != nil {
			return
		}
		if fn == nil || name == "" {
			t.Fatalf("Parse(%q) = nil func or empty name", spec)
		}
		// The canonical name parses to itself.
		if _, again, err := Parse(name, hc, nil); err != nil || again != name {
			t.Fatalf("Parse(%q) = %q, reparse = %q, %v", spec, name, again, err)
		}
	})
}

func FuzzDecodeAnswer(f *testing.F) {
	for _, s := range []string{
		`{"embeddings":[[3,4]]}`, `{"data":[{"embedding":[1,2,3]}]}`,
		`{"embeddings":[[0]]}`, `{"data":null}`, `[]`, `{"embeddings":[[1e38,1e38]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, decode := range []func([]byte) ([]float32, error){decodeOllama, decodeOpenAI} {
			v, err := decode(raw)
			if err != nil {
				continue
			}
			if len(v) == 0 || len(v) > MaxDim {
				t.Fatalf("accepted dimension %d", len(v))
			}
			var s float64
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("accepted non-finite value in %v", v)
				}
				s += float64(x) * float64(x)
			}
			if math.Abs(s-1) > 1e-3 {
				t.Fatalf("accepted vector of squared norm %v", s)
			}
		}
	})
}

func FuzzBuiltin(f *testing.F) {
	for _, s := range []string{"", "how do I reset my password", "\xff", "🔥"} {
		f.Add(s)
	}
	emb := Builtin(32)
	f.Fuzz(func(t *testing.T, text string) {
		v, err := emb(context.Background(), text)
		if err != nil || len(v) != 32 {
			t.Fatalf("len %d, err %v", len(v), err)
		}
		if n := norm(v); math.Abs(n-1) > 1e-5 {
			t.Fatalf("norm %v", n)
		}
	})
}
