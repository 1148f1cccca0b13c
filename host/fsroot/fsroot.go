package fsroot

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/airlock-dev/airlock/abi"
)

// realmRE is the realm grammar of host/grant: one lower-case path-safe
// segment.
var realmRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// tmpPrefix starts the name of an in-flight Write; List hides such names.
const tmpPrefix = ".airlock-tmp-"

// Area is one realm's file area, DATA/files/<realm>/, seen through one
// grant's read and write roots. It is safe for concurrent use. Close it when
// the invocation ends.
type Area struct {
	root  *os.Root
	read  []string
	write []string
}

// Open creates DATA/files/<realm>/ (mode 0700) if needed and opens it for a
// grant whose caps.fs.read and caps.fs.write are read and write. A root must
// be a clean relative directory path ("docs/" or "docs"); "..", absolute
// paths, NUL and empty segments are errors wrapping ErrInvalid. Roots need not
// exist yet: Write creates its root on first use, Read and List answer
// ErrNotFound.
func Open(dataDir, realm string, read, write []string) (*Area, error) {
	if !realmRE.MatchString(realm) {
		return nil, fmt.Errorf("fsroot: realm %s: %w", quote(realm), ErrInvalid)
	}
	r, err := compileRoots("read", read)
	if err != nil {
		return nil, err
	}
	w, err := compileRoots("write", write)
	if err != nil {
		return nil, err
	}
	files := filepath.Join(dataDir, "files")
	if err := os.MkdirAll(files, 0o700); err != nil {
		return nil, fmt.Errorf("fsroot: create file store: %w", err)
	}
	top, err := os.OpenRoot(files)
	if err != nil {
		return nil, fmt.Errorf("fsroot: open file store: %w", err)
	}
	defer top.Close()
	if err := top.Mkdir(realm, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("fsroot: create realm area: %w", err)
	}
	if err := requireDir(top, realm); err != nil {
		return nil, fail(classify(err), "open realm", realm, err)
	}
	area, err := top.OpenRoot(realm)
	if err != nil {
		return nil, fail(classify(err), "open realm", realm, err)
	}
	return &Area{root: area, read: r, write: w}, nil
}

// Close releases the area. Operations after Close fail.
func (a *Area) Close() error {
	if err := a.root.Close(); err != nil {
		return fmt.Errorf("fsroot: close: %w", err)
	}
	return nil
}

// Read returns the content of the regular file at p, which must lie under a
// read root. Files over MaxFileBytes are refused with ErrTooLarge.
func (a *Area) Read(p string) ([]byte, error) {
	const op = "read"
	sub, rel, err := a.enter(op, p, a.read, false, false)
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	if rel == "." {
		return nil, fail(ErrInvalid, op, p, nil)
	}
	// O_NONBLOCK: opening a FIFO planted in the area must not block; it is
	// then refused as not regular.
	f, err := sub.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fail(classify(err), op, p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fail(classify(err), op, p, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fail(ErrInvalid, op, p, nil)
	}
	if fi.Size() > MaxFileBytes {
		return nil, fail(ErrTooLarge, op, p, nil)
	}
	// The file may grow between Stat and read: read one byte past the cap.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fail(classify(err), op, p, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fail(ErrTooLarge, op, p, nil)
	}
	return data, nil
}

// Write replaces the file at p, which must lie under a write root, with data
// (at most MaxFileBytes), atomically. Missing parent directories under the
// write root are created (mode 0700); the file gets mode 0600. File names
// starting with ".airlock-tmp-" are reserved for in-flight writes.
func (a *Area) Write(p string, data []byte) error {
	const op = "write"
	if len(data) > MaxFileBytes {
		return fail(ErrTooLarge, op, p, nil)
	}
	sub, rel, err := a.enter(op, p, a.write, false, true)
	if err != nil {
		return err
	}
	defer sub.Close()
	if rel == "." || strings.HasPrefix(path.Base(rel), tmpPrefix) {
		return fail(ErrInvalid, op, p, nil)
	}
	dir := path.Dir(rel)
	if dir != "." {
		if err := sub.MkdirAll(dir, 0o700); err != nil {
			return fail(classify(err), op, p, err)
		}
	}
	f, tmp, err := createTemp(sub, dir)
	if err != nil {
		return fail(classify(err), op, p, err)
	}
	if err := writeSync(f, data); err != nil {
		_ = sub.Remove(tmp)
		return fail(classify(err), op, p, err)
	}
	if err := sub.Rename(tmp, rel); err != nil {
		_ = sub.Remove(tmp)
		if fi, serr := sub.Lstat(rel); serr == nil && fi.IsDir() {
			return fail(ErrInvalid, op, p, err)
		}
		return fail(classify(err), op, p, err)
	}
	return nil
}

// List returns the entries of the directory at p, which must be a read root
// or lie under one, sorted by name. A directory holding more than
// MaxListEntries entries is refused with ErrTooLarge. Symbolic links are
// listed as they are (not followed): Dir false, Size the link's own size.
func (a *Area) List(p string) ([]abi.FSEntry, error) {
	const op = "list"
	sub, rel, err := a.enter(op, p, a.read, true, false)
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	f, err := sub.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fail(classify(err), op, p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fail(classify(err), op, p, err)
	}
	if !fi.IsDir() {
		return nil, fail(ErrInvalid, op, p, nil)
	}
	var entries []abi.FSEntry
	for {
		batch, err := f.ReadDir(256)
		for _, d := range batch {
			if strings.HasPrefix(d.Name(), tmpPrefix) {
				continue
			}
			if len(entries) == MaxListEntries {
				return nil, fail(ErrTooLarge, op, p, nil)
			}
			e := abi.FSEntry{Name: d.Name(), Dir: d.IsDir()}
			if !e.Dir {
				if info, err := d.Info(); err == nil {
					e.Size = info.Size()
				}
			}
			entries = append(entries, e)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fail(classify(err), op, p, err)
		}
	}
	slices.SortFunc(entries, func(x, y abi.FSEntry) int { return strings.Compare(x.Name, y.Name) })
	if entries == nil {
		entries = []abi.FSEntry{}
	}
	return entries, nil
}

// enter validates p, matches it against roots, and opens an os.Root on the
// matched grant root. It returns that root and p relative to it. create makes
// the grant root first (Write).
func (a *Area) enter(op, p string, roots []string, dirOK, create bool) (*os.Root, string, error) {
	clean, detail := checkPath(p, dirOK)
	if detail != "" {
		return nil, "", &opError{kind: ErrInvalid, op: op, path: p, detail: detail}
	}
	root, rel, ok := match(roots, clean)
	if !ok {
		return nil, "", fail(ErrDenied, op, p, nil)
	}
	if create {
		if err := a.mkdirRoot(root); err != nil {
			return nil, "", fail(classify(err), op, p, err)
		}
	}
	if err := requireDir(a.root, root); err != nil {
		return nil, "", fail(classify(err), op, p, err)
	}
	sub, err := a.root.OpenRoot(root)
	if err != nil {
		return nil, "", fail(classify(err), op, p, err)
	}
	return sub, rel, nil
}

// mkdirRoot creates the grant root one component at a time with Mkdir (never
// following a link), so that a link planted in its place is refused by
// requireDir rather than created through.
func (a *Area) mkdirRoot(root string) error {
	cur := ""
	for seg := range strings.SplitSeq(root, "/") {
		cur = path.Join(cur, seg)
		if err := a.root.Mkdir(cur, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// errNotDir: a realm area or grant root component is a symbolic link or
// not a directory.
var errNotDir = errors.New("symbolic link or not a directory")

// requireDir checks that every component of dir (a clean relative path) is a
// real directory in r, not a symbolic link, so that a grant root cannot be
// redirected to another part of the area.
func requireDir(r *os.Root, dir string) error {
	cur := ""
	for seg := range strings.SplitSeq(dir, "/") {
		cur = path.Join(cur, seg)
		fi, err := r.Lstat(cur)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return errNotDir
		}
	}
	return nil
}

// createTemp creates a fresh empty file next to the target (O_EXCL, 0600)
// with a random name and returns it with its name relative to r.
func createTemp(r *os.Root, dir string) (*os.File, string, error) {
	for range 8 {
		name := path.Join(dir, tmpPrefix+rand.Text())
		f, err := r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", fs.ErrExist
}

// writeSync writes data to f, syncs it to disk and closes it.
func writeSync(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
