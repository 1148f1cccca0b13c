package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func norm(v []float32) float64 { return math.Sqrt(dot(v, v)) }

func TestBuiltinRanksRelatedTextFirst(t *testing.T) {
	ctx := context.Background()
	f := Builtin(0)
	tests := []struct {
		name, query, related, unrelated string
	}{
		{
			name:      "password reset over pizza",
			query:     "how do I reset my password",
			related:   "To reset your password, open Settings, choose Security and click Reset password.",
			unrelated: "Pizza recipe: knead the dough, add tomato sauce and mozzarella, bake at 250 degrees.",
		},
		{
			name:      "inflected words still match",
			query:     "invoices overdue",
			related:   "The invoice is overdue since March; send a reminder.",
			unrelated: "The garden needs watering every morning in summer.",
		},
		{
			name:      "non-latin script",
			query:     "пароль сброс",
			related:   "Как сбросить пароль учётной записи",
			unrelated: "Рецепт пиццы с томатами",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := f(ctx, tt.query)
			r, _ := f(ctx, tt.related)
			u, _ := f(ctx, tt.unrelated)
			if sr, su := dot(q, r), dot(q, u); sr <= su {
				t.Fatalf("related similarity %.3f <= unrelated %.3f", sr, su)
			}
		})
	}
}

func TestBuiltinAlwaysUnitLength(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		dim  int
		text string
		want int
	}{
		{"empty text would divide by zero", 0, "", DefaultDim},
		{"blank text would divide by zero", 0, " \t\n ", DefaultDim},
		{"punctuation only", 0, "!!! ???", DefaultDim},
		{"emoji only", 0, "🔥🔥", DefaultDim},
		{"one letter", 0, "a", DefaultDim},
		{"small dimension", 8, "hello world", 8},
		{"one bucket", 1, "hello world", 1},
		{"negative dimension means default", -5, "x", DefaultDim},
		{"huge dimension is capped", 1 << 30, "x", MaxDim},
		{"long document", 0, strings.Repeat("lorem ipsum dolor sit amet ", 3000), DefaultDim},
		{"invalid utf-8", 0, "\xff\xfe password \xc3", DefaultDim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Builtin(tt.dim)(ctx, tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if len(v) != tt.want {
				t.Fatalf("dim = %d, want %d", len(v), tt.want)
			}
			if n := norm(v); math.Abs(n-1) > 1e-5 {
				t.Fatalf("norm = %v, want 1", n)
			}
		})
	}
}

func TestBuiltinDeterministic(t *testing.T) {
	ctx := context.Background()
	a, _ := Builtin(64)(ctx, "The Same Text, twice")
	b, _ := Builtin(64)(ctx, "the same text twice")
	if !slices.Equal(a, b) {
		t.Fatal("case and punctuation changed the vector")
	}
	c, _ := Builtin(64)(ctx, "a different text")
	if slices.Equal(a, c) {
		t.Fatal("different texts gave the same vector")
	}
}

func TestBuiltinHonoursCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Builtin(0)(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestParse(t *testing.T) {
	hc := &http.Client{}
	tests := []struct {
		name     string
		spec     string
		hc       *http.Client
		wantName string
		wantErr  bool
	}{
		{"builtin", "builtin", nil, "builtin", false},
		{"ollama with port", "ollama:http://127.0.0.1:11434:nomic-embed-text", hc, "ollama:http://127.0.0.1:11434:nomic-embed-text", false},
		{"ollama model with tag", "ollama:http://127.0.0.1:11434:nomic-embed-text:latest", hc, "ollama:http://127.0.0.1:11434:nomic-embed-text:latest", false},
		{"openai with path", "openai:https://api.example.org/v1:text-embedding-3-small", hc, "openai:https://api.example.org/v1:text-embedding-3-small", false},
		{"openai without port", "openai:https://api.example.org:m", hc, "openai:https://api.example.org:m", false},
		{"ipv6 loopback", "ollama:http://[::1]:11434:m", hc, "ollama:http://[::1]:11434:m", false},

		{"empty spec", "", hc, "", true},
		{"upper-case builtin is not builtin", "BUILTIN", hc, "", true},
		{"chromem implicit openai default", "default", hc, "", true},
		{"unknown kind", "cohere:https://api.example.org:m", hc, "", true},
		{"no client for a remote kind", "ollama:http://127.0.0.1:11434:m", nil, "", true},
		{"missing model", "ollama:http://127.0.0.1:11434", hc, "", true},
		{"missing model after path", "openai:https://api.example.org/v1", hc, "", true},
		{"empty model", "openai:https://api.example.org/v1:", hc, "", true},
		{"file scheme", "ollama:file:///etc/passwd:m", hc, "", true},
		{"scheme-less URL", "ollama:127.0.0.1:11434:m", hc, "", true},
		{"userinfo smuggles a credential", "openai:https://user:pass@api.example.org:m", hc, "", true},
		{"query string", "openai:https://api.example.org/v1?x=1:m", hc, "", true},
		{"fragment", "openai:https://api.example.org/v1#x:m", hc, "", true},
		{"percent escapes in path", "openai:https://api.example.org/%2e%2e:m", hc, "", true},
		{"space in URL", "openai:https://api.example .org:m", hc, "", true},
		{"space in model", "openai:https://api.example.org:text embedding", hc, "", true},
		{"control byte in model", "openai:https://api.example.org:m\n", hc, "", true},
		{"port out of range", "ollama:http://127.0.0.1:99999:m", hc, "", true},
		{"port zero", "ollama:http://127.0.0.1:0:m", hc, "", true},
		{"empty host", "ollama:http://:11434:m", hc, "", true},
		{"unterminated ipv6", "ollama:http://[::1:11434:m", hc, "", true},
		{"overlong model", "ollama:http://127.0.0.1:11434:" + strings.Repeat("m", maxModel+1), hc, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, name, err := Parse(tt.spec, tt.hc, nil)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Parse(%q) accepted as %q", tt.spec, name)
				}
				if !errors.Is(err, ErrSpec) {
					t.Fatalf("err = %v, want ErrSpec", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.spec, err)
			}
			if f == nil || name != tt.wantName {
				t.Fatalf("name = %q, want %q (func nil: %v)", name, tt.wantName, f == nil)
			}
		})
	}
}

// modelServer is a loopback model server that records what it was sent.
type modelServer struct {
	*httptest.Server
	calls  atomic.Int32
	path   atomic.Value // string
	auth   atomic.Value // string
	body   atomic.Value // embedRequest
	status int
	answer string
}

func newModelServer(t *testing.T, status int, answer string) *modelServer {
	t.Helper()
	m := &modelServer{status: status, answer: answer}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.calls.Add(1)
		m.path.Store(r.URL.Path)
		m.auth.Store(r.Header.Get("Authorization"))
		var req embedRequest
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &req)
		m.body.Store(req)
		w.WriteHeader(m.status)
		_, _ = io.WriteString(w, m.answer)
	}))
	t.Cleanup(m.Close)
	return m
}

func TestRemoteEmbedders(t *testing.T) {
	const vaultKey = "vault-key-7f3a"
	tests := []struct {
		name, kind, path, answer, wantPath string
	}{
		{"ollama root", "ollama", "", `{"embeddings":[[3,4]]}`, "/api/embed"},
		{"ollama behind a proxy prefix", "ollama", "/proxy", `{"embeddings":[[3,4]]}`, "/proxy/api/embed"},
		{"openai root gets /v1", "openai", "", `{"data":[{"embedding":[3,4]}]}`, "/v1/embeddings"},
		{"openai base with /v1", "openai", "/v1", `{"data":[{"embedding":[3,4]}]}`, "/v1/embeddings"},
		{"openai base with other path", "openai", "/openai/v1/", `{"data":[{"embedding":[3,4]}]}`, "/openai/v1/embeddings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A key in the environment must never be what is sent.
			t.Setenv("OPENAI_API_KEY", "env-key-must-not-leak")
			srv := newModelServer(t, http.StatusOK, tt.answer)
			f, _, err := Parse(tt.kind+":"+srv.URL+tt.path+":my-model:v1", srv.Client(),
				func(context.Context) (string, error) { return vaultKey, nil })
			if err != nil {
				t.Fatal(err)
			}
			v, err := f(context.Background(), "hello")
			if err != nil {
				t.Fatal(err)
			}
			if len(v) != 2 || math.Abs(float64(v[0])-0.6) > 1e-6 || math.Abs(float64(v[1])-0.8) > 1e-6 {
				t.Fatalf("vector = %v, want normalised [0.6 0.8]", v)
			}
			if got := srv.path.Load(); got != tt.wantPath {
				t.Fatalf("path = %v, want %s", got, tt.wantPath)
			}
			if got := srv.auth.Load(); got != "Bearer "+vaultKey {
				t.Fatalf("Authorization = %q, want the vault key", got)
			}
			if got := srv.body.Load().(embedRequest); got.Model != "my-model:v1" || got.Input != "hello" {
				t.Fatalf("request = %+v", got)
			}
		})
	}
}

func TestRemoteWithoutKeySendsNoCredential(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "env-key-must-not-leak")
	for _, apiKey := range []func(context.Context) (string, error){
		nil,
		func(context.Context) (string, error) { return "", nil },
	} {
		srv := newModelServer(t, http.StatusOK, `{"data":[{"embedding":[1]}]}`)
		f, _, err := Parse("openai:"+srv.URL+":m", srv.Client(), apiKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f(context.Background(), "x"); err != nil {
			t.Fatal(err)
		}
		if got := srv.auth.Load(); got != "" {
			t.Fatalf("Authorization = %q, want none", got)
		}
	}
}

func TestRemoteRefusesBadAnswers(t *testing.T) {
	const secret = "vault-key-do-not-print"
	tests := []struct {
		name   string
		kind   string
		status int
		answer string
	}{
		{"server error", "openai", 500, `{"error":"` + secret + `"}`},
		{"redirect is not followed as success", "openai", 302, ``},
		{"not json", "openai", 200, `<html>`},
		{"no embedding", "openai", 200, `{"data":[]}`},
		{"two embeddings", "openai", 200, `{"data":[{"embedding":[1]},{"embedding":[1]}]}`},
		{"empty vector", "ollama", 200, `{"embeddings":[[]]}`},
		{"zero vector", "ollama", 200, `{"embeddings":[[0,0,0]]}`},
		{"float32 overflow", "ollama", 200, `{"embeddings":[[1e300]]}`},
		{"string instead of number", "ollama", 200, `{"embeddings":[["1"]]}`},
		{"oversized answer", "ollama", 200, `{"embeddings":[[` + strings.Repeat("1,", maxAnswer/2) + `1]]}`},
		{"dimension over MaxDim", "ollama", 200, `{"embeddings":[[` + strings.Repeat("1,", MaxDim) + `1]]}`},
		{"wrong shape for kind", "ollama", 200, `{"data":[{"embedding":[1]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newModelServer(t, tt.status, tt.answer)
			f, _, err := Parse(tt.kind+":"+srv.URL+":m", srv.Client(),
				func(context.Context) (string, error) { return secret, nil })
			if err != nil {
				t.Fatal(err)
			}
			v, err := f(context.Background(), "x")
			if !errors.Is(err, ErrUpstream) {
				t.Fatalf("v = %v, err = %v, want ErrUpstream", v, err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the key or the answer: %v", err)
			}
		})
	}
}

func TestRemoteVaultFailureSendsNothing(t *testing.T) {
	srv := newModelServer(t, http.StatusOK, `{"data":[{"embedding":[1]}]}`)
	f, _, err := Parse("openai:"+srv.URL+":m", srv.Client(),
		func(context.Context) (string, error) { return "", errors.New("vault sealed") })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f(context.Background(), "x"); !errors.Is(err, ErrKey) {
		t.Fatalf("err = %v, want ErrKey", err)
	}
	if n := srv.calls.Load(); n != 0 {
		t.Fatalf("server called %d times without a key", n)
	}
}

func TestRemoteUsesOnlyTheGivenClient(t *testing.T) {
	srv := newModelServer(t, http.StatusOK, `{"data":[{"embedding":[1]}]}`)
	var used atomic.Int32
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Add(1)
		return srv.Client().Transport.RoundTrip(r)
	})}
	f, _, err := Parse("openai:"+srv.URL+":m", hc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	if used.Load() != 1 {
		t.Fatalf("given client used %d times, want 1", used.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func ExampleParse() {
	f, name, err := Parse("builtin", nil, nil)
	if err != nil {
		panic(err)
	}
	v, _ := f(context.Background(), "how do I reset my password")
	fmt.Println(name, len(v))
	// Output: builtin 512
}
