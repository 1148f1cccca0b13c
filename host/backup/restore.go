package backup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/airlock-dev/airlock/host/identity"
)

// Restore checks the backup read from r and, only if every check passes,
// installs it as the data directory dataDir, which must be absent or an
// empty directory. trust decides whether the signer DID (which is always the
// DID of the host.key inside the backup) is acceptable; nil accepts the
// backup's own host key, which proves integrity but not origin (see the
// package doc). Files are written 0600, directories 0700, and the result
// appears at dataDir in one rename.
func Restore(ctx context.Context, r io.Reader, dataDir string, trust func(did string) bool) (err error) {
	target, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("backup: %w: target: %v", ErrInvalid, err)
	}
	if err := checkEmpty(target); err != nil {
		return err
	}
	parent := filepath.Dir(target)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("backup: target: %w", err)
	}
	stage, err := os.MkdirTemp(parent, "."+filepath.Base(target)+".restore-")
	if err != nil {
		return fmt.Errorf("backup: staging: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(stage)
		}
	}()

	got, token, err := extract(ctx, r, stage)
	if err != nil {
		return err
	}
	if err := check(stage, got, token, trust); err != nil {
		return err
	}
	// Durable before it becomes visible; only checked files are worth an fsync.
	for name := range got {
		if err := syncFile(filepath.Join(stage, filepath.FromSlash(name))); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	if err := syncDir(filepath.Join(stage, MemoryDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(stage); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// Re-check just before the swap: the target may have been filled meanwhile.
	if err := checkEmpty(target); err != nil {
		return err
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup: %w: %v", ErrNotEmpty, err)
	}
	if err := os.Rename(stage, target); err != nil {
		return fmt.Errorf("backup: install: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// checkEmpty accepts a missing path or an empty directory.
func checkEmpty(target string) error {
	fi, err := os.Lstat(target)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup: target: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("backup: %w: %s is not a directory", ErrNotEmpty, target)
	}
	entries, err := os.ReadDir(target)
	if err != nil {
		return fmt.Errorf("backup: target: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("backup: %w: %s", ErrNotEmpty, target)
	}
	return nil
}

// extract writes every file entry of the archive into stage, refusing any
// entry that is not a regular file at an expected name, and returns what it
// wrote and the manifest token.
func extract(ctx context.Context, r io.Reader, stage string) (map[string]File, string, error) {
	got := make(map[string]File)
	token := ""
	seenManifest := false
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return nil, "", fmt.Errorf("backup: %w", err)
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("backup: %w: %v", ErrTampered, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, "", fmt.Errorf("backup: %w: %q is not a regular file", ErrUnsafeEntry, hdr.Name)
		}
		if hdr.Size < 0 {
			return nil, "", fmt.Errorf("backup: %w: %q has a negative size", ErrUnsafeEntry, hdr.Name)
		}
		if hdr.Name == ManifestName {
			if seenManifest {
				return nil, "", fmt.Errorf("backup: %w: duplicate %s", ErrUnsafeEntry, ManifestName)
			}
			seenManifest = true
			if hdr.Size > MaxManifestBytes {
				return nil, "", fmt.Errorf("backup: %w: manifest too large", ErrTampered)
			}
			b, err := io.ReadAll(io.LimitReader(tr, MaxManifestBytes))
			if err != nil {
				return nil, "", fmt.Errorf("backup: %w: manifest: %v", ErrTampered, err)
			}
			token = string(b)
			continue
		}
		if !validName(hdr.Name) {
			return nil, "", fmt.Errorf("backup: %w: unexpected name %q", ErrUnsafeEntry, hdr.Name)
		}
		if _, dup := got[hdr.Name]; dup {
			return nil, "", fmt.Errorf("backup: %w: duplicate %q", ErrUnsafeEntry, hdr.Name)
		}
		f, err := writeFile(stage, hdr.Name, tr)
		if err != nil {
			return nil, "", err
		}
		got[hdr.Name] = f
	}
	if !seenManifest {
		return nil, "", fmt.Errorf("backup: %w: no %s", ErrTampered, ManifestName)
	}
	return got, token, nil
}

// writeFile writes one entry (whose name validName accepted) to stage with
// mode 0600, hashing it on the way.
func writeFile(stage, name string, r io.Reader) (File, error) {
	path := filepath.Join(stage, filepath.FromSlash(name))
	if dir := filepath.Dir(path); dir != stage {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return File{}, fmt.Errorf("backup: staging: %w", err)
		}
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return File{}, fmt.Errorf("backup: staging: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, fmt.Errorf("backup: %w: %s: %v", ErrTampered, name, err)
	}
	return File{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// check verifies the manifest token against the staged files.
func check(stage string, got map[string]File, token string, trust func(string) bool) error {
	v, err := identity.Verify(token, Typ)
	if err != nil {
		return fmt.Errorf("backup: %w: manifest signature: %v", ErrTampered, err)
	}
	m, err := decodeManifest(v.Payload)
	if err != nil {
		return fmt.Errorf("backup: %w: manifest: %v", ErrTampered, err)
	}
	if _, ok := got[HostKeyName]; !ok {
		return fmt.Errorf("backup: %w: no %s", ErrTampered, HostKeyName)
	}
	if _, ok := got[DatabaseName]; !ok {
		return fmt.Errorf("backup: %w: no %s", ErrTampered, DatabaseName)
	}
	k, err := identity.LoadKeyFile(filepath.Join(stage, HostKeyName))
	if err != nil {
		return fmt.Errorf("backup: %w: host key: %v", ErrTampered, err)
	}
	if v.Signer != k.DID() || m.Host != k.DID() {
		return fmt.Errorf("backup: %w: manifest signed by %s, not by the backup's host key %s", ErrTampered, v.Signer, k.DID())
	}
	if trust != nil && !trust(v.Signer) {
		return fmt.Errorf("backup: %w: %s", ErrUntrusted, v.Signer)
	}
	if len(m.Files) != len(got) {
		return fmt.Errorf("backup: %w: manifest names %d files, archive holds %d", ErrTampered, len(m.Files), len(got))
	}
	named := make(map[string]bool, len(m.Files))
	for _, want := range m.Files {
		if named[want.Name] {
			return fmt.Errorf("backup: %w: manifest names %q twice", ErrTampered, want.Name)
		}
		named[want.Name] = true
		have, ok := got[want.Name]
		if !ok {
			return fmt.Errorf("backup: %w: %q missing", ErrTampered, want.Name)
		}
		if have != want {
			return fmt.Errorf("backup: %w: %q does not match the manifest", ErrTampered, want.Name)
		}
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
