package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Limits on the remote embedders.
const (
	// maxAnswer caps the body read from a model server.
	maxAnswer = 4 << 20
	// maxModel caps the length of a model name.
	maxModel = 256
)

// Embedder kinds accepted by [Parse].
const (
	KindBuiltin = "builtin"
	KindOllama  = "ollama"
	KindOpenAI  = "openai"
)

// Parse reads the "embedder" configuration value and returns the embedding
// function and its canonical name:
//
//	builtin                 [Builtin](DefaultDim), offline
//	ollama:URL:model        Ollama, POST URL/api/embed
//	openai:URL:model        OpenAI-compatible, POST URL/v1/embeddings, or
//	                        URL/embeddings when URL has a path (".../v1")
//
// URL is http(s)://host[:port][/path] with no userinfo, query or fragment,
// and the path holds no ':'; the model is everything after the colon that
// follows the URL, so it may hold colons ("nomic-embed-text:latest").
//
// The remote kinds send requests only through hc, which must not be nil, and
// ask apiKey (the vault) for a key on every request; a nil apiKey or an
// empty key sends no Authorization header. The environment is never read.
func Parse(spec string, hc *http.Client, apiKey func(ctx context.Context) (string, error)) (Func, string, error) {
	if spec == KindBuiltin {
		return Builtin(DefaultDim), KindBuiltin, nil
	}
	kind, rest, ok := strings.Cut(spec, ":")
	if !ok || (kind != KindOllama && kind != KindOpenAI) {
		return nil, "", fmt.Errorf("embed: %w: want builtin, ollama:URL:model or openai:URL:model", ErrSpec)
	}
	base, model, err := splitURLModel(rest)
	if err != nil {
		return nil, "", fmt.Errorf("embed: %w: %s", ErrSpec, err.Error())
	}
	if hc == nil {
		return nil, "", fmt.Errorf("embed: %w: %s needs an HTTP client", ErrSpec, kind)
	}
	name := kind + ":" + base.String() + ":" + model
	r := &remote{hc: hc, apiKey: apiKey, model: model, endpoint: *base}
	path := strings.TrimSuffix(base.Path, "/")
	switch kind {
	case KindOllama:
		r.endpoint.Path = path + "/api/embed"
		r.decode = decodeOllama
	default:
		if path == "" {
			path = "/v1"
		}
		r.endpoint.Path = path + "/embeddings"
		r.decode = decodeOpenAI
	}
	return r.embed, name, nil
}

// splitURLModel splits "http(s)://host[:port][/path]:model". The port is the
// run of digits after the host when another ':' or a '/' follows it.
func splitURLModel(s string) (*url.URL, string, error) {
	scheme, after, ok := strings.Cut(s, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return nil, "", errors.New("URL must start with http:// or https://")
	}
	var i int
	if strings.HasPrefix(after, "[") {
		j := strings.IndexByte(after, ']')
		if j < 0 {
			return nil, "", errors.New("unterminated IPv6 literal")
		}
		i = j + 1
	} else {
		i = strings.IndexAny(after, ":/")
		if i < 0 {
			return nil, "", errors.New("missing :model")
		}
	}
	host, rem := after[:i], after[i:]
	if strings.HasPrefix(rem, ":") {
		d := 1
		for d < len(rem) && rem[d] >= '0' && rem[d] <= '9' {
			d++
		}
		if d > 1 && d < len(rem) && (rem[d] == ':' || rem[d] == '/') {
			host, rem = host+rem[:d], rem[d:]
		}
	}
	path := ""
	if strings.HasPrefix(rem, "/") {
		j := strings.IndexByte(rem, ':')
		if j < 0 {
			return nil, "", errors.New("missing :model")
		}
		path, rem = rem[:j], rem[j:]
	}
	model, ok := strings.CutPrefix(rem, ":")
	if !ok || model == "" {
		return nil, "", errors.New("missing :model")
	}
	if err := checkModel(model); err != nil {
		return nil, "", err
	}
	raw := scheme + "://" + host + path
	for _, c := range []byte(raw) {
		if c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '@' || c == '%' || c == '\\' {
			return nil, "", errors.New("URL holds a character outside host[:port][/path]")
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, "", errors.New("URL must be http(s)://host[:port][/path]")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, "", errors.New("port outside 1..65535")
		}
	}
	return u, model, nil
}

func checkModel(m string) error {
	if len(m) > maxModel {
		return errors.New("model name too long")
	}
	digits := true
	for _, c := range []byte(m) {
		if c <= ' ' || c >= 0x7f || c == '@' {
			// '@' is refused so that a URL with userinfo can never be
			// read as a host plus a model name.
			return errors.New("model name must be printable ASCII without spaces or '@'")
		}
		if c < '0' || c > '9' {
			digits = false
		}
	}
	if digits {
		// "ollama:http://h:11434" lost its model: refuse rather than ask for
		// a model named "11434".
		return errors.New("missing :model (a bare port is not a model name)")
	}
	return nil
}

// remote is an embedder behind an HTTP model server.
type remote struct {
	hc       *http.Client
	apiKey   func(ctx context.Context) (string, error)
	model    string
	endpoint url.URL
	decode   func([]byte) ([]float32, error)
}

type embedRequest struct {
	Model string `json:"model"`
	Input string `json:"input"`
}

func (r *remote) embed(ctx context.Context, text string) ([]float32, error) {
	body, err := json.Marshal(embedRequest{Model: r.model, Input: text})
	if err != nil {
		return nil, fmt.Errorf("embed: %w: encode request", ErrUpstream)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("embed: %w: build request", ErrUpstream)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if r.apiKey != nil {
		key, err := r.apiKey(ctx)
		if err != nil {
			return nil, fmt.Errorf("embed: %w: %w", ErrKey, err)
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("embed: %w: %w", ErrUpstream, ctx.Err())
		}
		// The transport error names the configured URL, never the key.
		return nil, fmt.Errorf("embed: %w: %w", ErrUpstream, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		return nil, fmt.Errorf("embed: %w: status %d", ErrUpstream, resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("embed: %w: read answer", ErrUpstream)
	}
	if len(raw) > maxAnswer {
		return nil, fmt.Errorf("embed: %w: answer over %d bytes", ErrUpstream, maxAnswer)
	}
	v, err := r.decode(raw)
	if err != nil {
		return nil, fmt.Errorf("embed: %w: %s", ErrUpstream, err.Error())
	}
	return v, nil
}

// decodeOllama reads an Ollama /api/embed answer: {"embeddings": [[…]]}.
func decodeOllama(raw []byte) ([]float32, error) {
	var a struct {
		Embeddings [][]float32 `json:"embeddings"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, errors.New("answer is not an Ollama embedding")
	}
	if len(a.Embeddings) != 1 {
		return nil, fmt.Errorf("answer holds %d embeddings, want 1", len(a.Embeddings))
	}
	return normalize(a.Embeddings[0])
}

// decodeOpenAI reads an OpenAI /v1/embeddings answer:
// {"data": [{"embedding": […]}]}.
func decodeOpenAI(raw []byte) ([]float32, error) {
	var a struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, errors.New("answer is not an OpenAI embedding")
	}
	if len(a.Data) != 1 {
		return nil, fmt.Errorf("answer holds %d embeddings, want 1", len(a.Data))
	}
	return normalize(a.Data[0].Embedding)
}
