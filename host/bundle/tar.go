package bundle

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"time"
)

// Entry names of a bundle, in the order Write emits them.
const (
	EntryManifest  = "manifest.json"
	EntryModule    = "module.wasm"
	EntrySignature = "manifest.jws"
)

// Caps on bundles and their entries.
const (
	// DefaultMaxBytes is the default cap on a bundle (DESIGN §9): Read uses
	// it when maxBytes <= 0.
	DefaultMaxBytes = 64 << 20
	// MaxSignatureBytes caps manifest.jws: a compact JWS over the largest
	// manifest is about 4/3 of it plus a header and a signature.
	MaxSignatureBytes = 2 * MaxManifestBytes
)

// Extension is the file extension of a bundle.
const Extension = ".airlock"

// Bundle is a decoded bundle file. A Bundle from [Read] is parsed but not
// verified: call [Bundle.Verify] before trusting any of it.
type Bundle struct {
	ManifestJSON []byte    // exact bytes of manifest.json, as signed
	Manifest     *Manifest // parsed from ManifestJSON
	Module       []byte    // module.wasm
	Signature    string    // manifest.jws, a compact JWS; empty when unsigned
}

// FileName returns "NAME-VERSION.airlock".
func (b *Bundle) FileName() string {
	return b.Manifest.Name + "-" + b.Manifest.Version + Extension
}

// Write writes b as a deterministic tar: manifest.json, module.wasm and
// manifest.jws at the archive root, regular files with mode 0644, mtime the
// Unix epoch, uid/gid 0 and no user or group names. The same bundle always
// gives the same bytes.
func (b *Bundle) Write(w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, e := range []struct {
		name string
		data []byte
	}{
		{EntryManifest, b.ManifestJSON},
		{EntryModule, b.Module},
		{EntrySignature, []byte(b.Signature)},
	} {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     e.name,
			Mode:     0o644,
			Size:     int64(len(e.data)),
			ModTime:  time.Unix(0, 0),
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return errorf(ErrMalformed, "write %s: %v", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return errorf(ErrMalformed, "write %s: %v", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return errorf(ErrMalformed, "write: %v", err)
	}
	return nil
}

// Read parses a bundle strictly. r must hold a tar archive with exactly the
// regular files manifest.json, module.wasm and manifest.jws at its root, in
// any order: no directories, links, devices, sparse files, duplicates, other
// names or names with path components, and nothing but zero padding after
// the end of the archive. More than maxBytes of input or of entry contents
// fails with [ErrTooLarge] (maxBytes <= 0 means [DefaultMaxBytes]). The module
// must be non-empty and the manifest must pass [ParseManifest]; manifest.jws
// may be empty (an unsigned bundle, refused by Verify).
//
// Read does NOT verify the hash or the signature: see [Bundle.Verify].
func Read(r io.Reader, maxBytes int64) (*Bundle, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	in := &capReader{r: r, left: maxBytes}
	tr := tar.NewReader(in)
	entries := map[string][]byte{}
	contentLeft := maxBytes
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, readErr(err, "tar header")
		}
		if err := checkHeader(hdr); err != nil {
			return nil, err
		}
		if _, dup := entries[hdr.Name]; dup {
			return nil, errorf(ErrMalformed, "duplicate entry %q", hdr.Name)
		}
		limit := entryCap(hdr.Name, contentLeft)
		if hdr.Size > limit {
			return nil, errorf(ErrTooLarge, "entry %s is %d bytes, cap %d", hdr.Name, hdr.Size, limit)
		}
		// The tar reader stops at hdr.Size; the extra byte catches a reader
		// that yields more than it declared.
		data, err := io.ReadAll(io.LimitReader(tr, limit+1))
		if err != nil {
			return nil, readErr(err, hdr.Name)
		}
		if int64(len(data)) > limit || int64(len(data)) != hdr.Size {
			return nil, errorf(ErrMalformed, "entry %s: size mismatch", hdr.Name)
		}
		contentLeft -= int64(len(data))
		entries[hdr.Name] = data
	}
	if err := checkPadding(in); err != nil {
		return nil, err
	}
	for _, name := range []string{EntryManifest, EntryModule, EntrySignature} {
		if _, ok := entries[name]; !ok {
			return nil, errorf(ErrMalformed, "missing entry %s", name)
		}
	}
	if len(entries[EntryModule]) == 0 {
		return nil, errorf(ErrMalformed, "empty %s", EntryModule)
	}
	m, err := ParseManifest(entries[EntryManifest])
	if err != nil {
		return nil, err
	}
	return &Bundle{
		ManifestJSON: entries[EntryManifest],
		Manifest:     m,
		Module:       entries[EntryModule],
		Signature:    string(entries[EntrySignature]),
	}, nil
}

// checkHeader accepts only a regular file named exactly as one of the three
// entries, without GNU sparse records.
func checkHeader(hdr *tar.Header) error {
	switch hdr.Name {
	case EntryManifest, EntryModule, EntrySignature:
	default:
		return errorf(ErrMalformed, "unexpected entry %q", hdr.Name)
	}
	if hdr.Typeflag != tar.TypeReg {
		return errorf(ErrMalformed, "entry %q is not a regular file (type %q)", hdr.Name, hdr.Typeflag)
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return errorf(ErrMalformed, "entry %q is a sparse file", hdr.Name)
		}
	}
	if hdr.Size < 0 {
		return errorf(ErrMalformed, "entry %q has a negative size", hdr.Name)
	}
	return nil
}

// entryCap is the most bytes the named entry may hold.
func entryCap(name string, left int64) int64 {
	limit := left
	switch name {
	case EntryManifest:
		limit = min(limit, MaxManifestBytes)
	case EntrySignature:
		limit = min(limit, MaxSignatureBytes)
	}
	return limit
}

// checkPadding reads what follows the end-of-archive marker: tar writers pad
// to a record size with zeros, anything else is smuggled data.
func checkPadding(r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if bytes.Count(buf[:n], []byte{0}) != n {
			return errorf(ErrMalformed, "data after the end of the archive")
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return readErr(err, "trailer")
		}
	}
}

// readErr classifies an error from reading the archive.
func readErr(err error, what string) error {
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	return errorf(ErrMalformed, "%s: %v", what, err)
}

// capReader yields at most left bytes of r, then fails with ErrTooLarge if r
// has more.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// Probe for one more byte: exactly maxBytes is fine.
		var one [1]byte
		n, err := io.ReadFull(c.r, one[:])
		if n > 0 {
			return 0, errorf(ErrTooLarge, "bundle over the size cap")
		}
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
