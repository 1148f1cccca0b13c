package memory

import (
	"bufio"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The log file of one store:
//
//	header  magic (8) ‖ file id (16) ‖ seal(key, "", headerAAD)   (28)
//	record  length (uint32 BE) ‖ seal(key, plaintext, recordAAD(seq))
//
// seal is AES-256-GCM with a fresh random 96-bit nonce prepended
// (cipher.NewGCMWithRandomNonce). headerAAD binds the store id and the file
// id; recordAAD(seq) binds the store id, the file id and the record's
// position, so a frame cannot be moved to another store, to another
// generation of this store's file, or to another place in the file.
const (
	magic      = "AIRLMEM\x01"
	fileIDSize = 16
	// maxFrame bounds one sealed record: a full Put of MaxDocsPerPut
	// documents at their limits with a MaxDim embedding fits with room.
	maxFrame = 32 << 20
	// fileMode and dirMode keep other users out of the store files.
	fileMode os.FileMode = 0o600
	dirMode  os.FileMode = 0o700
)

const (
	headerLabel = "airlock/memory/v1 header\x00"
	recordLabel = "airlock/memory/v1 record\x00"
)

// errCorrupt reports a store file that cannot be read as written by this
// host: wrong master key, a file copied from another store, or tampering
// anywhere but at the tail. The file is left untouched.
var errCorrupt = errors.New("store file unreadable (wrong master key, copied or tampered)")

// sealer seals and opens the frames of one store's file.
type sealer struct {
	aead   cipher.AEAD
	store  storeID
	fileID [fileIDSize]byte
}

func (s *sealer) headerAAD() []byte {
	b := make([]byte, 0, len(headerLabel)+len(s.store)+fileIDSize)
	b = append(b, headerLabel...)
	b = append(b, s.store[:]...)
	return append(b, s.fileID[:]...)
}

func (s *sealer) recordAAD(seq uint64) []byte {
	b := make([]byte, 0, len(recordLabel)+len(s.store)+fileIDSize+8)
	b = append(b, recordLabel...)
	b = append(b, s.store[:]...)
	b = append(b, s.fileID[:]...)
	return binary.BigEndian.AppendUint64(b, seq)
}

// header returns the file header for s.fileID.
func (s *sealer) header() []byte {
	b := append([]byte(magic), s.fileID[:]...)
	return s.aead.Seal(b, nil, nil, s.headerAAD())
}

func (s *sealer) headerSize() int { return len(magic) + fileIDSize + s.aead.Overhead() }

// frame seals plain as record seq and prefixes its length.
func (s *sealer) frame(seq uint64, plain []byte) ([]byte, error) {
	n := len(plain) + s.aead.Overhead()
	if n > maxFrame {
		return nil, fmt.Errorf("record of %d bytes over the %d-byte frame cap", n, maxFrame)
	}
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+n), uint32(n))
	return s.aead.Seal(b, nil, plain, s.recordAAD(seq)), nil
}

// scanResult is what reading a log found.
type scanResult struct {
	fileID  [fileIDSize]byte
	records int   // valid records, so the next seq
	end     int64 // offset just past the last valid record
	size    int64 // bytes read in all (end < size: a torn tail)
}

// scanLog reads a whole log from r with aead and store, calling apply for
// every record in order. A tail that is not a complete, authentic record
// (a crash mid-append) ends the scan: end marks where it starts. A record
// that fails authentication with more bytes after it, a bad header, and an
// authentic record that does not decode are errCorrupt.
func scanLog(r io.Reader, aead cipher.AEAD, store storeID, apply func(record) error) (scanResult, error) {
	var res scanResult
	br := bufio.NewReaderSize(r, 1<<16)
	s := &sealer{aead: aead, store: store}

	hdr := make([]byte, s.headerSize())
	if _, err := io.ReadFull(br, hdr); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return res, errCorrupt
		}
		return res, err
	}
	if string(hdr[:len(magic)]) != magic {
		return res, errCorrupt
	}
	copy(s.fileID[:], hdr[len(magic):])
	if _, err := aead.Open(nil, nil, hdr[len(magic)+fileIDSize:], s.headerAAD()); err != nil {
		return res, errCorrupt
	}
	res.fileID = s.fileID
	res.end = int64(len(hdr))
	res.size = res.end

	var lenBuf [4]byte
	for seq := uint64(0); ; seq++ {
		n, err := io.ReadFull(br, lenBuf[:])
		res.size += int64(n)
		if errors.Is(err, io.EOF) {
			return res, nil // clean end
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return res, nil // torn length
		}
		if err != nil {
			return res, err
		}
		l := binary.BigEndian.Uint32(lenBuf[:])
		if l <= uint32(aead.Overhead()) || l > maxFrame {
			// A length no writer produces: the tail of a torn append
			// (zero-filled by the file system, or a prefix of a frame).
			rest, err := io.Copy(io.Discard, br)
			res.size += rest
			return res, err
		}
		// Read what is there rather than allocating what the length
		// claims: a torn length must not cost 32 MiB.
		buf, err := io.ReadAll(io.LimitReader(br, int64(l)))
		res.size += int64(len(buf))
		if err != nil {
			return res, err
		}
		if len(buf) < int(l) {
			return res, nil // torn frame
		}
		plain, err := aead.Open(buf[:0], nil, buf, s.recordAAD(seq))
		if err != nil {
			if _, perr := br.Peek(1); perr == io.EOF {
				return res, nil // failing last record: torn
			}
			return res, errCorrupt
		}
		rec, err := decodeRecord(plain)
		if err != nil {
			return res, errCorrupt
		}
		if err := apply(rec); err != nil {
			return res, err
		}
		res.records++
		res.end = res.size
	}
}

// newFileID draws a fresh file id.
func newFileID() ([fileIDSize]byte, error) {
	var id [fileIDSize]byte
	_, err := rand.Read(id[:])
	return id, err
}

// writeAtomic writes a new log at path: header then frames, into a
// temporary file that is fsync'd and renamed over path, and the directory is
// fsync'd, so a crash leaves either the old file or the new one whole.
// It returns the open new file, positioned for appends, and its size.
func writeAtomic(path string, s *sealer, frames func(write func([]byte) error) error) (*os.File, int64, error) {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return nil, 0, err
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(tmp)
		return nil, 0, err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	size := int64(0)
	write := func(b []byte) error {
		n, err := bw.Write(b)
		size += int64(n)
		return err
	}
	if err := write(s.header()); err != nil {
		return fail(err)
	}
	if err := frames(write); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		// The rename happened; only its durability is in doubt.
		f.Close()
		return nil, 0, err
	}
	return f, size, nil
}

// syncDir fsyncs a directory so that a rename or create in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
