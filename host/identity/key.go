package identity

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// KeyType names the kind of a signing key.
type KeyType int

// The supported key types.
const (
	KeyEd25519 KeyType = iota
	KeyP256
)

// String returns "ed25519" or "p256".
func (t KeyType) String() string {
	switch t {
	case KeyEd25519:
		return "ed25519"
	case KeyP256:
		return "p256"
	default:
		return fmt.Sprintf("KeyType(%d)", int(t))
	}
}

// ParseKeyType is the inverse of [KeyType.String].
func ParseKeyType(s string) (KeyType, error) {
	switch s {
	case "ed25519":
		return KeyEd25519, nil
	case "p256":
		return KeyP256, nil
	default:
		return 0, fail(ErrKey, "unknown key type %s", short(s))
	}
}

// alg returns the one JWS algorithm a key type signs with.
func (t KeyType) alg() string {
	if t == KeyP256 {
		return AlgES256
	}
	return AlgEdDSA
}

// Key is a private signing key. It is not comparable with ==, and every way
// of printing or logging it shows only its DID.
type Key struct {
	_   [0]func() // not comparable
	typ KeyType
	ed  ed25519.PrivateKey
	ec  *ecdsa.PrivateKey
	pub crypto.PublicKey
	did string
}

// GenerateKey creates a new key from crypto/rand.
func GenerateKey(kt KeyType) (*Key, error) {
	switch kt {
	case KeyEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("identity: generate ed25519 key: %w", err)
		}
		return newEd25519Key(priv)
	case KeyP256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("identity: generate p256 key: %w", err)
		}
		return newP256Key(priv)
	default:
		return nil, fail(ErrKey, "unknown key type %d", int(kt))
	}
}

func newEd25519Key(priv ed25519.PrivateKey) (*Key, error) {
	pub, ok := priv.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fail(ErrKey, "ed25519 public key")
	}
	did, err := EncodeDID(pub)
	if err != nil {
		return nil, err
	}
	return &Key{typ: KeyEd25519, ed: priv, pub: pub, did: did}, nil
}

func newP256Key(priv *ecdsa.PrivateKey) (*Key, error) {
	did, err := EncodeDID(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	return &Key{typ: KeyP256, ec: priv, pub: &priv.PublicKey, did: did}, nil
}

// Type returns the key type.
func (k *Key) Type() KeyType { return k.typ }

// DID returns the key's did:key DID.
func (k *Key) DID() string { return k.did }

// KID returns the JWS kid of the key: "<did>#<method-specific id>".
func (k *Key) KID() string { return KIDFor(k.did) }

// Public returns an ed25519.PublicKey or a *ecdsa.PublicKey.
func (k *Key) Public() crypto.PublicKey {
	if k.typ == KeyEd25519 {
		return ed25519.PublicKey(bytes.Clone(k.pub.(ed25519.PublicKey)))
	}
	return k.pub
}

// Ed25519 returns the Ed25519 private key, for signing notes (audit
// checkpoints) with golang.org/x/mod/sumdb/note; false for other key types.
func (k *Key) Ed25519() (ed25519.PrivateKey, bool) {
	if k.typ != KeyEd25519 {
		return nil, false
	}
	return ed25519.PrivateKey(bytes.Clone(k.ed)), true
}

// String returns "identity.Key(<did>)"; never private material.
func (k Key) String() string { return "identity.Key(" + k.did + ")" }

// Format prints the same as String for every verb, %#v and %+v included.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue implements slog.LogValuer: a key logs as its DID.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.did) }

// jwkJSON is the JWK shape of our keys (RFC 7517, 7518, 8037).
type jwkJSON struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	D   string `json:"d,omitempty"`
	Kid string `json:"kid,omitempty"`
}

func (k *Key) jwk(withPrivate bool) (jwkJSON, error) {
	j := jwkJSON{Kid: k.KID()}
	switch k.typ {
	case KeyEd25519:
		j.Kty, j.Crv = "OKP", "Ed25519"
		j.X = b64.EncodeToString(k.pub.(ed25519.PublicKey))
		if withPrivate {
			j.D = b64.EncodeToString(k.ed.Seed())
		}
	case KeyP256:
		u, err := k.ec.PublicKey.Bytes()
		if err != nil {
			return j, fail(ErrKey, "p256 public key: %v", err)
		}
		j.Kty, j.Crv = "EC", "P-256"
		j.X = b64.EncodeToString(u[1:33])
		j.Y = b64.EncodeToString(u[33:])
		if withPrivate {
			d, err := k.ec.Bytes()
			if err != nil {
				return j, fail(ErrKey, "p256 private key: %v", err)
			}
			j.D = b64.EncodeToString(d)
		}
	default:
		return j, fail(ErrKey, "unknown key type")
	}
	return j, nil
}

// PublicJWK returns the public JWK JSON of the key, with its kid.
func (k *Key) PublicJWK() (json.RawMessage, error) {
	j, err := k.jwk(false)
	if err != nil {
		return nil, err
	}
	return json.Marshal(j)
}

// MarshalPrivate returns the private JWK JSON of the key: the key-file
// format. The result is secret; callers must not log it.
func (k *Key) MarshalPrivate() ([]byte, error) {
	j, err := k.jwk(true)
	if err != nil {
		return nil, err
	}
	return json.Marshal(j)
}

// ParsePrivate parses what [Key.MarshalPrivate] writes. It is strict:
// unknown or duplicate members, a public part that does not match the
// private one, or a kid that is not the key's own are refused.
func ParsePrivate(data []byte) (*Key, error) {
	members, err := strictObject(data)
	if err != nil {
		return nil, fail(ErrKey, "key JSON: %v", err)
	}
	var kty string
	if err := json.Unmarshal(members["kty"], &kty); err != nil {
		return nil, fail(ErrKey, "kty missing")
	}
	allowed := []string{"kty", "crv", "x", "d", "kid"}
	if kty == "EC" {
		allowed = append(allowed, "y")
	}
	for name := range members {
		if !contains(allowed, name) {
			return nil, fail(ErrKey, "unexpected member %s", short(name))
		}
	}
	var j jwkJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fail(ErrKey, "key JSON: %v", err)
	}
	d, err := decodeB64(j.D)
	if err != nil || len(d) == 0 {
		return nil, fail(ErrKey, "d missing or not base64url")
	}
	defer clear(d)
	x, err := decodeB64(j.X)
	if err != nil {
		return nil, fail(ErrKey, "x not base64url")
	}
	var key *Key
	switch {
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		if len(d) != ed25519.SeedSize {
			return nil, fail(ErrKey, "ed25519 seed of %d bytes", len(d))
		}
		key, err = newEd25519Key(ed25519.NewKeyFromSeed(d))
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(x, key.pub.(ed25519.PublicKey)) {
			return nil, fail(ErrKey, "x does not match d")
		}
	case j.Kty == "EC" && j.Crv == "P-256":
		y, err := decodeB64(j.Y)
		if err != nil {
			return nil, fail(ErrKey, "y not base64url")
		}
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err != nil {
			return nil, fail(ErrKey, "p256 private key: %v", err)
		}
		if key, err = newP256Key(priv); err != nil {
			return nil, err
		}
		u, err := priv.PublicKey.Bytes()
		if err != nil || !bytes.Equal(x, u[1:33]) || !bytes.Equal(y, u[33:]) {
			return nil, fail(ErrKey, "x, y do not match d")
		}
	default:
		return nil, fail(ErrKey, "unsupported kty/crv %s/%s", short(j.Kty), short(j.Crv))
	}
	if _, ok := members["kid"]; ok && j.Kid != key.KID() {
		return nil, fail(ErrKey, "kid is not the key's own")
	}
	return key, nil
}

// maxKeyFileBytes bounds a key file read.
const maxKeyFileBytes = 64 << 10

// SaveKeyFile writes the key's private JWK to path atomically (temporary
// file, fsync, rename, fsync of the directory) with mode 0600, creating the
// directory with mode 0700 if needed.
func SaveKeyFile(path string, k *Key) (err error) {
	data, err := k.MarshalPrivate()
	if err != nil {
		return err
	}
	defer clear(data)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("identity: key directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("identity: key file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("identity: key file: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("identity: key file: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("identity: key file: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("identity: key file: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("identity: key file: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		derr = d.Sync()
		_ = d.Close()
		if derr != nil {
			return fmt.Errorf("identity: key directory sync: %w", derr)
		}
	}
	return nil
}

// LoadKeyFile reads a key written by [SaveKeyFile]. It refuses a file that
// is not a regular file or that group or others may access
// ([ErrKeyFilePermissions]).
func LoadKeyFile(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identity: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("identity: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fail(ErrKey, "%s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity: %w: %s has mode %04o, want 0600", ErrKeyFilePermissions, path, fi.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("identity: key file: %w", err)
	}
	defer clear(data)
	if len(data) > maxKeyFileBytes {
		return nil, fail(ErrKey, "key file too large")
	}
	k, err := ParsePrivate(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return k, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// errNotB64 is returned by decodeB64 for bytes outside the base64url alphabet.
var errNotB64 = errors.New("not base64url")

// decodeB64 decodes unpadded base64url strictly: only the URL alphabet
// (encoding/base64 would silently skip CR and LF) and zero trailing bits.
func decodeB64(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if !isB64URL(s[i]) {
			return nil, errNotB64
		}
	}
	return b64.DecodeString(s)
}

func isB64URL(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
