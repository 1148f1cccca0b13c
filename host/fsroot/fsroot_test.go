package fsroot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/airlock-dev/airlock/abi"
)

// fixture is a data dir with realm "r1" holding:
//
//	docs/readme.txt          "hello"          (read root)
//	docs/sub/deep.txt        "deep"
//	docs-evil/x.txt          "evil"           (shares the "docs" prefix, not granted)
//	private/secret.txt       "realm secret"   (not granted)
//	scratch/                                  (write root)
//
// and, outside the file store, outside/host-secret.txt.
type fixture struct {
	data, area, outside string
}

const hostSecret = "host secret"

func newFixture(t *testing.T) fixture {
	t.Helper()
	data := t.TempDir()
	fx := fixture{data: data, area: filepath.Join(data, "files", "r1"), outside: filepath.Join(data, "outside")}
	put(t, filepath.Join(fx.area, "docs/readme.txt"), "hello")
	put(t, filepath.Join(fx.area, "docs/sub/deep.txt"), "deep")
	put(t, filepath.Join(fx.area, "docs-evil/x.txt"), "evil")
	put(t, filepath.Join(fx.area, "private/secret.txt"), "realm secret")
	mkdir(t, filepath.Join(fx.area, "scratch"))
	put(t, filepath.Join(fx.outside, "host-secret.txt"), hostSecret)
	return fx
}

func (fx fixture) open(t *testing.T) *Area {
	t.Helper()
	a, err := Open(fx.data, "r1", []string{"docs/"}, []string{"scratch/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func put(t *testing.T, name, content string) {
	t.Helper()
	mkdir(t, filepath.Dir(name))
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, name string) {
	t.Helper()
	if err := os.MkdirAll(name, 0o700); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	mkdir(t, filepath.Dir(name))
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, fx fixture)
		path  string
		want  string
		err   error
	}{
		{name: "happy path", path: "docs/readme.txt", want: "hello"},
		{name: "happy path in a subdirectory", path: "docs/sub/deep.txt", want: "deep"},
		{name: "symlink that stays inside the read root is followed",
			setup: func(t *testing.T, fx fixture) {
				symlink(t, "sub/deep.txt", filepath.Join(fx.area, "docs/inner"))
			},
			path: "docs/inner", want: "deep"},
		{name: "empty file", setup: func(t *testing.T, fx fixture) { put(t, filepath.Join(fx.area, "docs/empty"), "") },
			path: "docs/empty", want: ""},

		{name: "traversal by .. out of the area", path: "../../outside/host-secret.txt", err: ErrInvalid},
		{name: "traversal by .. from a read root to /etc/passwd", path: "docs/../../etc/passwd", err: ErrInvalid},
		{name: "traversal by .. to an ungranted sibling", path: "docs/../private/secret.txt", err: ErrInvalid},
		{name: "traversal by .. that lands back in the root", path: "docs/sub/../readme.txt", err: ErrInvalid},
		{name: "percent-encoded .. is a literal name, not traversal",
			setup: func(t *testing.T, fx fixture) { put(t, filepath.Join(fx.area, "docs/%2e%2e/x"), "literal") },
			path:  "docs/%2e%2e/private/secret.txt", err: ErrNotFound},
		{name: "percent-encoded .. names a literal file", path: "docs/%2e%2e", err: ErrNotFound},
		{name: "absolute path", path: "/etc/passwd", err: ErrInvalid},
		{name: "absolute path to the area itself", path: "ABS", err: ErrInvalid},
		{name: "NUL byte truncation", path: "docs/readme.txt\x00.png", err: ErrInvalid},
		{name: "over-long path", path: "docs/" + strings.Repeat("a/", MaxPathBytes/2) + "x", err: ErrInvalid},
		{name: "backslash traversal", path: `docs\..\private\secret.txt`, err: ErrInvalid},
		{name: "empty segment", path: "docs//readme.txt", err: ErrInvalid},
		{name: "dot segment", path: "docs/./readme.txt", err: ErrInvalid},
		{name: "trailing slash on a file", path: "docs/readme.txt/", err: ErrInvalid},
		{name: "empty path", path: "", err: ErrInvalid},
		{name: "control character", path: "docs/read\nme.txt", err: ErrInvalid},
		{name: "invalid UTF-8", path: "docs/\xff.txt", err: ErrInvalid},

		{name: "read outside the read roots", path: "private/secret.txt", err: ErrDenied},
		{name: "read from a write-only root", path: "scratch/x", err: ErrDenied},
		{name: "prefix confusion: docs-evil is not under docs", path: "docs-evil/x.txt", err: ErrDenied},
		{name: "read the read root itself", path: "docs", err: ErrInvalid},
		{name: "read a directory", path: "docs/sub", err: ErrInvalid},
		{name: "missing file", path: "docs/nope", err: ErrNotFound},
		{name: "path under a regular file", path: "docs/readme.txt/x", err: ErrNotFound},

		{name: "symlink inside the read root pointing out of the area",
			setup: func(t *testing.T, fx fixture) {
				symlink(t, "../../../outside/host-secret.txt", filepath.Join(fx.area, "docs/escape"))
			},
			path: "docs/escape", err: ErrDenied},
		{name: "symlink inside the read root pointing to /etc/passwd",
			setup: func(t *testing.T, fx fixture) { symlink(t, "/etc/passwd", filepath.Join(fx.area, "docs/passwd")) },
			path:  "docs/passwd", err: ErrDenied},
		{name: "symlink inside the read root pointing to an ungranted sibling",
			setup: func(t *testing.T, fx fixture) {
				symlink(t, "../private/secret.txt", filepath.Join(fx.area, "docs/peek"))
			},
			path: "docs/peek", err: ErrDenied},
		{name: "symlink created outside with an absolute target pointing in",
			setup: func(t *testing.T, fx fixture) {
				symlink(t, filepath.Join(fx.area, "docs/readme.txt"), filepath.Join(fx.area, "docs/abs"))
			},
			path: "docs/abs", err: ErrDenied},
		{name: "symlinked directory inside the read root pointing out",
			setup: func(t *testing.T, fx fixture) { symlink(t, "../..", filepath.Join(fx.area, "docs/up")) },
			path:  "docs/up/r1/private/secret.txt", err: ErrDenied},
		{name: "read root in the area is a symlink pointing out",
			setup: func(t *testing.T, fx fixture) { symlink(t, fx.outside, filepath.Join(fx.area, "linked")) },
			path:  "linked/host-secret.txt", err: ErrDenied},
		{name: "read root in the area is a relative symlink pointing out",
			setup: func(t *testing.T, fx fixture) {
				symlink(t, "../../outside", filepath.Join(fx.area, "linked"))
			},
			path: "linked/host-secret.txt", err: ErrDenied},
		{name: "read root in the area is a symlink to an ungranted sibling",
			setup: func(t *testing.T, fx fixture) { symlink(t, "private", filepath.Join(fx.area, "linked")) },
			path:  "linked/secret.txt", err: ErrDenied},
		{name: "FIFO planted in the read root does not block",
			setup: func(t *testing.T, fx fixture) {
				if err := syscall.Mkfifo(filepath.Join(fx.area, "docs/fifo"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			path: "docs/fifo", err: ErrInvalid},
		{name: "over-size file planted in the read root",
			setup: func(t *testing.T, fx fixture) {
				name := filepath.Join(fx.area, "docs/huge")
				put(t, name, "")
				if err := os.Truncate(name, MaxFileBytes+1); err != nil {
					t.Fatal(err)
				}
			},
			path: "docs/huge", err: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			if tt.setup != nil {
				tt.setup(t, fx)
			}
			a, err := Open(fx.data, "r1", []string{"docs/", "linked/"}, []string{"scratch/"})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			p := tt.path
			if p == "ABS" {
				p = filepath.Join(fx.area, "docs/readme.txt")
			}
			got, err := a.Read(p)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Read(%q) = %q, %v; want %v", p, got, err, tt.err)
				}
				if got != nil {
					t.Fatalf("Read(%q) returned data with an error", p)
				}
				if !strings.Contains(p, fx.data) && strings.Contains(err.Error(), fx.data) {
					t.Fatalf("error reveals a host path: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read(%q): %v", p, err)
			}
			if string(got) != tt.want {
				t.Fatalf("Read(%q) = %q, want %q", p, got, tt.want)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	big := bytes.Repeat([]byte{'x'}, MaxFileBytes+1)
	tests := []struct {
		name  string
		setup func(t *testing.T, fx fixture)
		path  string
		data  []byte
		err   error
		// check runs after Write on the host's view of the data dir.
		check func(t *testing.T, fx fixture)
	}{
		{name: "happy path", path: "scratch/out.txt", data: []byte("result"),
			check: wantFile("files/r1/scratch/out.txt", "result")},
		{name: "happy path creates parent directories under the write root",
			path: "scratch/a/b/c.txt", data: []byte("nested"),
			check: wantFile("files/r1/scratch/a/b/c.txt", "nested")},
		{name: "write creates a missing write root",
			setup: func(t *testing.T, fx fixture) { os.Remove(filepath.Join(fx.area, "scratch")) },
			path:  "scratch/new.txt", data: []byte("new"),
			check: wantFile("files/r1/scratch/new.txt", "new")},
		{name: "overwrite replaces the whole file",
			setup: func(t *testing.T, fx fixture) {
				put(t, filepath.Join(fx.area, "scratch/out.txt"), "a much longer previous content")
			},
			path: "scratch/out.txt", data: []byte("short"),
			check: wantFile("files/r1/scratch/out.txt", "short")},
		{name: "exactly the size cap", path: "scratch/max", data: big[:MaxFileBytes],
			check: wantFile("files/r1/scratch/max", string(big[:MaxFileBytes]))},

		{name: "over-size write", path: "scratch/big", data: big, err: ErrTooLarge,
			check: wantAbsent("files/r1/scratch/big")},
		{name: "write outside the write root", path: "private/planted.txt", data: []byte("x"), err: ErrDenied,
			check: wantAbsent("files/r1/private/planted.txt")},
		{name: "write into a read-only root", path: "docs/readme.txt", data: []byte("defaced"), err: ErrDenied,
			check: wantFile("files/r1/docs/readme.txt", "hello")},
		{name: "prefix confusion: scratch-evil is not under scratch", path: "scratch-evil/x", data: []byte("x"),
			err: ErrDenied, check: wantAbsent("files/r1/scratch-evil")},
		{name: "traversal by .. out of the write root", path: "scratch/../docs/readme.txt", data: []byte("defaced"),
			err: ErrInvalid, check: wantFile("files/r1/docs/readme.txt", "hello")},
		{name: "traversal by .. out of the area", path: "scratch/../../../outside/host-secret.txt",
			data: []byte("defaced"), err: ErrInvalid, check: wantFile("outside/host-secret.txt", hostSecret)},
		{name: "absolute path", path: "/tmp/airlock-fsroot-planted", data: []byte("x"), err: ErrInvalid},
		{name: "NUL byte truncation", path: "scratch/x.txt\x00.sh", data: []byte("x"), err: ErrInvalid},
		{name: "over-long path", path: "scratch/" + strings.Repeat("b", MaxPathBytes), data: []byte("x"),
			err: ErrInvalid},
		{name: "write posing as an in-flight temporary file", path: "scratch/" + tmpPrefix + "x", data: []byte("x"),
			err: ErrInvalid},
		{name: "write to the write root itself", path: "scratch", data: []byte("x"), err: ErrInvalid},
		{name: "write over a directory", setup: func(t *testing.T, fx fixture) {
			mkdir(t, filepath.Join(fx.area, "scratch/dir/child"))
		}, path: "scratch/dir", data: []byte("x"), err: ErrInvalid},

		{name: "symlink in the write root pointing out is replaced, not written through",
			setup: func(t *testing.T, fx fixture) {
				symlink(t, filepath.Join(fx.outside, "host-secret.txt"), filepath.Join(fx.area, "scratch/link"))
			},
			path: "scratch/link", data: []byte("overwritten"),
			check: func(t *testing.T, fx fixture) {
				wantFile("outside/host-secret.txt", hostSecret)(t, fx)
				wantFile("files/r1/scratch/link", "overwritten")(t, fx)
				fi, err := os.Lstat(filepath.Join(fx.area, "scratch/link"))
				if err != nil || !fi.Mode().IsRegular() {
					t.Fatalf("scratch/link is not a regular file now: %v %v", fi, err)
				}
			}},
		{name: "symlinked directory in the write root pointing out",
			setup: func(t *testing.T, fx fixture) { symlink(t, fx.outside, filepath.Join(fx.area, "scratch/dir")) },
			path:  "scratch/dir/planted.txt", data: []byte("x"), err: ErrDenied,
			check: wantAbsent("outside/planted.txt")},
		{name: "symlinked directory in the write root pointing to a read root",
			setup: func(t *testing.T, fx fixture) { symlink(t, "../docs", filepath.Join(fx.area, "scratch/dir")) },
			path:  "scratch/dir/readme.txt", data: []byte("defaced"), err: ErrDenied,
			check: wantFile("files/r1/docs/readme.txt", "hello")},
		{name: "write root in the area is a symlink pointing out",
			setup: func(t *testing.T, fx fixture) {
				os.Remove(filepath.Join(fx.area, "scratch"))
				symlink(t, fx.outside, filepath.Join(fx.area, "scratch"))
			},
			path: "scratch/planted.txt", data: []byte("x"), err: ErrDenied,
			check: wantAbsent("outside/planted.txt")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			if tt.setup != nil {
				tt.setup(t, fx)
			}
			a := fx.open(t)
			err := a.Write(tt.path, tt.data)
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("Write(%q) = %v, want %v", tt.path, err, tt.err)
			}
			if tt.err == nil && err != nil {
				t.Fatalf("Write(%q): %v", tt.path, err)
			}
			if tt.check != nil {
				tt.check(t, fx)
			}
			noTempLeft(t, fx.area)
		})
	}
}

func wantFile(rel, content string) func(t *testing.T, fx fixture) {
	return func(t *testing.T, fx fixture) {
		t.Helper()
		got, err := os.ReadFile(filepath.Join(fx.data, rel))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Fatalf("%s holds %d bytes %.20q, want %d bytes %.20q", rel, len(got), got, len(content), content)
		}
	}
}

func wantAbsent(rel string) func(t *testing.T, fx fixture) {
	return func(t *testing.T, fx fixture) {
		t.Helper()
		if _, err := os.Lstat(filepath.Join(fx.data, rel)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s exists (or stat failed: %v)", rel, err)
		}
	}
}

func noTempLeft(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tmpPrefix) {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

func TestWritePermissions(t *testing.T) {
	fx := newFixture(t)
	a := fx.open(t)
	if err := a.Write("scratch/new/dir/f.txt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]os.FileMode{
		"files/r1":                       os.ModeDir | 0o700,
		"files/r1/scratch/new":           os.ModeDir | 0o700,
		"files/r1/scratch/new/dir":       os.ModeDir | 0o700,
		"files/r1/scratch/new/dir/f.txt": 0o600,
	} {
		fi, err := os.Stat(filepath.Join(fx.data, rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s mode = %v, want %v", rel, fi.Mode(), want)
		}
	}
}

func TestList(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, fx fixture)
		path  string
		want  []abi.FSEntry
		err   error
	}{
		{name: "happy path lists the read root sorted by name",
			setup: func(t *testing.T, fx fixture) {
				put(t, filepath.Join(fx.area, "docs/a.txt"), "abc")
				symlink(t, "readme.txt", filepath.Join(fx.area, "docs/z-link"))
			},
			path: "docs",
			want: []abi.FSEntry{{Name: "a.txt", Size: 3}, {Name: "readme.txt", Size: 5},
				{Name: "sub", Dir: true}, {Name: "z-link", Size: int64(len("readme.txt"))}}},
		{name: "trailing slash", path: "docs/sub/", want: []abi.FSEntry{{Name: "deep.txt", Size: 4}}},
		{name: "empty directory is an empty list, not null",
			setup: func(t *testing.T, fx fixture) { mkdir(t, filepath.Join(fx.area, "docs/empty")) },
			path:  "docs/empty", want: []abi.FSEntry{}},
		{name: "in-flight temporary files are hidden",
			setup: func(t *testing.T, fx fixture) { put(t, filepath.Join(fx.area, "docs/sub", tmpPrefix+"x"), "") },
			path:  "docs/sub", want: []abi.FSEntry{{Name: "deep.txt", Size: 4}}},

		{name: "list outside the read roots", path: "private", err: ErrDenied},
		{name: "list a write-only root", path: "scratch", err: ErrDenied},
		{name: "list the area root", path: "/", err: ErrInvalid},
		{name: "list with an empty path", path: "", err: ErrInvalid},
		{name: "list dot", path: ".", err: ErrInvalid},
		{name: "traversal by .. to the area root", path: "docs/..", err: ErrInvalid},
		{name: "traversal by .. to another realm", path: "docs/../../r2", err: ErrInvalid},
		{name: "list a file", path: "docs/readme.txt", err: ErrInvalid},
		{name: "list a missing directory", path: "docs/nope", err: ErrNotFound},
		{name: "symlinked directory inside the read root pointing out",
			setup: func(t *testing.T, fx fixture) { symlink(t, "../..", filepath.Join(fx.area, "docs/up")) },
			path:  "docs/up", err: ErrDenied},
		{name: "symlinked directory with an absolute target pointing out",
			setup: func(t *testing.T, fx fixture) { symlink(t, "/", filepath.Join(fx.area, "docs/slash")) },
			path:  "docs/slash", err: ErrDenied},
		{name: "directory over the entry cap",
			setup: func(t *testing.T, fx fixture) {
				dir := filepath.Join(fx.area, "docs/many")
				mkdir(t, dir)
				for i := range MaxListEntries + 1 {
					f, err := os.Create(filepath.Join(dir, "f"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoa(i)))
					if err != nil {
						t.Fatal(err)
					}
					f.Close()
				}
			},
			path: "docs/many", err: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			if tt.setup != nil {
				tt.setup(t, fx)
			}
			got, err := fx.open(t).List(tt.path)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("List(%q) = %v, %v; want %v", tt.path, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("List(%q): %v", tt.path, err)
			}
			if got == nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("List(%q) = %#v, want %#v", tt.path, got, tt.want)
			}
		})
	}
}

func itoa(i int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
		if i == 0 {
			return string(b)
		}
	}
}

func TestListAtEntryCap(t *testing.T) {
	fx := newFixture(t)
	dir := filepath.Join(fx.area, "docs/full")
	mkdir(t, dir)
	for i := range MaxListEntries {
		put(t, filepath.Join(dir, itoa(i)), "")
	}
	got, err := fx.open(t).List("docs/full")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxListEntries {
		t.Fatalf("got %d entries, want %d", len(got), MaxListEntries)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].Name >= got[i].Name {
			t.Fatalf("not sorted at %d: %q >= %q", i, got[i-1].Name, got[i].Name)
		}
	}
}

func TestRealmIsolation(t *testing.T) {
	data := t.TempDir()
	a, err := Open(data, "alpha", []string{"shared/"}, []string{"shared/"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Write("shared/plan.txt", []byte("alpha's plan")); err != nil {
		t.Fatal(err)
	}
	b, err := Open(data, "beta", []string{"shared/"}, []string{"shared/"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	tests := []struct {
		name string
		path string
		err  error
	}{
		{"realm B reads realm A's file by the same path", "shared/plan.txt", ErrNotFound},
		{"realm B reaches realm A by ..", "shared/../../alpha/shared/plan.txt", ErrInvalid},
		{"realm B reaches realm A by absolute path", filepath.Join(data, "files/alpha/shared/plan.txt"), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.Read(tt.path)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Read(%q) = %q, %v; want %v", tt.path, got, err, tt.err)
			}
		})
	}
	t.Run("realm B overwrites its own file, realm A's is untouched", func(t *testing.T) {
		if err := b.Write("shared/plan.txt", []byte("beta's plan")); err != nil {
			t.Fatal(err)
		}
		got, err := a.Read("shared/plan.txt")
		if err != nil || string(got) != "alpha's plan" {
			t.Fatalf("realm A now reads %q, %v", got, err)
		}
	})
	t.Run("realm B's symlink into realm A's area", func(t *testing.T) {
		symlink(t, filepath.Join(data, "files/alpha/shared/plan.txt"), filepath.Join(data, "files/beta/shared/link"))
		symlink(t, "../../alpha/shared/plan.txt", filepath.Join(data, "files/beta/shared/rel"))
		for _, p := range []string{"shared/link", "shared/rel"} {
			if got, err := b.Read(p); !errors.Is(err, ErrDenied) {
				t.Fatalf("Read(%q) = %q, %v; want ErrDenied", p, got, err)
			}
		}
	})
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, data string)
		realm string
		read  []string
		write []string
		err   error
	}{
		{name: "happy path", realm: "r1", read: []string{"docs/", "docs/sub"}, write: []string{"scratch/"}},
		{name: "no roots at all", realm: "r1"},

		{name: "realm traversal by ..", realm: "../r1", err: ErrInvalid},
		{name: "realm with a slash", realm: "r1/docs", err: ErrInvalid},
		{name: "realm is dot-dot", realm: "..", err: ErrInvalid},
		{name: "empty realm", realm: "", err: ErrInvalid},
		{name: "realm with NUL", realm: "r1\x00", err: ErrInvalid},
		{name: "realm directory is a symlink into another realm's area",
			setup: func(t *testing.T, data string) {
				mkdir(t, filepath.Join(data, "files/victim/docs"))
				symlink(t, "victim", filepath.Join(data, "files/r1"))
			},
			realm: "r1", read: []string{"docs/"}, err: ErrDenied},
		{name: "realm directory is a symlink out of the data dir",
			setup: func(t *testing.T, data string) {
				mkdir(t, filepath.Join(data, "elsewhere"))
				symlink(t, filepath.Join(data, "elsewhere"), filepath.Join(data, "files/r1"))
			},
			realm: "r1", err: ErrDenied},

		{name: "root traversal by ..", realm: "r1", read: []string{"../"}, err: ErrInvalid},
		{name: "root traversal by .. inside", realm: "r1", read: []string{"docs/../../etc/"}, err: ErrInvalid},
		{name: "absolute root", realm: "r1", write: []string{"/etc/"}, err: ErrInvalid},
		{name: "root is the whole area", realm: "r1", read: []string{"/"}, err: ErrInvalid},
		{name: "empty root", realm: "r1", read: []string{""}, err: ErrInvalid},
		{name: "dot root", realm: "r1", write: []string{"./"}, err: ErrInvalid},
		{name: "unclean root", realm: "r1", read: []string{"docs//x/"}, err: ErrInvalid},
		{name: "root with NUL", realm: "r1", read: []string{"docs\x00/"}, err: ErrInvalid},
		{name: "root with backslash", realm: "r1", read: []string{`docs\`}, err: ErrInvalid},
		{name: "over-long root", realm: "r1", read: []string{strings.Repeat("d", MaxPathBytes+1) + "/"}, err: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, data)
			}
			a, err := Open(data, tt.realm, tt.read, tt.write)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Open = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestClosedArea(t *testing.T) {
	fx := newFixture(t)
	a, err := Open(fx.data, "r1", []string{"docs/"}, []string{"scratch/"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Read("docs/readme.txt"); err == nil {
		t.Fatal("Read after Close succeeded")
	}
	if err := a.Write("scratch/x", nil); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}
