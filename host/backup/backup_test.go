package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/host/vault"
)

const memName = "memory/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log"

// host is a data directory with a live store, audit log and vault, as a
// running host holds them.
type host struct {
	dir   string
	key   *identity.Key
	db    *store.DB
	audit *audit.Log
}

func origin(k *identity.Key) string { return "airlock/" + k.DID() }

func newHost(t testing.TB) *host {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	k, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.SaveKeyFile(filepath.Join(dir, HostKeyName), k); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(dir, DatabaseName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	priv, _ := k.Ed25519()
	lg, err := audit.Open(ctx, db.SQLDB(), origin(k), priv)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.OpenDataDir(ctx, db.SQLDB(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Put(ctx, "default", "GITHUB_TOKEN", []byte("ghp_backup_round_trip")); err != nil {
		t.Fatal(err)
	}
	if err := db.Revoke(ctx, store.Revocation{Realm: "default", Kind: store.KindGrant, Subject: "grant-1", By: "did:key:zOperator", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, MemoryDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, memName), []byte("sealed memory records"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &host{dir: dir, key: k, db: db, audit: lg}
	h.append(t, 5)
	if _, err := lg.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *host) append(t testing.TB, n int) {
	t.Helper()
	for i := range n {
		if _, err := h.audit.Append(context.Background(), audit.Entry{Time: time.Now().UTC(), Realm: "default",
			Actor: "did:key:zAgent", Action: "invoke", Tool: "echo/echo", Decision: "allow",
			Request: fmt.Sprintf("jti-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func (h *host) snapshot(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Snapshot(context.Background(), h.dir, &buf, h.key); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(h.dir, ".backup-*"))
	if len(left) != 0 {
		t.Fatalf("snapshot left its staging behind: %v", left)
	}
	return buf.Bytes()
}

// verifyRestored opens a restored data dir as the host would and checks the
// audit log, the vault and the revocations came back.
func verifyRestored(t *testing.T, dir string, k *identity.Key, wantEntries int64) {
	t.Helper()
	ctx := context.Background()
	got, err := identity.LoadKeyFile(filepath.Join(dir, HostKeyName))
	if err != nil || got.DID() != k.DID() {
		t.Fatalf("restored host key: %v, %v", got, err)
	}
	db, err := store.Open(ctx, filepath.Join(dir, DatabaseName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := audit.Verify(ctx, db.SQLDB(), origin(k), k.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatalf("audit.Verify of the restored log: %v %+v", err, rep)
	}
	if wantEntries >= 0 && rep.Entries != wantEntries {
		t.Errorf("restored %d audit entries, want %d", rep.Entries, wantEntries)
	}
	v, err := vault.OpenDataDir(ctx, db.SQLDB(), dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Get(ctx, "default", "GITHUB_TOKEN")
	if err != nil || string(s.Expose()) != "ghp_backup_round_trip" {
		t.Fatalf("restored secret does not open: %v", err)
	}
	if revoked, err := db.Revoked(ctx, "default", store.KindGrant, "grant-1"); err != nil || !revoked {
		t.Errorf("restored revocation: %v, %v", revoked, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, memName))
	if err != nil || string(b) != "sealed memory records" {
		t.Errorf("restored memory log: %q, %v", b, err)
	}
	for _, p := range []string{dir, filepath.Join(dir, MemoryDir)} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, %v; want 0700", p, fi.Mode().Perm(), err)
		}
	}
	for _, n := range []string{HostKeyName, MasterName, memName} {
		if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", n, fi.Mode().Perm(), err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	h := newHost(t)
	b := h.snapshot(t)
	for _, c := range []struct {
		name  string
		trust func(string) bool
	}{
		{"pinned host DID", func(did string) bool { return did == h.key.DID() }},
		{"self-consistent only", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "restored")
			if err := Restore(context.Background(), bytes.NewReader(b), dir, c.trust); err != nil {
				t.Fatal(err)
			}
			verifyRestored(t, dir, h.key, 5)
		})
	}
	t.Run("into an existing empty dir", func(t *testing.T) {
		dir := t.TempDir()
		if err := Restore(context.Background(), bytes.NewReader(b), dir, nil); err != nil {
			t.Fatal(err)
		}
		verifyRestored(t, dir, h.key, 5)
	})
}

func TestSnapshotWhileWriting(t *testing.T) {
	h := newHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			if _, err := h.audit.Append(ctx, audit.Entry{Realm: "default", Actor: "did:key:zAgent",
				Action: "invoke", Decision: "allow", Request: fmt.Sprintf("busy-%d", i)}); err != nil && ctx.Err() == nil {
				errc <- err
				return
			}
			if i%7 == 0 {
				if _, err := h.audit.Checkpoint(ctx); err != nil && ctx.Err() == nil {
					errc <- err
					return
				}
			}
		}
	})
	var snaps [][]byte
	for range 3 {
		snaps = append(snaps, h.snapshot(t))
	}
	cancel()
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatalf("writer: %v", err)
	default:
	}
	for i, b := range snaps {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("restored-%d", i))
		if err := Restore(context.Background(), bytes.NewReader(b), dir, func(did string) bool { return did == h.key.DID() }); err != nil {
			t.Fatal(err)
		}
		verifyRestored(t, dir, h.key, -1)
	}
}

// entry is one tar entry of a hand-made archive.
type entry struct {
	name string
	typ  byte
	data []byte
	link string
}

func readArchive(t *testing.T, b []byte) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{name: hdr.Name, typ: hdr.Typeflag, data: data, link: hdr.Linkname})
	}
}

func writeArchive(t *testing.T, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o600, Size: int64(len(e.data)), Linkname: e.link, Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// edit returns the archive with f applied to a copy of its entries.
func edit(t *testing.T, b []byte, f func(es []entry) []entry) []byte {
	t.Helper()
	return writeArchive(t, f(readArchive(t, b)))
}

func manifestOf(t *testing.T, es []entry) (*Manifest, int) {
	t.Helper()
	for i, e := range es {
		if e.name == ManifestName {
			_, payload, err := identity.ParseUnverified(string(e.data))
			if err != nil {
				t.Fatal(err)
			}
			m, err := decodeManifest(payload)
			if err != nil {
				t.Fatal(err)
			}
			return m, i
		}
	}
	t.Fatal("no manifest")
	return nil, 0
}

func TestRestoreRefuses(t *testing.T) {
	h := newHost(t)
	good := h.snapshot(t)
	other, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	pinned := func(did string) bool { return did == h.key.DID() }
	flip := func(name string) func([]entry) []entry {
		return func(es []entry) []entry {
			for i := range es {
				if es[i].name == name {
					es[i].data = bytes.Clone(es[i].data)
					es[i].data[len(es[i].data)/2] ^= 1
				}
			}
			return es
		}
	}
	resign := func(k *identity.Key, change func(m *Manifest)) func([]entry) []entry {
		return func(es []entry) []entry {
			m, i := manifestOf(t, es)
			change(m)
			tok, err := k.SignJSON(Typ, m)
			if err != nil {
				t.Fatal(err)
			}
			es[i].data = []byte(tok)
			return es
		}
	}
	replaceHostKey := func(es []entry) []entry {
		pk, err := other.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		for i := range es {
			if es[i].name == HostKeyName {
				es[i].data = pk
			}
		}
		return resign(other, func(m *Manifest) {
			m.Host = other.DID()
			for i := range m.Files {
				if m.Files[i].Name == HostKeyName {
					f, _ := hashOf(pk)
					m.Files[i] = File{Name: HostKeyName, Size: int64(len(pk)), SHA256: f}
				}
			}
		})(es)
	}
	add := func(e entry) func([]entry) []entry {
		return func(es []entry) []entry { return append([]entry{e}, es...) }
	}
	reg := func(name string) entry { return entry{name: name, typ: tar.TypeReg, data: []byte("x")} }

	cases := []struct {
		name    string
		archive []byte
		trust   func(string) bool
		want    error
	}{
		{"flipped byte in the database", edit(t, good, flip(DatabaseName)), pinned, ErrTampered},
		{"flipped byte in the host key", edit(t, good, flip(HostKeyName)), nil, ErrTampered},
		{"flipped byte in the master key", edit(t, good, flip(MasterName)), pinned, ErrTampered},
		{"flipped byte in a memory log", edit(t, good, flip(memName)), pinned, ErrTampered},
		{"flipped byte in the manifest signature", edit(t, good, flip(ManifestName)), pinned, ErrTampered},
		{"manifest hash changed without re-signing", edit(t, good, func(es []entry) []entry {
			_, i := manifestOf(t, es)
			parts := strings.Split(string(es[i].data), ".")
			_, payload, _ := identity.ParseUnverified(string(es[i].data))
			payload = bytes.Replace(payload, []byte(`"sha256":"`), []byte(`"sha256":"0`), 1)
			parts[1] = b64(payload)
			es[i].data = []byte(strings.Join(parts, "."))
			return es
		}), pinned, ErrTampered},
		{"manifest re-signed by another key", edit(t, good, resign(other, func(m *Manifest) {})), nil, ErrTampered},
		{"manifest re-signed by another key claiming to be the host", edit(t, good, resign(other, func(m *Manifest) { m.Host = other.DID() })), nil, ErrTampered},
		{"whole backup forged with another host key, DID pinned", edit(t, good, replaceHostKey), pinned, ErrUntrusted},
		{"file removed from the archive", edit(t, good, func(es []entry) []entry {
			var out []entry
			for _, e := range es {
				if e.name != memName {
					out = append(out, e)
				}
			}
			return out
		}), pinned, ErrTampered},
		{"file the manifest does not name", edit(t, good, add(entry{name: "memory/" + strings.Repeat("f", 64) + ".log", typ: tar.TypeReg, data: []byte("planted")})), pinned, ErrTampered},
		{"manifest removed", edit(t, good, func(es []entry) []entry {
			_, i := manifestOf(t, es)
			return append(es[:i], es[i+1:]...)
		}), pinned, ErrTampered},
		{"second manifest", edit(t, good, func(es []entry) []entry {
			_, i := manifestOf(t, es)
			return append(es, es[i])
		}), pinned, ErrUnsafeEntry},
		{"duplicate database entry", edit(t, good, func(es []entry) []entry {
			for _, e := range es {
				if e.name == DatabaseName {
					return append([]entry{e}, es...)
				}
			}
			return es
		}), pinned, ErrUnsafeEntry},
		{"path traversal ../", edit(t, good, add(reg("../escaped"))), pinned, ErrUnsafeEntry},
		{"path traversal through memory/", edit(t, good, add(reg("memory/../../escaped"))), pinned, ErrUnsafeEntry},
		{"absolute path", edit(t, good, add(reg("/tmp/airlock-escaped"))), pinned, ErrUnsafeEntry},
		{"dot-prefixed name", edit(t, good, add(reg("./host.key"))), pinned, ErrUnsafeEntry},
		{"nested memory dir", edit(t, good, add(reg("memory/x/"+strings.Repeat("a", 64)+".log"))), pinned, ErrUnsafeEntry},
		{"symlink out of the data dir", edit(t, good, add(entry{name: HostKeyName, typ: tar.TypeSymlink, link: "/etc/passwd"})), pinned, ErrUnsafeEntry},
		{"hard link", edit(t, good, add(entry{name: DatabaseName, typ: tar.TypeLink, link: "/etc/shadow"})), pinned, ErrUnsafeEntry},
		{"directory entry", edit(t, good, add(entry{name: "memory/", typ: tar.TypeDir})), pinned, ErrUnsafeEntry},
		{"device node", edit(t, good, add(entry{name: DatabaseName, typ: tar.TypeChar})), pinned, ErrUnsafeEntry},
		{"truncated archive", good[:len(good)/2], pinned, ErrTampered},
		{"not a tar", []byte("this is not a backup"), pinned, ErrTampered},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "restored")
			err := Restore(context.Background(), bytes.NewReader(c.archive), dir, c.trust)
			if !errors.Is(err, c.want) {
				t.Fatalf("Restore = %v, want %v", err, c.want)
			}
			left, _ := os.ReadDir(parent)
			if len(left) != 0 {
				t.Errorf("a refused restore left %v behind", left)
			}
		})
	}
	t.Run("non-empty target", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("operator data"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Restore(context.Background(), bytes.NewReader(good), dir, pinned); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("Restore = %v, want ErrNotEmpty", err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "keep")); err != nil || string(b) != "operator data" {
			t.Fatalf("target changed: %q %v", b, err)
		}
	})
	t.Run("target is a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Restore(context.Background(), bytes.NewReader(good), f, pinned); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("Restore = %v, want ErrNotEmpty", err)
		}
	})
}

func TestSnapshotRefuses(t *testing.T) {
	h := newHost(t)
	other, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		dir    string
		signer *identity.Key
	}{
		{"signed by a key that is not the host's", h.dir, other},
		{"no signer", h.dir, nil},
		{"no data dir", filepath.Join(t.TempDir(), "missing"), h.key},
		{"data dir without a database", func() string {
			d := t.TempDir()
			if err := identity.SaveKeyFile(filepath.Join(d, HostKeyName), h.key); err != nil {
				t.Fatal(err)
			}
			return d
		}(), h.key},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := Snapshot(context.Background(), c.dir, io.Discard, c.signer); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Snapshot = %v, want ErrInvalid", err)
			}
		})
	}
}

func hashOf(b []byte) (string, int64) {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), int64(len(b))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
