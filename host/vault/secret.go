package vault

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
)

// redacted is what a Secret or MasterKey prints as, wherever it is printed.
const redacted = "[REDACTED]"

// Secret holds a secret value. The zero Secret holds no value.
//
// It prints as "[REDACTED]" through fmt (all verbs), slog, encoding/json and
// encoding/text. It is not comparable: compare Expose() results with
// crypto/subtle if you must.
type Secret struct {
	_ [0]func() // not comparable
	// v is a pointer so that a Secret printed as a field of a struct that
	// fmt walks by reflection (an unexported field, where methods cannot be
	// called) shows an address, not the bytes.
	v *secretValue
}

type secretValue struct{ b []byte }

// NewSecret returns a Secret holding a copy of value.
func NewSecret(value []byte) Secret {
	return Secret{v: &secretValue{b: clone(value)}}
}

// Expose returns a copy of the value. It is the only way to read it: call it
// at the moment the value is needed and drop the result.
func (s Secret) Expose() []byte {
	if s.v == nil {
		return nil
	}
	return clone(s.v.b)
}

// Len returns the length of the value in bytes.
func (s Secret) Len() int {
	if s.v == nil {
		return 0
	}
	return len(s.v.b)
}

// bytes returns the value without copying, for this package only.
func (s Secret) bytes() []byte {
	if s.v == nil {
		return nil
	}
	return s.v.b
}

// String returns "[REDACTED]".
func (Secret) String() string { return redacted }

// GoString returns "[REDACTED]".
func (Secret) GoString() string { return redacted }

// Format prints "[REDACTED]" for every verb and flag.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue makes slog print "[REDACTED]".
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON returns the JSON string "[REDACTED]".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[REDACTED]".
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MasterKeySize is the size of a master key in bytes.
const MasterKeySize = 32

// MasterKey is the 32-byte key that every secret's key is derived from. The
// zero MasterKey is invalid. It prints as "[REDACTED]" like [Secret] and is
// not comparable; compare ID() results.
type MasterKey struct {
	_ [0]func() // not comparable
	k *[MasterKeySize]byte
}

// NewMasterKey returns a fresh random master key.
func NewMasterKey() (MasterKey, error) {
	var k [MasterKeySize]byte
	if _, err := rand.Read(k[:]); err != nil {
		return MasterKey{}, fmt.Errorf("vault: master key: %w", err)
	}
	return MasterKey{k: &k}, nil
}

// masterKeyFrom returns a MasterKey holding a copy of b, which must be
// MasterKeySize bytes.
func masterKeyFrom(b []byte) (MasterKey, error) {
	if len(b) != MasterKeySize {
		return MasterKey{}, fmt.Errorf("vault: %w: master key is %d bytes, want %d", ErrInvalid, len(b), MasterKeySize)
	}
	var k [MasterKeySize]byte
	copy(k[:], b)
	return MasterKey{k: &k}, nil
}

func (k MasterKey) valid() bool { return k.k != nil }

// ID returns the key's fingerprint: the lowercase hex of the first 8 bytes
// of SHA-256 of the key ("" for the zero MasterKey). Every row records the
// ID of the key it was sealed under.
func (k MasterKey) ID() string {
	if k.k == nil {
		return ""
	}
	sum := sha256.Sum256(k.k[:])
	return hex.EncodeToString(sum[:8])
}

// String returns "[REDACTED]".
func (MasterKey) String() string { return redacted }

// GoString returns "[REDACTED]".
func (MasterKey) GoString() string { return redacted }

// Format prints "[REDACTED]" for every verb and flag.
func (MasterKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue makes slog print "[REDACTED]".
func (MasterKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON returns the JSON string "[REDACTED]".
func (MasterKey) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[REDACTED]".
func (MasterKey) MarshalText() ([]byte, error) { return []byte(redacted), nil }

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
