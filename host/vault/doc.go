// Package vault is the host's credential vault (DESIGN §2 manifest
// "secrets", §3, §7, §9): operator-written secrets stored encrypted in the
// host's database (SQLite, or PostgreSQL shared by several nodes), read back only by the host to inject them into
// outgoing HTTP requests for bound hosts, and a [Scanner] that finds their
// values, also encoded, in bytes that leave the host.
//
// # Storage
//
// A secret is one row of vault_secrets, keyed by (realm, name). Every write
// draws a fresh 32-byte salt and derives the row's own AES-256-GCM key as
//
//	HKDF-SHA256(master, salt, info = "airlock/vault/v1\x00" + realm + "\x00" + name)
//
// and seals the value with a fresh 96-bit nonce and the additional data
// realm + "\x00" + name. The row records the [MasterKey.ID] it was sealed
// under. A small table vault_master records the one master key id that every
// row is under, so that a rotation is visible to every process sharing the
// file even when the vault is empty.
//
// # Master key
//
// [LoadMasterKey] takes the 32-byte master key from AIRLOCK_MASTER_KEY
// (standard base64), else from the file named by AIRLOCK_MASTER_KEY_FILE,
// else from DATA/master.key, which it creates (mode 0600, written to a
// temporary file, fsynced and hard-linked into place, so two processes
// starting together agree on one key). A key file holds the standard base64
// of the key and a newline (`head -c32 /dev/urandom | base64`).
//
// [RotateDataDir] re-encrypts every row under a new master key in one
// transaction. It writes the new key to master.key.new (fsynced, with its
// directory) before the commit and renames it over master.key after, all
// while holding the database's write lock, so every file change happens while
// no other rotation runs. A crash between commit and rename leaves
// master.key.new behind; the next [LoadMasterKey], [OpenDataDir] or rotation
// takes whichever of the two keys vault_master names, finishes the rename if
// the commit happened and removes a stale master.key.new if it did not. A
// vault opened with [OpenDataDir] also picks up a rotation made by another
// process while it runs.
//
// # Several nodes
//
// On a PostgreSQL store every node must hold the same master key: the same
// AIRLOCK_MASTER_KEY or AIRLOCK_MASTER_KEY_FILE, or a copy of the first
// node's DATA/master.key made before the others start. A node with another
// key refuses to open a vault that holds secrets (ErrCrypto). Writes and
// rotations on every node serialise on one advisory lock (standing for
// SQLite's write lock). After a rotation on one node (`airlock vault rotate
// --data DIR --store URL`), the others fail closed with ErrCrypto until they
// are given the new key file, which they then pick up without a restart.
//
// # Security
//
// Values are write-only: nothing in this package returns a value except
// [Secret.Expose], and [Secret] and [MasterKey] print as "[REDACTED]" through
// fmt (every verb), slog, encoding/json and encoding/text; they hold their
// bytes behind a pointer so that even a struct printed field by field shows
// an address, never the bytes. Neither type is comparable with ==. Errors
// name the realm, the secret name and key ids (SHA-256 fingerprints), never a
// value or key.
//
// A row copied to another realm or name, a changed salt, nonce, ciphertext or
// key id, and a wrong master key all fail to decrypt with [ErrCrypto]; the
// vault never falls back to returning anything else. A master key file that
// group or others may access is refused.
//
// [Scanner] is a best-effort leak detector: it finds a value raw, in base64
// (both alphabets, padded or not, at any byte offset of a longer blob), in
// hex (any case), percent-encoded, JSON-escaped, and with separators inserted.
// A tool that encrypts or otherwise transforms a value before writing it out
// is not caught; that is why values never enter the sandbox at all.
package vault

import "errors"

// Errors returned by this package, always wrapped as "vault: …". Test with
// errors.Is.
var (
	// ErrNotFound: no secret of that name in that realm.
	ErrNotFound = errors.New("secret not found")
	// ErrInvalid: a bad realm or secret name, a value too short or too long,
	// a zero or malformed master key, a key file with loose permissions, or
	// a rotation that cannot be done from here.
	ErrInvalid = errors.New("invalid argument")
	// ErrCrypto: a row that does not decrypt (tampered, moved to another
	// realm or name, or sealed under another master key), or a master key
	// that is not the one the vault's rows are under.
	ErrCrypto = errors.New("cannot decrypt")
)
