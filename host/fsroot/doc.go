// Package fsroot is the file area behind the fs_read, fs_write and fs_list
// host functions (DESIGN §3). Each realm has one area, DATA/files/<realm>/,
// created with mode 0700; a grant's caps.fs.read and caps.fs.write entries name
// directories inside it ("docs/", "scratch/") that a tool may read (Read, List)
// or write (Write).
//
// A tool names a file by a relative slash path such as "docs/a/b.txt". The
// path is checked before it touches the file system: it must be valid UTF-8,
// at most [MaxPathBytes] long, relative, made only of non-empty segments that
// are neither "." nor "..", and free of NUL, backslash and control
// characters; only List accepts one trailing slash. Nothing is decoded:
// "docs/%2e%2e" names a file called "%2e%2e". The path must then fall under a
// root of the right kind; Read and List look only at read roots, Write only at
// write roots.
//
// # Security
//
// There are no WASI directory mounts: the guest never sees a file descriptor.
// Every access goes through an [os.Root] opened on the realm's area and then,
// for each operation, a second [os.Root] opened on the matched grant root, so
// the kernel-level resolution that os.Root performs (openat, one component at
// a time) confines the operation to that grant root. A symbolic link,
// whoever created it and wherever it points, is followed only while it stays
// inside the grant root: a link to "/etc/passwd", to another realm, to a
// sibling directory of the same area that the grant does not name, or with an
// absolute target (even one that points back inside) is refused with
// [ErrDenied]. The components of a grant root itself must be real
// directories, not links. The realm's directory is opened through an os.Root
// on DATA/files, so it cannot be a link out either.
//
// Reads open with O_NONBLOCK and accept regular files only, so a FIFO or
// device planted in the area neither blocks the host nor is read. Sizes are
// capped ([MaxFileBytes]) on both read and write; a listing is capped at
// [MaxListEntries]. Write is atomic: the data goes to a fresh temporary file
// (O_EXCL, mode 0600) in the destination directory, is synced, and is renamed
// over the target, so a reader never sees a half-written file and a link at
// the target name is replaced, never written through.
//
// Errors name the path the tool gave and the reason, never a host path, a
// link target or the content of another realm.
package fsroot
