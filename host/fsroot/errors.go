package fsroot

import (
	"errors"
	"io/fs"
	"strconv"
	"syscall"
)

// Errors returned by this package, always wrapped as "fsroot: …". Test with
// errors.Is.
var (
	// ErrDenied: the path is outside every root of the needed kind, or its
	// resolution would leave the grant root (symbolic link out, absolute
	// link, link as a grant root component).
	ErrDenied = errors.New("denied")
	// ErrNotFound: the file or directory does not exist under the grant root.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the path or a grant root is malformed (traversal,
	// absolute, NUL, backslash, empty segment, too long, not UTF-8), or the
	// target is not of the kind the operation needs (a directory to Read).
	ErrInvalid = errors.New("invalid path")
	// ErrTooLarge: the file, the data to write or the directory listing is
	// over its cap, or the disk is full.
	ErrTooLarge = errors.New("too large")
)

// opError is a classified failure: kind is one of the sentinels, op and path
// are what the tool asked for, detail is a fixed description, cause is kept for errors.Is/As only and is not
// printed (it may name a link target).
type opError struct {
	kind   error
	op     string
	path   string
	detail string // safe to print: says what is wrong with the path
	cause  error
}

func (e *opError) Error() string {
	s := "fsroot: " + e.op + " " + quote(e.path) + ": " + e.kind.Error()
	if e.detail != "" {
		s += ": " + e.detail
	}
	return s
}

func (e *opError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

func fail(kind error, op, path string, cause error) error {
	return &opError{kind: kind, op: op, path: path, cause: cause}
}

// classify maps an error from the file system to a sentinel. Anything that is
// not plainly "absent" or "full" is a denial: os.Root reports an escape
// through a symbolic link with an unexported error, and an unknown failure
// must not read as permission to retry elsewhere.
func classify(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return ErrNotFound
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EFBIG):
		return ErrTooLarge
	default:
		return ErrDenied
	}
}

// quote prints a tool-supplied path safely (escaped by strconv.Quote,
// length bounded) for an error message.
func quote(p string) string {
	const max = 128
	if len(p) > max {
		return strconv.Quote(p[:max]) + "…"
	}
	return strconv.Quote(p)
}
