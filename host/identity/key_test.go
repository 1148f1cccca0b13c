package identity_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/airlock-dev/airlock/host/identity"
)

var keyTypes = []identity.KeyType{identity.KeyEd25519, identity.KeyP256}

// privateParts returns encodings of the key's private scalar/seed that must
// never appear in any printed or logged form of the key.
func privateParts(t *testing.T, k *identity.Key) []string {
	t.Helper()
	raw, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	var j struct{ D string }
	if err := json.Unmarshal(raw, &j); err != nil || j.D == "" {
		t.Fatalf("private JWK has no d: %v", err)
	}
	d, _ := b64.DecodeString(j.D)
	return []string{j.D, fmt.Sprintf("%x", d), fmt.Sprintf("%v", d), string(d)}
}

func TestKeyFileRoundTrip(t *testing.T) {
	for _, kt := range keyTypes {
		t.Run(kt.String(), func(t *testing.T) {
			k := mustKey(t, kt)
			dir := filepath.Join(t.TempDir(), "data", "keys")
			path := filepath.Join(dir, "host.jwk")
			if err := identity.SaveKeyFile(path, k); err != nil {
				t.Fatal(err)
			}
			for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != want {
					t.Fatalf("%s has mode %04o, want %04o", p, fi.Mode().Perm(), want)
				}
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Fatalf("temporary files left behind: %v", entries)
			}
			got, err := identity.LoadKeyFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.DID() != k.DID() || got.Type() != kt {
				t.Fatalf("loaded %v, want %v", got, k)
			}
			tok, err := got.Sign(identity.TypPolicy, []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if v, err := identity.Verify(tok, identity.TypPolicy); err != nil || v.Signer != k.DID() {
				t.Fatalf("loaded key signs as %v, %v", v, err)
			}
			// Overwriting is atomic and keeps the mode.
			if err := identity.SaveKeyFile(path, mustKey(t, kt)); err != nil {
				t.Fatal(err)
			}
			if _, err := identity.LoadKeyFile(path); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadKeyFileRefusesExposedFile(t *testing.T) {
	k := mustKey(t, identity.KeyEd25519)
	tests := []struct {
		name string
		mode os.FileMode
	}{
		{"world-readable 0644", 0o644},
		{"group-readable 0640", 0o640},
		{"group-writable 0620", 0o620},
		{"world-writable 0602", 0o602},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key.jwk")
			if err := identity.SaveKeyFile(path, k); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			if _, err := identity.LoadKeyFile(path); !errors.Is(err, identity.ErrKeyFilePermissions) {
				t.Fatalf("LoadKeyFile = %v, want ErrKeyFilePermissions", err)
			}
		})
	}
	t.Run("directory instead of file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := identity.LoadKeyFile(dir); !errors.Is(err, identity.ErrKey) {
			t.Fatalf("LoadKeyFile(dir) = %v, want ErrKey", err)
		}
	})
}

func TestKeyNeverPrintsPrivateMaterial(t *testing.T) {
	for _, kt := range keyTypes {
		t.Run(kt.String(), func(t *testing.T) {
			k := mustKey(t, kt)
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, nil))
			logger.Info("loaded", "key", k, "value", *k)
			slog.New(slog.NewTextHandler(&logs, nil)).Info("loaded", slog.Any("key", k))
			outputs := map[string]string{
				"%v":        fmt.Sprintf("%v", k),
				"%+v":       fmt.Sprintf("%+v", k),
				"%#v":       fmt.Sprintf("%#v", k),
				"%s":        fmt.Sprintf("%s", k),
				"%x":        fmt.Sprintf("%x", k),
				"%v value":  fmt.Sprintf("%v", *k),
				"%#v value": fmt.Sprintf("%#v", *k),
				"%+v value": fmt.Sprintf("%+v", *k),
				"in struct": fmt.Sprintf("%+v", struct{ K identity.Key }{*k}),
				"slog":      logs.String(),
			}
			for name, out := range outputs {
				if !strings.Contains(out, k.DID()) {
					t.Errorf("%s: %q does not name the DID", name, out)
				}
				for _, secret := range privateParts(t, k) {
					if strings.Contains(out, secret) {
						t.Errorf("%s leaks private material: %q", name, out)
					}
				}
			}
		})
	}
}

func TestPublicJWKIsReadByJWX(t *testing.T) {
	for _, kt := range keyTypes {
		t.Run(kt.String(), func(t *testing.T) {
			k := mustKey(t, kt)
			raw, err := k.PublicJWK()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(raw, []byte(`"d"`)) {
				t.Fatalf("public JWK carries d: %s", raw)
			}
			parsed, err := jwk.ParseKey(raw)
			if err != nil {
				t.Fatal(err)
			}
			if kid, _ := parsed.KeyID(); kid != k.KID() {
				t.Fatalf("kid %q, want %q", kid, k.KID())
			}
			var pub any
			if err := jwk.Export(parsed, &pub); err != nil {
				t.Fatal(err)
			}
			if ec, ok := pub.(ecdsa.PublicKey); ok {
				pub = &ec
			}
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
				t.Fatalf("jwx reads %T %v, want the key's public key", pub, pub)
			}
		})
	}
}

func TestParsePrivateIsStrict(t *testing.T) {
	k := mustKey(t, identity.KeyEd25519)
	other := mustKey(t, identity.KeyEd25519)
	p := mustKey(t, identity.KeyP256)
	member := func(k *identity.Key) map[string]any {
		raw, err := k.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	with := func(k *identity.Key, change func(m map[string]any)) []byte {
		m := member(k)
		change(m)
		return mustJSON(t, m)
	}
	otherM, pM := member(other), member(p)
	raw, _ := k.MarshalPrivate()
	tests := []struct {
		name string
		data []byte
	}{
		{"public key only", with(k, func(m map[string]any) { delete(m, "d") })},
		{"x of another key (mismatched pair)", with(k, func(m map[string]any) { m["x"] = otherM["x"] })},
		{"kid of another key", with(k, func(m map[string]any) { m["kid"] = otherM["kid"] })},
		{"unknown member", with(k, func(m map[string]any) { m["use"] = "sig" })},
		{"y on an OKP key", with(k, func(m map[string]any) { m["y"] = pM["y"] })},
		{"X25519 curve", with(k, func(m map[string]any) { m["crv"] = "X25519" })},
		{"RSA kty", with(k, func(m map[string]any) { m["kty"] = "RSA" })},
		{"P-256 y of another key", with(p, func(m map[string]any) { m["y"] = otherM["x"] })},
		{"P-256 d of zero", with(p, func(m map[string]any) { m["d"] = b64.EncodeToString(make([]byte, 32)) })},
		{"duplicate d member", append(raw[:len(raw)-1:len(raw)-1], []byte(`,"d":"`+otherM["d"].(string)+`"}`)...)},
		{"not JSON", []byte("-----BEGIN PRIVATE KEY-----")},
		{"trailing data", append(append([]byte{}, raw...), []byte("{}")...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := identity.ParsePrivate(tc.data); !errors.Is(err, identity.ErrKey) {
				t.Fatalf("ParsePrivate = %v, %v; want ErrKey", got, err)
			}
		})
	}
}

func TestKeyType(t *testing.T) {
	for _, kt := range keyTypes {
		got, err := identity.ParseKeyType(kt.String())
		if err != nil || got != kt {
			t.Errorf("ParseKeyType(%q) = %v, %v", kt.String(), got, err)
		}
	}
	if identity.KeyEd25519.String() != "ed25519" || identity.KeyP256.String() != "p256" {
		t.Fatal("KeyType names changed")
	}
	if _, err := identity.GenerateKey(identity.KeyType(7)); !errors.Is(err, identity.ErrKey) {
		t.Fatalf("GenerateKey(unknown) = %v", err)
	}
	if _, err := identity.ParseKeyType("rsa"); !errors.Is(err, identity.ErrKey) {
		t.Fatalf("ParseKeyType(rsa) = %v", err)
	}
}

func TestEd25519Accessor(t *testing.T) {
	ed := mustKey(t, identity.KeyEd25519)
	priv, ok := ed.Ed25519()
	if !ok || !priv.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(ed.Public()) {
		t.Fatal("Ed25519() does not return the key")
	}
	if _, ok := mustKey(t, identity.KeyP256).Ed25519(); ok {
		t.Fatal("P-256 key returned an Ed25519 key")
	}
}
