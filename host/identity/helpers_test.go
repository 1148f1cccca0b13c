package identity_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/identity"
)

var b64 = base64.RawURLEncoding

// memReplay is an in-memory identity.ReplayStore for tests.
type memReplay struct {
	mu   sync.Mutex
	seen map[string]time.Time
	err  error // returned by every Use when set
}

func newMemReplay() *memReplay { return &memReplay{seen: map[string]time.Time{}} }

func (m *memReplay) Use(_ context.Context, jti string, exp time.Time) (bool, error) {
	if m.err != nil {
		return false, m.err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.seen[jti]; ok {
		return false, nil
	}
	m.seen[jti] = exp
	return true, nil
}

func mustKey(t testing.TB, kt identity.KeyType) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(kt)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forge assembles a compact JWS from raw header and payload bytes, signing
// the signing input with sign (nil: empty signature).
func forge(header, payload []byte, sign func(signingInput []byte) []byte) string {
	in := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(in))
	}
	return in + "." + b64.EncodeToString(sig)
}
