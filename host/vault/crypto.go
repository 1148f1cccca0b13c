package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

const (
	saltSize  = 32
	nonceSize = 12 // the GCM standard nonce
	// infoPrefix versions the key derivation; a new scheme gets a new prefix.
	infoPrefix = "airlock/vault/v1\x00"
)

// sealed is the encrypted form of a value as a row stores it.
type sealed struct {
	keyID             string
	salt, nonce, data []byte
}

// rowAEAD returns the AES-256-GCM instance of one row: its key is derived
// from the master key, the row's salt, and its realm and name.
func rowAEAD(master MasterKey, salt []byte, realm, name string) (cipher.AEAD, error) {
	if !master.valid() {
		return nil, fmt.Errorf("vault: %w: zero master key", ErrInvalid)
	}
	key, err := hkdf.Key(sha256.New, master.k[:], salt, infoPrefix+realm+"\x00"+name, 32)
	if err != nil {
		return nil, fmt.Errorf("vault: %w: derive key: %v", ErrCrypto, err)
	}
	block, err := aes.NewCipher(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("vault: %w: %v", ErrCrypto, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("vault: %w: %v", ErrCrypto, err)
	}
	return aead, nil
}

func additionalData(realm, name string) []byte { return []byte(realm + "\x00" + name) }

// seal encrypts value for (realm, name) under master with a fresh salt and
// nonce.
func seal(master MasterKey, realm, name string, value []byte) (sealed, error) {
	salt := make([]byte, saltSize)
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(salt); err != nil {
		return sealed{}, fmt.Errorf("vault: %w: %v", ErrCrypto, err)
	}
	if _, err := rand.Read(nonce); err != nil {
		return sealed{}, fmt.Errorf("vault: %w: %v", ErrCrypto, err)
	}
	aead, err := rowAEAD(master, salt, realm, name)
	if err != nil {
		return sealed{}, err
	}
	return sealed{
		keyID: master.ID(),
		salt:  salt,
		nonce: nonce,
		data:  aead.Seal(nil, nonce, value, additionalData(realm, name)),
	}, nil
}

// unseal decrypts the row of (realm, name). Anything wrong with it is
// ErrCrypto; the error never says more than which secret failed.
func unseal(master MasterKey, realm, name string, s sealed) ([]byte, error) {
	fail := fmt.Errorf("vault: secret %s in realm %s: %w", name, realm, ErrCrypto)
	if s.keyID != master.ID() || len(s.salt) != saltSize || len(s.nonce) != nonceSize {
		return nil, fail
	}
	aead, err := rowAEAD(master, s.salt, realm, name)
	if err != nil {
		return nil, err
	}
	value, err := aead.Open(nil, s.nonce, s.data, additionalData(realm, name))
	if err != nil {
		return nil, fail
	}
	return value, nil
}
