package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/identity"
)

func key(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fakeHost answers every request with body, signing a receipt with signer
// over the request's proof jti, then lets tamper change what is sent.
func fakeHost(t *testing.T, signer *identity.Key, body string, tamper func(w http.ResponseWriter, rcpt *identity.Receipt) string) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jti := ""
		if auth := r.Header.Get("Authorization"); len(auth) > len("Airlock ") {
			var claims struct {
				Jti string `json:"jti"`
			}
			if _, payload, err := identity.ParseUnverified(auth[len("Airlock "):]); err == nil {
				_ = json.Unmarshal(payload, &claims)
				jti = claims.Jti
			}
		}
		rc := &identity.Receipt{Iss: signer.DID(), Iat: time.Now().Unix(), Req: jti, Status: 200, Bh: identity.BodyHash([]byte(body)), Seq: 1}
		out := body
		if tamper != nil {
			out = tamper(w, rc)
		}
		tok, err := identity.SignReceipt(signer, *rc)
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Airlock-Receipt", tok)
		w.WriteHeader(200)
		_, _ = w.Write([]byte(out))
	}))
}

func TestReceiptAttacks(t *testing.T) {
	host, impostor, agent := key(t), key(t), key(t)
	const body = `{"id":"x","output":{"ok":true},"flags":[]}`
	for _, tc := range []struct {
		name   string
		signer *identity.Key
		tamper func(http.ResponseWriter, *identity.Receipt) string
		ok     bool
	}{
		{"genuine answer", host, nil, true},
		{"answer signed by another key than the pinned host", impostor, nil, false},
		{"body changed after signing", host, func(http.ResponseWriter, *identity.Receipt) string {
			return `{"id":"x","output":{"ok":false},"flags":[]}`
		}, false},
		{"receipt for another request", host, func(_ http.ResponseWriter, r *identity.Receipt) string { r.Req = "someone-else"; return body }, false},
		{"receipt claims another status", host, func(_ http.ResponseWriter, r *identity.Receipt) string { r.Status = 403; return body }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeHost(t, tc.signer, body, tc.tamper)
			defer srv.Close()
			c, err := New(srv.URL, agent, Options{HostDID: host.DID()})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = c.Invoke(context.Background(), "echo/echo", []byte(`{}`), "grant")
			if tc.ok && err != nil {
				t.Fatalf("genuine answer refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrReceipt) {
				t.Fatalf("got %v, want ErrReceipt", err)
			}
		})
	}
}

func TestNewRefusesBadHostURL(t *testing.T) {
	for _, u := range []string{"", "ftp://h", "127.0.0.1:8080", "http://"} {
		if _, err := New(u, key(t), Options{}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}
