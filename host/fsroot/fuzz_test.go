package fsroot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzPath feeds attacker-chosen paths to Read, List and Write in an area
// that holds links out of the area, to an ungranted sibling and to another
// realm. Whatever the path, nothing outside the granted roots is ever read,
// listed or changed, and only well-formed paths under the right root succeed.
func FuzzPath(f *testing.F) {
	for _, s := range []string{
		"docs/readme.txt", "docs/", "docs/../private/secret.txt", "../../outside/host-secret.txt",
		"/etc/passwd", "docs/escape", "docs/peek", "docs/up/r1/private/secret.txt", "docs/%2e%2e",
		"docs/readme.txt\x00", `docs\..\private`, "docs//x", "docs/./x", "scratch/a/b", "scratch/link",
		"scratch/dir/planted", "scratch/../docs/readme.txt", "docs-evil/x.txt", "linked/host-secret.txt",
		"other/plan.txt", "docs/sub/",
	} {
		f.Add(s)
	}
	data := f.TempDir()
	area := filepath.Join(data, "files", "r1")
	outside := filepath.Join(data, "outside")
	for name, content := range map[string]string{
		filepath.Join(area, "docs/readme.txt"):    "hello",
		filepath.Join(area, "docs/sub/deep.txt"):  "deep",
		filepath.Join(area, "private/secret.txt"): "SECRET-realm",
		filepath.Join(data, "files/r2/plan.txt"):  "SECRET-other-realm",
		filepath.Join(outside, "host-secret.txt"): "SECRET-host",
	} {
		if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			f.Fatal(err)
		}
	}
	for target, name := range map[string]string{
		"../../../outside/host-secret.txt": "docs/escape",
		"../private/secret.txt":            "docs/peek",
		"../..":                            "docs/up",
		"../../r2":                         "docs/other",
		outside:                            "linked",
		"../private":                       "scratch/dir",
		filepath.Join(outside, "host-secret.txt"): "scratch/link",
	} {
		name = filepath.Join(area, name)
		if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
			f.Fatal(err)
		}
		if err := os.Symlink(target, name); err != nil {
			f.Fatal(err)
		}
	}
	a, err := Open(data, "r1", []string{"docs/", "linked/"}, []string{"scratch/"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { a.Close() })

	f.Fuzz(func(t *testing.T, p string) {
		clean, problem := checkPath(p, true)
		if problem == "" && (strings.Contains("/"+clean+"/", "/../") || strings.HasPrefix(clean, "/")) {
			t.Fatalf("checkPath accepted %q", p)
		}

		got, err := a.Read(p)
		if err == nil && (!strings.HasPrefix(p, "docs/") || bytes.Contains(got, []byte("SECRET"))) {
			t.Fatalf("Read(%q) = %q", p, got)
		}
		if err != nil && !isSentinel(err) {
			t.Fatalf("Read(%q): unclassified error %v", p, err)
		}

		entries, err := a.List(p)
		if err == nil && p != "docs" && !strings.HasPrefix(p, "docs/") {
			t.Fatalf("List(%q) = %v", p, entries)
		}
		for _, e := range entries {
			if e.Name == "secret.txt" || e.Name == "host-secret.txt" || e.Name == "plan.txt" {
				t.Fatalf("List(%q) shows %q", p, e.Name)
			}
		}

		err = a.Write(p, []byte("fuzz"))
		if err == nil && !strings.HasPrefix(p, "scratch/") {
			t.Fatalf("Write(%q) succeeded", p)
		}
		for name, want := range map[string]string{
			filepath.Join(area, "private/secret.txt"): "SECRET-realm",
			filepath.Join(data, "files/r2/plan.txt"):  "SECRET-other-realm",
			filepath.Join(outside, "host-secret.txt"): "SECRET-host",
			filepath.Join(area, "docs/readme.txt"):    "hello",
		} {
			if b, err := os.ReadFile(name); err != nil || string(b) != want {
				t.Fatalf("after Write(%q), %s holds %q, %v", p, name, b, err)
			}
		}
	})
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrDenied, ErrNotFound, ErrInvalid, ErrTooLarge} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
