package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/abi"
)

// Every server in these tests listens on 127.0.0.1 or 127.0.0.2, and every
// name used is either refused before any dial or "localhost", which the
// client answers itself. Nothing here reaches DNS or another address.

// testServer is a loopback server that counts the requests it handled.
type testServer struct {
	*httptest.Server
	hits atomic.Int64
	port string
}

func newServer(t *testing.T, ip string, h http.HandlerFunc) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	s := &testServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	_ = s.Listener.Close()
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	_, s.port, _ = net.SplitHostPort(ln.Addr().String())
	return s
}

func ok(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) }
}

func redirectTo(status int, loc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, loc, status) }
}

func newClient(t *testing.T, allowPrivate ...string) *Client {
	t.Helper()
	p, err := NewAddressPolicy(allowPrivate)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(Config{Policy: p, Timeout: 5 * time.Second})
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func hosts(t *testing.T, patterns ...string) *HostList {
	t.Helper()
	h, err := CompileHosts(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(rawURL string) abi.HTTPRequest { return abi.HTTPRequest{Method: "GET", URL: rawURL} }

// The host list allows every spelling below; only the dialer stands between
// the tool and loopback.
func TestLoopbackRefusedAtDial(t *testing.T) {
	srv := newServer(t, "127.0.0.1", ok("secret internal page"))
	c := newClient(t)
	list := hosts(t, "127.0.0.1", "localhost", "sub.localhost")
	for _, tt := range []struct{ name, url string }{
		{"loopback literal", "http://127.0.0.1:%s/"},
		{"short form 127.1", "http://127.1:%s/"},
		{"hex integer", "http://0x7f000001:%s/"},
		{"decimal integer", "http://2130706433:%s/"},
		{"octal first part", "http://0177.0.0.1:%s/"},
		{"hex last part", "http://127.0.0.0x1:%s/"},
		{"IPv4-mapped IPv6", "http://[::ffff:127.0.0.1]:%s/"},
		{"localhost name", "http://localhost:%s/"},
		{"localhost subdomain", "http://sub.localhost:%s/"},
		{"localhost with trailing dot", "http://localhost.:%s/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Do(t.Context(), get(fmt.Sprintf(tt.url, srv.port)), list)
			if !errors.Is(err, ErrAddressRefused) {
				t.Fatalf("err = %v, want ErrAddressRefused", err)
			}
		})
	}
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("loopback server saw %d requests", n)
	}
}

func TestAllowPrivateOpensLoopback(t *testing.T) {
	var gotHost, gotHeader, gotBody, gotQuery string
	srv := newServer(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotHeader, gotQuery = r.Host, r.Header.Get("X-Tool"), r.URL.RawQuery
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "created")
	})
	c := newClient(t, "127.0.0.0/8")
	res, err := c.Do(t.Context(), abi.HTTPRequest{
		Method:  "POST",
		URL:     "http://127.1:" + srv.port + "/items?q=1#frag",
		Headers: map[string]string{"x-tool": "yes"},
		Body:    []byte("payload"),
	}, hosts(t, "http://127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Response.Status != http.StatusCreated || string(res.Response.Body) != "created" {
		t.Fatalf("response = %d %q", res.Response.Status, res.Response.Body)
	}
	if got := res.Response.Headers["X-Multi"]; got != "a, b" {
		t.Fatalf("X-Multi = %q, want joined values", got)
	}
	if gotHost != "127.0.0.1:"+srv.port {
		t.Fatalf("server saw Host %q, want the canonical address", gotHost)
	}
	if gotHeader != "yes" || gotBody != "payload" || gotQuery != "q=1" {
		t.Fatalf("server saw header %q body %q query %q", gotHeader, gotBody, gotQuery)
	}
	if res.BytesRecv != int64(len("created")) || res.BytesSent < int64(len("payload")) {
		t.Fatalf("byte counts sent %d recv %d", res.BytesSent, res.BytesRecv)
	}
	if want := "http://127.0.0.1:" + srv.port + "/items?q=1"; res.FinalURL != want {
		t.Fatalf("FinalURL = %q, want %q (fragment dropped)", res.FinalURL, want)
	}
}

func TestRedirects(t *testing.T) {
	second := newServer(t, "127.0.0.2", ok("second"))
	c := newClient(t, "127.0.0.1/32")
	list := hosts(t, "127.0.0.1", "127.0.0.2")
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"redirect to address not opened", redirectTo(http.StatusFound, "http://127.0.0.2:"+second.port+"/"), ErrAddressRefused},
		{"redirect to obfuscated address not opened", redirectTo(http.StatusFound, "http://0x7f000002:"+second.port+"/"), ErrAddressRefused},
		{"307 redirect to address not opened", redirectTo(http.StatusTemporaryRedirect, "http://127.0.0.2:"+second.port+"/"), ErrAddressRefused},
		{"redirect to host not in list", redirectTo(http.StatusFound, "http://evil.example/steal"), ErrHostNotAllowed},
		{"redirect to metadata", redirectTo(http.StatusFound, "http://169.254.169.254/latest/meta-data/"), ErrHostNotAllowed},
		{"redirect to file scheme", redirectTo(http.StatusFound, "file:///etc/passwd"), ErrBadRequest},
		{"redirect with userinfo", redirectTo(http.StatusFound, "http://user:pw@127.0.0.2:"+second.port+"/"), ErrBadRequest},
		{"redirect to non-numeric port", redirectTo(http.StatusFound, "http://127.0.0.2:x/"), ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := newServer(t, "127.0.0.1", tt.handler)
			_, err := c.Do(t.Context(), get("http://127.0.0.1:"+first.port+"/"), list)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if first.hits.Load() != 1 {
				t.Fatalf("first server saw %d requests, want 1", first.hits.Load())
			}
		})
	}
	if n := second.hits.Load(); n != 0 {
		t.Fatalf("refused server saw %d requests", n)
	}
}

func TestRedirectLoopStops(t *testing.T) {
	srv := newServer(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/again", http.StatusFound)
	})
	p, _ := NewAddressPolicy([]string{"127.0.0.1/32"})
	c := NewClient(Config{Policy: p, MaxRedirects: 2})
	t.Cleanup(c.CloseIdleConnections)
	_, err := c.Do(t.Context(), get("http://127.0.0.1:"+srv.port+"/"), hosts(t, "127.0.0.1"))
	if !errors.Is(err, ErrTooManyRedirects) {
		t.Fatalf("err = %v, want ErrTooManyRedirects", err)
	}
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("server saw %d requests, want 3 (first + 2 redirects)", n)
	}
}

func TestRedirectFollowedWithinGrant(t *testing.T) {
	var method, body string
	srv := newServer(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, "/end", http.StatusSeeOther)
			return
		}
		b, _ := io.ReadAll(r.Body)
		method, body = r.Method, string(b)
		_, _ = io.WriteString(w, "done")
	})
	c := newClient(t, "127.0.0.1/32")
	res, err := c.Do(t.Context(), abi.HTTPRequest{
		Method: "POST", URL: "http://127.0.0.1:" + srv.port + "/start", Body: []byte("form"),
	}, hosts(t, "127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Response.Body) != "done" || !strings.HasSuffix(res.FinalURL, "/end") {
		t.Fatalf("got %q at %s", res.Response.Body, res.FinalURL)
	}
	if method != "GET" || body != "" {
		t.Fatalf("303 hop was %s with body %q, want GET without body", method, body)
	}
}

// A credential meant for one host (as a vault would inject it) must not be
// handed to another host by a redirect.
func TestCrossOriginRedirectDropsCredentials(t *testing.T) {
	var seen http.Header
	second := newServer(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
	})
	first := newServer(t, "127.0.0.1", redirectTo(http.StatusTemporaryRedirect, "http://127.0.0.2:"+second.port+"/"))
	c := newClient(t, "127.0.0.1/32", "127.0.0.2/32")
	_, err := c.Do(t.Context(), abi.HTTPRequest{
		Method: "GET", URL: "http://127.0.0.1:" + first.port + "/",
		Headers: map[string]string{
			"Authorization": "Bearer s3cr3t", "X-Api-Key": "s3cr3t", "Cookie": "session=s3cr3t",
			"Accept": "application/json",
		},
	}, hosts(t, "127.0.0.1", "127.0.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Authorization", "X-Api-Key", "Cookie"} {
		if v := seen.Get(k); v != "" {
			t.Errorf("second origin received %s", k)
		}
	}
	if seen.Get("Accept") != "application/json" {
		t.Errorf("content negotiation header lost: %v", seen)
	}
}

func TestHostNotInGrantNeverDialled(t *testing.T) {
	srv := newServer(t, "127.0.0.1", ok("x"))
	c := newClient(t, "127.0.0.0/8")
	for _, tt := range []struct {
		name     string
		patterns []string
		url      string
	}{
		{"host absent", []string{"api.example.org"}, "http://127.0.0.1:%s/"},
		{"scheme not granted", []string{"https://127.0.0.1"}, "http://127.0.0.1:%s/"},
		{"port not granted", []string{"127.0.0.1:1"}, "http://127.0.0.1:%s/"},
		{"empty grant", nil, "http://127.0.0.1:%s/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Do(t.Context(), get(fmt.Sprintf(tt.url, srv.port)), hosts(t, tt.patterns...))
			if !errors.Is(err, ErrHostNotAllowed) {
				t.Fatalf("err = %v, want ErrHostNotAllowed", err)
			}
		})
	}
	if _, err := c.Do(t.Context(), get("http://127.0.0.1:"+srv.port+"/"), nil); !errors.Is(err, ErrHostNotAllowed) {
		t.Fatalf("nil host list: err = %v", err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("server saw %d requests", n)
	}
}

func TestBadRequestsRefusedBeforeDial(t *testing.T) {
	srv := newServer(t, "127.0.0.1", ok("x"))
	c := newClient(t, "127.0.0.0/8")
	list := hosts(t, "127.0.0.1")
	base := "http://127.0.0.1:" + srv.port + "/"
	for _, tt := range []struct {
		name string
		req  abi.HTTPRequest
		want error
	}{
		{"Host header override", abi.HTTPRequest{Method: "GET", URL: base, Headers: map[string]string{"Host": "internal"}}, ErrBadRequest},
		{"lower-case host header", abi.HTTPRequest{Method: "GET", URL: base, Headers: map[string]string{"host": "internal"}}, ErrBadRequest},
		{"Connection header", abi.HTTPRequest{Method: "GET", URL: base, Headers: map[string]string{"Connection": "close"}}, ErrBadRequest},
		{"request smuggling via Transfer-Encoding", abi.HTTPRequest{Method: "POST", URL: base, Headers: map[string]string{"Transfer-Encoding": "chunked"}}, ErrBadRequest},
		{"request smuggling via Content-Length", abi.HTTPRequest{Method: "POST", URL: base, Headers: map[string]string{"content-length": "0"}}, ErrBadRequest},
		{"Proxy-Authorization", abi.HTTPRequest{Method: "GET", URL: base, Headers: map[string]string{"Proxy-Authorization": "x"}}, ErrBadRequest},
		{"Upgrade to websocket", abi.HTTPRequest{Method: "GET", URL: base, Headers: map[string]string{"Upgrade": "websocket"}}, ErrBadRequest},
		{"TE", abi.HTTPRequest{Method: "GET", URL: base, Headers: map[string]string{"TE": "trailers"}}, ErrBadRequest},
		{"Keep-Alive", abi.HTTPRequest{Method: "GET", URL: base, Headers: map[string]string{"Keep-Alive": "1"}}, ErrBadRequest},
		{"header injection via CRLF", abi.HTTPRequest{Method: "GET", URL: base, Headers: map[string]string{"X-A": "v\r\nHost: evil"}}, ErrBadRequest},
		{"header name with space", abi.HTTPRequest{Method: "GET", URL: base, Headers: map[string]string{"X A": "v"}}, ErrBadRequest},
		{"duplicate header by case", abi.HTTPRequest{Method: "GET", URL: base, Headers: map[string]string{"X-A": "1", "x-a": "2"}}, ErrBadRequest},
		{"CONNECT tunnel", abi.HTTPRequest{Method: "CONNECT", URL: base}, ErrBadRequest},
		{"TRACE", abi.HTTPRequest{Method: "TRACE", URL: base}, ErrBadRequest},
		{"lower-case method", abi.HTTPRequest{Method: "get", URL: base}, ErrBadRequest},
		{"userinfo", get("http://user:pw@127.0.0.1:" + srv.port + "/"), ErrBadRequest},
		{"userinfo hiding real host", get("http://127.0.0.1:" + srv.port + "@evil.example/"), ErrBadRequest},
		{"empty userinfo", get("http://@127.0.0.1:" + srv.port + "/"), ErrBadRequest},
		{"backslash authority confusion", get("http://evil.example\\@127.0.0.1:" + srv.port + "/"), ErrBadRequest},
		{"file scheme", get("file:///etc/passwd"), ErrBadRequest},
		{"gopher scheme", get("gopher://127.0.0.1:" + srv.port + "/"), ErrBadRequest},
		{"relative URL", get("/path"), ErrBadRequest},
		{"scheme-relative URL", get("//127.0.0.1/"), ErrBadRequest},
		{"opaque URL", get("http:127.0.0.1"), ErrBadRequest},
		{"no host", get("http:///path"), ErrBadRequest},
		{"space in URL", get("http://127.0.0.1:" + srv.port + "/a b"), ErrBadRequest},
		{"percent-encoded host", get("http://127%2e0%2e0%2e1:" + srv.port + "/"), ErrBadRequest},
		{"non-ASCII host", get("http://ünicode.example/"), ErrBadRequest},
		{"numeric host that is no address", get("http://1.2.3.4.5/"), ErrBadRequest},
		{"port zero", get("http://127.0.0.1:0/"), ErrBadRequest},
		{"empty port", get("http://127.0.0.1:/"), ErrBadRequest},
		{"zoned IPv6", get("http://[fe80::1%25lo]:" + srv.port + "/"), ErrAddressRefused},
		{"body over cap", abi.HTTPRequest{Method: "POST", URL: base, Body: make([]byte, DefaultMaxRequestBytes+1)}, ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Do(t.Context(), tt.req, list)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("server saw %d requests", n)
	}
}

func TestResponseOverCap(t *testing.T) {
	big := strings.Repeat("x", 2049)
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"declared length over cap", ok(big)},
		{"streamed body over cap", func(w http.ResponseWriter, _ *http.Request) {
			for range 4 {
				_, _ = io.WriteString(w, big[:512])
				w.(http.Flusher).Flush()
			}
			_, _ = io.WriteString(w, "y")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, "127.0.0.1", tt.handler)
			p, _ := NewAddressPolicy([]string{"127.0.0.1/32"})
			c := NewClient(Config{Policy: p, MaxResponseBytes: 2048})
			t.Cleanup(c.CloseIdleConnections)
			_, err := c.Do(t.Context(), get("http://127.0.0.1:"+srv.port+"/"), hosts(t, "127.0.0.1"))
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
		})
	}
}

func TestHeadOfLargeResourceIsNotTooLarge(t *testing.T) {
	srv := newServer(t, "127.0.0.1", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "1000000000")
	})
	c := newClient(t, "127.0.0.1/32")
	res, err := c.Do(t.Context(), abi.HTTPRequest{Method: "HEAD", URL: "http://127.0.0.1:" + srv.port + "/"}, hosts(t, "127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Response.Headers["Content-Length"] != "1000000000" || len(res.Response.Body) != 0 {
		t.Fatalf("HEAD answer = %v, %d body bytes", res.Response.Headers, len(res.Response.Body))
	}
}

func TestSlowServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	p, _ := NewAddressPolicy([]string{"127.0.0.1/32"})
	c := NewClient(Config{Policy: p, Timeout: 50 * time.Millisecond})
	t.Cleanup(c.CloseIdleConnections)
	_, err := c.Do(t.Context(), get("http://127.0.0.1:"+srv.port+"/"), hosts(t, "127.0.0.1"))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

func TestCallerCancellation(t *testing.T) {
	srv := newServer(t, "127.0.0.1", ok("x"))
	c := newClient(t, "127.0.0.1/32")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.Do(ctx, get("http://127.0.0.1:"+srv.port+"/"), hosts(t, "127.0.0.1"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestTLSVerificationOn(t *testing.T) {
	srv := httptest.NewUnstartedServer(ok("x"))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS() // self-signed, on 127.0.0.1
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	c := newClient(t, "127.0.0.1/32")
	_, err := c.Do(t.Context(), get(srv.URL+"/"), hosts(t, "https://127.0.0.1:"+u.Port()))
	if !errors.Is(err, ErrUpstream) {
		t.Fatalf("err = %v, want ErrUpstream for an untrusted certificate", err)
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want it to name the certificate", err)
	}
}

func TestNoProxyFromEnvironment(t *testing.T) {
	c := NewClient(Config{})
	if c.transport.Proxy != nil {
		t.Fatal("transport takes a proxy from the environment")
	}
	if c.transport.TLSClientConfig.InsecureSkipVerify {
		t.Fatal("TLS verification is off")
	}
}

func TestDialContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, tt := range []struct {
		name    string
		open    []string
		network string
		addr    string
		want    error
	}{
		{"loopback refused", nil, "tcp", "127.0.0.1:" + port, ErrAddressRefused},
		{"localhost refused without DNS", nil, "tcp", "localhost:" + port, ErrAddressRefused},
		{"obfuscated loopback refused", nil, "tcp", "0x7f000001:" + port, ErrAddressRefused},
		{"mapped loopback refused", nil, "tcp", "[::ffff:127.0.0.1]:" + port, ErrAddressRefused},
		{"other loopback address not opened", []string{"127.0.0.2/32"}, "tcp", "127.0.0.1:" + port, ErrAddressRefused},
		{"UDP refused", []string{"127.0.0.0/8"}, "udp", "127.0.0.1:" + port, ErrBadRequest},
		{"unix socket refused", []string{"127.0.0.0/8"}, "unix", "/run/docker.sock", ErrBadRequest},
		{"no port", []string{"127.0.0.0/8"}, "tcp", "127.0.0.1", ErrBadRequest},
		{"opened loopback connects", []string{"127.0.0.0/8"}, "tcp", "127.0.0.1:" + port, nil},
		{"opened localhost connects", []string{"127.0.0.0/8"}, "tcp", "localhost:" + port, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.open...)
			conn, err := c.DialContext(t.Context(), tt.network, tt.addr)
			if conn != nil {
				_ = conn.Close()
			}
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// control is the one place an address is judged; these are never dialled.
func TestControlJudgesConnectedAddress(t *testing.T) {
	c := NewClient(Config{})
	for _, tt := range []struct {
		name, network, addr string
		allow               bool
	}{
		{"rebound to loopback", "tcp4", "127.0.0.1:443", false},
		{"rebound to metadata", "tcp4", "169.254.169.254:80", false},
		{"rebound to mapped private", "tcp6", "[::ffff:10.0.0.1]:443", false},
		{"rebound to zoned link-local", "tcp6", "[fe80::1%lo]:443", false},
		{"unparsable address", "tcp4", "nonsense", false},
		{"public IPv4", "tcp4", "8.8.8.8:443", true},
		{"public IPv6", "tcp6", "[2606:4700:4700::1111]:443", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := c.control(tt.network, tt.addr, nil)
			if tt.allow != (err == nil) || !tt.allow && !errors.Is(err, ErrAddressRefused) {
				t.Fatalf("control(%s) = %v, want allowed=%v", tt.addr, err, tt.allow)
			}
		})
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"http://127.1:8080/a?b#c", "https://user@host/", "http://[::ffff:127.0.0.1]/",
		"http://0x7f000001/", "http:x", "//x", "http://a\\@b/", "http://example.org./%2e%2e/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := parseURL(raw)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrAddressRefused) {
				t.Fatalf("parseURL(%q): unclassified error %v", raw, err)
			}
			return
		}
		if u.User != nil || u.Fragment != "" || (u.Scheme != "http" && u.Scheme != "https") {
			t.Fatalf("parseURL(%q) = %s: userinfo, fragment or scheme survived", raw, u)
		}
		if h, err := CanonicalHost(u.Hostname()); err != nil || h != u.Hostname() {
			t.Fatalf("parseURL(%q) host %q is not canonical (%q, %v)", raw, u.Hostname(), h, err)
		}
		again, err := parseURL(u.String())
		if err != nil || again.String() != u.String() {
			t.Fatalf("not idempotent: %q -> %q -> %v, %v", raw, u, again, err)
		}
	})
}
