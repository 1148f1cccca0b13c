//go:build wasip1

// Command web is the Airlock tool "fetch": it fetches a URL through the
// host's http_request function and returns the status, content type and the
// first 64 KiB of the body as text.
//
// The tool never dials anything itself. The host decides which hosts it may
// reach (the grant's http allowlist), refuses private and metadata addresses,
// and caps sizes and time.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o web.wasm ./plugins/web
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/sdk/tool"
)

// maxBody is how much of the response body the tool returns.
const maxBody = 64 << 10

type input struct {
	URL    string `json:"url"`
	Method string `json:"method,omitempty"`
}

type output struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
}

//go:wasmexport fetch
func fetch() int32 { return tool.Handle(run) }

func run(in input) (output, error) {
	method := strings.ToUpper(in.Method)
	if method == "" {
		method = "GET"
	}
	if method != "GET" && method != "HEAD" {
		return output{}, errors.New("method must be GET or HEAD")
	}
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return output{}, errors.New("url must be an absolute http or https URL")
	}
	resp, err := tool.HTTPRequest(abi.HTTPRequest{Method: method, URL: u.String()})
	if err != nil {
		return output{}, err
	}
	return output{
		Status:      resp.Status,
		ContentType: header(resp.Headers, "Content-Type"),
		Body:        truncate(resp.Body, maxBody),
	}, nil
}

// header looks name up case-insensitively.
func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// truncate returns b as valid UTF-8 text of at most n bytes: invalid
// sequences become U+FFFD and the text is cut on a rune boundary.
func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

func main() {}
