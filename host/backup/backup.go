// Package backup takes a consistent, signed snapshot of a host's data
// directory while the host runs, and restores one into an empty directory
// (issue 4, item 4).
//
// A backup is a tar archive of regular files at fixed names:
//
//	host.key              the host's identity key
//	master.key            the vault master key (when the data dir holds one)
//	airlock.db            the SQLite database, a point-in-time copy (VACUUM INTO)
//	memory/<hex>.log      each agent memory log
//	manifest.jws          last: a JWS (typ airlock-backup+jwt) by the host key
//	                      over the [Manifest], naming every file above with its
//	                      size and SHA-256
//
// The compilation cache (DATA/cache) is not backed up; the host rebuilds it.
//
// # Consistency
//
// The database copy is one SQLite read transaction (VACUUM INTO through a
// separate read-only connection), so it holds exactly the transactions
// committed before it began: every audit entry, replay jti, revocation,
// plugin and secret acknowledged by then, and none half-written. The master
// key is read before and after that copy, and the copy is retried when the
// key changed or a rotation was in flight (master.key.new), so the vault rows
// in the copy always match the master key beside them. Memory logs are
// append-only files whose every record is fsync'd before it is acknowledged;
// each is copied up to the length it had when opened, so the copy holds every
// record acknowledged before the snapshot started and at most one torn tail
// record, which the memory store cuts away on load exactly as after a crash.
// Memory and database are therefore each consistent, but not with each other
// to the instant: a memory write acknowledged during the snapshot may be
// missing from the copy.
//
// # Security
//
// A backup holds the host's private key and master key: anyone holding the
// file is the host. Keep it as secret as the data dir.
//
// [Restore] trusts nothing in the archive until it has checked it: it refuses
// any entry that is not a regular file at one of the names above (absolute
// paths, "..", links, devices, directories and duplicates included), writes
// every entry into a fresh private staging directory (0700, files 0600,
// O_EXCL) beside the target, then verifies the manifest signature, that the
// signer is the DID of the host.key inside the archive and is accepted by the
// caller's trust function, and that the set of files, their sizes and their
// SHA-256 hashes are exactly those the manifest names. Only then is the
// staging directory renamed onto the target, which must be absent or empty,
// so a refused backup leaves nothing behind. Without a pinned host DID the
// signature only proves the archive is internally consistent (anyone can make
// such an archive with a key of their own); pin the DID to prove it is your
// host's.
package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/vault"
)

// Typ is the JWS typ of a backup manifest.
const Typ = "airlock-backup+jwt"

// File names inside a backup (and inside a data directory).
const (
	ManifestName = "manifest.jws"
	DatabaseName = "airlock.db"
	HostKeyName  = "host.key"
	MasterName   = vault.KeyFile
	MemoryDir    = "memory"
)

// ManifestVersion is the version of the manifest format this package writes.
const ManifestVersion = 1

// MaxManifestBytes bounds the manifest entry a restore will read.
const MaxManifestBytes = 1 << 20

// snapshotAttempts bounds the retries when the master key changes while the
// database is copied.
const snapshotAttempts = 5

var (
	// ErrTampered reports a backup whose manifest signature, signer, file
	// set, sizes or hashes do not check out.
	ErrTampered = errors.New("backup tampered or corrupt")
	// ErrUntrusted reports a correctly signed backup whose signer the caller
	// does not trust.
	ErrUntrusted = errors.New("backup signer not trusted")
	// ErrUnsafeEntry reports a tar entry that is not a regular file at an
	// expected name (path traversal, link, device, duplicate, unknown name).
	ErrUnsafeEntry = errors.New("unsafe backup entry")
	// ErrNotEmpty reports a restore target that already holds files.
	ErrNotEmpty = errors.New("restore target is not empty")
	// ErrInvalid reports a data directory or argument that cannot be backed up.
	ErrInvalid = errors.New("invalid argument")
)

// File describes one file of a backup.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // lowercase hex
}

// Manifest is the signed payload of manifest.jws.
type Manifest struct {
	Version int       `json:"version"`
	Host    string    `json:"host"` // DID of host.key, the signer
	Created time.Time `json:"created"`
	Files   []File    `json:"files"`
}

// memoryLog matches the name of an agent memory log (hex SHA-256 + .log).
var memoryLog = regexp.MustCompile(`^[0-9a-f]{64}\.log$`)

// validName reports whether name is a file a backup may hold (the manifest
// aside). Nothing else, so no name can leave the target directory.
func validName(name string) bool {
	switch name {
	case DatabaseName, HostKeyName, MasterName:
		return true
	}
	dir, base := filepath.Split(name)
	return dir == MemoryDir+"/" && memoryLog.MatchString(base)
}

// Snapshot writes a signed backup of the data directory dataDir to w. It is
// safe while a host serves from dataDir (see the package doc for what the
// copy guarantees). signer must be the host key of dataDir: a backup signed
// by another key would be refused by [Restore].
func Snapshot(ctx context.Context, dataDir string, w io.Writer, signer *identity.Key) error {
	if signer == nil {
		return fmt.Errorf("backup: %w: no signing key", ErrInvalid)
	}
	root, err := os.OpenRoot(dataDir)
	if err != nil {
		return fmt.Errorf("backup: %w: data dir: %v", ErrInvalid, err)
	}
	defer root.Close()

	hostKey, err := readSmall(root, HostKeyName)
	if err != nil {
		return fmt.Errorf("backup: %w: %v", ErrInvalid, err)
	}
	k, err := identity.ParsePrivate(hostKey)
	if err != nil {
		return fmt.Errorf("backup: %w: host key: %v", ErrInvalid, err)
	}
	if k.DID() != signer.DID() {
		return fmt.Errorf("backup: %w: signer %s is not the host key %s of the data dir", ErrInvalid, signer.DID(), k.DID())
	}

	stage, err := os.MkdirTemp(dataDir, ".backup-")
	if err != nil {
		return fmt.Errorf("backup: staging: %w", err)
	}
	defer os.RemoveAll(stage)

	master, err := copyDatabase(ctx, root, dataDir, filepath.Join(stage, DatabaseName))
	if err != nil {
		return err
	}
	files := []staged{{name: HostKeyName, data: hostKey}}
	if master != nil {
		files = append(files, staged{name: MasterName, data: master})
	}
	files = append(files, staged{name: DatabaseName, path: filepath.Join(stage, DatabaseName)})
	logs, err := copyMemory(ctx, root, stage)
	if err != nil {
		return err
	}
	files = append(files, logs...)

	m := Manifest{Version: ManifestVersion, Host: signer.DID(), Created: time.Now().UTC().Truncate(time.Second)}
	tw := tar.NewWriter(w)
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		entry, err := f.write(tw, m.Created)
		if err != nil {
			return fmt.Errorf("backup: write %s: %w", f.name, err)
		}
		m.Files = append(m.Files, entry)
	}
	tok, err := signer.SignJSON(Typ, m)
	if err != nil {
		return fmt.Errorf("backup: sign manifest: %w", err)
	}
	if err := writeEntry(tw, ManifestName, m.Created, []byte(tok)); err != nil {
		return fmt.Errorf("backup: write manifest: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// staged is a file to put in the archive: small bytes in memory, or a
// private staged copy on disk.
type staged struct {
	name string
	data []byte
	path string
}

func (f staged) write(tw *tar.Writer, at time.Time) (File, error) {
	if f.path == "" {
		sum := sha256.Sum256(f.data)
		return File{Name: f.name, Size: int64(len(f.data)), SHA256: hex.EncodeToString(sum[:])}, writeEntry(tw, f.name, at, f.data)
	}
	src, err := os.Open(f.path)
	if err != nil {
		return File{}, err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return File{}, err
	}
	if err := tw.WriteHeader(header(f.name, at, fi.Size())); err != nil {
		return File{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, h), src)
	if err != nil {
		return File{}, err
	}
	if n != fi.Size() {
		return File{}, fmt.Errorf("staged copy changed size")
	}
	return File{Name: f.name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func header(name string, at time.Time, size int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, ModTime: at, Format: tar.FormatPAX}
}

func writeEntry(tw *tar.Writer, name string, at time.Time, data []byte) error {
	if err := tw.WriteHeader(header(name, at, int64(len(data)))); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// readSmall reads a key-sized regular file inside root. A missing file is
// reported with os.ErrNotExist.
func readSmall(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxManifestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxManifestBytes {
		return nil, fmt.Errorf("%s is too large", name)
	}
	return data, nil
}

// readMaster reads master.key, nil when there is none (the master key then
// comes from the environment), and reports a rotation in flight.
func readMaster(root *os.Root) (key []byte, rotating bool, err error) {
	key, err = readSmall(root, MasterName)
	if errors.Is(err, os.ErrNotExist) {
		key, err = nil, nil
	}
	if err != nil {
		return nil, false, err
	}
	_, serr := root.Lstat(MasterName + ".new")
	return key, serr == nil, nil
}

// copyDatabase copies the database into dst in one read transaction and
// returns the master key that matches it.
func copyDatabase(ctx context.Context, root *os.Root, dataDir, dst string) ([]byte, error) {
	if _, err := root.Lstat(DatabaseName); err != nil {
		return nil, fmt.Errorf("backup: %w: database: %v", ErrInvalid, err)
	}
	for range snapshotAttempts {
		before, rotBefore, err := readMaster(root)
		if err != nil {
			return nil, fmt.Errorf("backup: master key: %w", err)
		}
		if !rotBefore {
			_ = os.Remove(dst)
			if err := vacuumInto(ctx, filepath.Join(dataDir, DatabaseName), dst); err != nil {
				return nil, err
			}
			after, rotAfter, err := readMaster(root)
			if err != nil {
				return nil, fmt.Errorf("backup: master key: %w", err)
			}
			if !rotAfter && bytes.Equal(before, after) {
				return before, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("backup: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("backup: the master key kept changing (a rotation in flight or interrupted; start the host once to settle it)")
}

// copyMemory copies every memory log into stage/memory.
func copyMemory(ctx context.Context, root *os.Root, stage string) ([]staged, error) {
	dir, err := root.Open(MemoryDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backup: memory: %w", err)
	}
	entries, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return nil, fmt.Errorf("backup: memory: %w", err)
	}
	if err := os.Mkdir(filepath.Join(stage, MemoryDir), 0o700); err != nil {
		return nil, fmt.Errorf("backup: staging: %w", err)
	}
	var out []staged
	for _, e := range entries {
		if !e.Type().IsRegular() || !memoryLog.MatchString(e.Name()) {
			continue // temporary compaction files and anything foreign
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		name := MemoryDir + "/" + e.Name()
		dst := filepath.Join(stage, MemoryDir, e.Name())
		if err := copyPrefix(root, name, dst); err != nil {
			return nil, fmt.Errorf("backup: memory log %s: %w", e.Name(), err)
		}
		out = append(out, staged{name: name, path: dst})
	}
	return out, nil
}

// copyPrefix copies the first bytes of an append-only file, up to the length
// it had when opened. A compaction that renames a new log over it meanwhile
// does not matter: the open descriptor keeps reading the old, complete file.
func copyPrefix(root *os.Root, name, dst string) error {
	src, err := root.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.LimitReader(src, fi.Size())); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// decodeManifest parses a manifest payload strictly.
func decodeManifest(payload []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("manifest version %d, want %d", m.Version, ManifestVersion)
	}
	return &m, nil
}
