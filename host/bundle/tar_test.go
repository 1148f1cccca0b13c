package bundle

import (
	"archive/tar"
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	key := newKey(t)
	b := buildBundle(t, key)
	if got, want := b.FileName(), "web-1.2.0.airlock"; got != want {
		t.Errorf("FileName = %q, want %q", got, want)
	}
	data := bundleTar(t, b)
	if again := bundleTar(t, b); !bytes.Equal(data, again) {
		t.Fatal("Write is not deterministic")
	}
	got, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !bytes.Equal(got.ManifestJSON, b.ManifestJSON) || !bytes.Equal(got.Module, b.Module) || got.Signature != b.Signature {
		t.Fatal("Read does not give back what Write wrote")
	}
	if got.Manifest.Publisher != key.DID() {
		t.Errorf("publisher = %q, want %q", got.Manifest.Publisher, key.DID())
	}
	if err := got.Verify(func(did string) bool { return did == key.DID() }); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// Same inputs, same manifest bytes: the build is reproducible.
	b2, err := Build(mustJSON(t, templateMap()), testModule, key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b2.ManifestJSON, b.ManifestJSON) {
		t.Error("Build is not stable")
	}
	if strings.Contains(string(b.ManifestJSON), `\u003c`) {
		t.Error("manifest is HTML-escaped")
	}
}

func TestWriteHeaders(t *testing.T) {
	data := bundleTar(t, buildBundle(t, newKey(t)))
	tr := tar.NewReader(bytes.NewReader(data))
	var names []string
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, hdr.Name)
		if hdr.Typeflag != tar.TypeReg || hdr.Mode != 0o644 || hdr.Uid != 0 || hdr.Gid != 0 ||
			hdr.Uname != "" || hdr.Gname != "" || hdr.ModTime.Unix() != 0 {
			t.Errorf("entry %s: header %+v is not deterministic", hdr.Name, hdr)
		}
	}
	if got := strings.Join(names, ","); got != "manifest.json,module.wasm,manifest.jws" {
		t.Errorf("entries = %s", got)
	}
}

func TestRead(t *testing.T) {
	b := buildBundle(t, newKey(t))
	man, mod, sig := b.ManifestJSON, b.Module, []byte(b.Signature)
	good := func() []tarEntry {
		return []tarEntry{reg(EntryManifest, man), reg(EntryModule, mod), reg(EntrySignature, sig)}
	}
	with := func(extra ...tarEntry) []byte { return makeTar(t, append(good(), extra...)...) }
	replace := func(i int, e tarEntry) []byte {
		es := good()
		es[i] = e
		return makeTar(t, es...)
	}
	valid := makeTar(t, good()...)

	cases := []struct {
		name     string
		data     []byte
		maxBytes int64
		want     error
	}{
		{name: "valid bundle", data: valid},
		{name: "entries in another order", data: makeTar(t, reg(EntrySignature, sig), reg(EntryModule, mod), reg(EntryManifest, man))},
		{name: "zero padding after the archive, as GNU tar writes", data: append(bytes.Clone(valid), make([]byte, 10240)...)},
		{name: "unsigned bundle with an empty manifest.jws parses", data: replace(2, reg(EntrySignature, nil))},
		{name: "unsigned bundle without manifest.jws", data: makeTar(t, reg(EntryManifest, man), reg(EntryModule, mod)), want: ErrMalformed},
		{name: "missing module", data: makeTar(t, reg(EntryManifest, man), reg(EntrySignature, sig)), want: ErrMalformed},
		{name: "empty module", data: replace(1, reg(EntryModule, nil)), want: ErrMalformed},
		{name: "extra tar entry", data: with(reg("README.md", []byte("hi"))), want: ErrMalformed},
		{name: "path traversal tar entry", data: replace(0, reg("../manifest.json", man)), want: ErrMalformed},
		{name: "tar entry in a subdirectory", data: replace(0, reg("a/manifest.json", man)), want: ErrMalformed},
		{name: "tar entry with dot prefix", data: replace(0, reg("./manifest.json", man)), want: ErrMalformed},
		{name: "absolute tar entry", data: replace(0, reg("/manifest.json", man)), want: ErrMalformed},
		{name: "symlink entry", data: replace(1, tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: EntryModule, Linkname: "/etc/passwd", ModTime: time.Unix(0, 0)}}), want: ErrMalformed},
		{name: "hard link entry", data: replace(1, tarEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: EntryModule, Linkname: EntryManifest, ModTime: time.Unix(0, 0)}}), want: ErrMalformed},
		{name: "directory entry", data: with(tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "manifest.json/", Mode: 0o755, ModTime: time.Unix(0, 0)}}), want: ErrMalformed},
		{name: "character device entry", data: replace(1, tarEntry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: EntryModule, Devmajor: 1, Devminor: 5, ModTime: time.Unix(0, 0)}}), want: ErrMalformed},
		{name: "fifo entry", data: replace(1, tarEntry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: EntryModule, ModTime: time.Unix(0, 0)}}), want: ErrMalformed},
		{name: "duplicate entry swaps the module after hashing", data: with(reg(EntryModule, []byte("\x00asm evil"))), want: ErrMalformed},
		{name: "duplicate manifest", data: with(reg(EntryManifest, man)), want: ErrMalformed},
		{name: "sparse entry inflates to gigabytes", data: sparseTar(t, man, sig), want: ErrMalformed},
		{name: "oversize bundle", data: valid, maxBytes: int64(len(valid)) - 1, want: ErrTooLarge},
		{name: "bundle exactly at the cap", data: valid, maxBytes: int64(len(valid))},
		{name: "oversize module entry", data: replace(1, reg(EntryModule, bytes.Repeat([]byte{1}, 4096))), maxBytes: 4096, want: ErrTooLarge},
		{name: "oversize signature entry", data: replace(2, reg(EntrySignature, bytes.Repeat([]byte("a"), MaxSignatureBytes+1))), want: ErrTooLarge},
		{name: "oversize manifest entry", data: replace(0, reg(EntryManifest, bytes.Repeat([]byte(" "), MaxManifestBytes+1))), want: ErrTooLarge},
		{name: "data smuggled after the archive", data: append(bytes.Clone(valid), []byte("hidden payload")...), want: ErrMalformed},
		{name: "truncated archive", data: valid[:len(valid)/2], want: ErrMalformed},
		{name: "not a tar", data: []byte("PK\x03\x04 this is a zip"), want: ErrMalformed},
		{name: "empty input", data: nil, want: ErrMalformed},
		{name: "malformed manifest", data: replace(0, reg(EntryManifest, []byte(`{"name":"web"}`))), want: ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			max := tc.maxBytes
			if max == 0 {
				max = DefaultMaxBytes
			}
			got, err := Read(bytes.NewReader(tc.data), max)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if got.Manifest == nil || len(got.Module) == 0 {
					t.Fatalf("Read returned %+v", got)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Read error = %v, want %v", err, tc.want)
			}
			t.Logf("refused: %v", err)
			if got != nil {
				t.Fatal("Read returned a bundle with an error")
			}
		})
	}
}

// A reader that never ends must not be read past the cap.
func TestReadStopsAtCap(t *testing.T) {
	r := &endless{}
	_, err := Read(r, 1<<16)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Read error = %v", err)
	}
	if r.n > 1<<16+1 {
		t.Fatalf("read %d bytes past a cap of %d", r.n, 1<<16)
	}
}

// endless yields zeros forever, counting them.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	clear(p)
	e.n += int64(len(p))
	return len(p), nil
}

// sparseTar returns a bundle whose module is a GNU sparse file (PAX format
// 0.1) of 4 GB backed by one byte. archive/tar does not write GNU sparse
// records, so they are written under another prefix and renamed.
func sparseTar(t *testing.T, man, sig []byte) []byte {
	e := reg(EntryModule, []byte{1})
	e.hdr.Format = tar.FormatPAX
	e.hdr.PAXRecords = map[string]string{"XXX.sparse.numblocks": "1", "XXX.sparse.map": "0,1", "XXX.sparse.realsize": "4000000000"}
	data := makeTar(t, reg(EntryManifest, man), e, reg(EntrySignature, sig))
	if bytes.Count(data, []byte("XXX.sparse.")) != 3 {
		t.Fatal("PAX records not written")
	}
	return bytes.ReplaceAll(data, []byte("XXX.sparse."), []byte("GNU.sparse."))
}
