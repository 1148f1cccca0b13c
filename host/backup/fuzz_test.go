package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/identity"
)

// tinyBackup is a small, correctly signed archive (the database content is
// not looked at by Restore), so fuzzing mutates headers rather than pages.
func tinyBackup(t testing.TB) ([]byte, *identity.Key) {
	t.Helper()
	k, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	files := []entry{
		{name: HostKeyName, typ: tar.TypeReg, data: pk},
		{name: DatabaseName, typ: tar.TypeReg, data: []byte("SQLite format 3\x00")},
		{name: memName, typ: tar.TypeReg, data: []byte("log")},
	}
	m := Manifest{Version: ManifestVersion, Host: k.DID(), Created: time.Unix(0, 0).UTC()}
	for _, f := range files {
		sum, n := hashOf(f.data)
		m.Files = append(m.Files, File{Name: f.name, Size: n, SHA256: sum})
	}
	tok, err := k.SignJSON(Typ, m)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range append(files, entry{name: ManifestName, typ: tar.TypeReg, data: []byte(tok)}) {
		if err := writeEntry(tw, f.name, m.Created, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), k
}

func TestTinyBackupRestores(t *testing.T) {
	b, k := tinyBackup(t)
	dir := filepath.Join(t.TempDir(), "restored")
	if err := Restore(context.Background(), bytes.NewReader(b), dir, func(did string) bool { return did == k.DID() }); err != nil {
		t.Fatal(err)
	}
}

// FuzzRestore feeds arbitrary archives to Restore: it must never panic, never
// write outside its parent directory, and leave nothing behind when it
// refuses.
func FuzzRestore(f *testing.F) {
	good, k := tinyBackup(f)
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, archive []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "restored")
		err := Restore(context.Background(), bytes.NewReader(archive), dir, func(did string) bool { return did == k.DID() })
		left, _ := os.ReadDir(parent)
		switch {
		case err != nil && len(left) != 0:
			t.Fatalf("refused restore (%v) left %v behind", err, left)
		case err == nil && (len(left) != 1 || left[0].Name() != "restored"):
			t.Fatalf("restore wrote %v", left)
		}
	})
}
