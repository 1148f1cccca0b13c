package memory

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"os"
	"testing"

	"github.com/airlock-dev/airlock/abi"
)

// fuzzAEAD is the AEAD of store ("r", agentA) under testMaster.
func fuzzAEAD(t testing.TB) cipher.AEAD {
	key, err := hkdf.Key(sha256.New, testMaster(), nil, keyInfo("r", agentA), 32)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		t.Fatal(err)
	}
	return aead
}

// seedLog writes a real log through a Store and returns its bytes.
func seedLog(f *testing.F) []byte {
	dir := f.TempDir()
	s := openStore(f, dir)
	ctx := context.Background()
	if err := s.Put(ctx, "r", agentA, []abi.Document{
		{ID: "1", Content: "first", Metadata: map[string]string{"k": "v"}}, {ID: "2", Content: "second"},
	}, apiProv, 0); err != nil {
		f.Fatal(err)
	}
	if err := s.Delete(ctx, "r", agentA, []string{"2"}); err != nil {
		f.Fatal(err)
	}
	s.Close()
	b, err := os.ReadFile(storePath(dir, "r", agentA))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzOpenLog feeds arbitrary bytes to the log reader as a store file. It
// must never panic, and whatever prefix it accepts must read back the same
// when the torn tail is cut, as load does.
func FuzzOpenLog(f *testing.F) {
	valid := seedLog(f)
	f.Add(valid)
	f.Add(valid[:len(valid)-5])
	f.Add(append(append([]byte{}, valid...), 0, 0, 0, 0))
	f.Add(append(append([]byte{}, valid...), 0xff, 0xff, 0xff, 0xff))
	f.Add(valid[:40])
	f.Add([]byte(magic))
	f.Add([]byte{})
	aead := fuzzAEAD(f)
	id := storeIDOf("r", agentA)
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs [][]byte
		res, err := scanLog(bytes.NewReader(data), aead, id, func(r record) error {
			recs = append(recs, encodeRecord(r))
			return nil
		})
		if err != nil {
			return
		}
		if res.end > res.size || res.size != int64(len(data)) || res.records != len(recs) {
			t.Fatalf("end %d, size %d, len %d, records %d/%d", res.end, res.size, len(data), res.records, len(recs))
		}
		var again [][]byte
		res2, err := scanLog(bytes.NewReader(data[:res.end]), aead, id, func(r record) error {
			again = append(again, encodeRecord(r))
			return nil
		})
		if err != nil || res2.end != res.end || res2.size != res.end || len(again) != len(recs) {
			t.Fatalf("cut log reads differently: %v %+v vs %+v", err, res2, res)
		}
		for i := range recs {
			if !bytes.Equal(recs[i], again[i]) {
				t.Fatalf("record %d differs after the cut", i)
			}
		}
	})
}

func encodeRecord(r record) []byte {
	if r.Op == opPut {
		return encodePut(r.Docs)
	}
	return encodeDelete(r.IDs)
}

// FuzzDecodeRecord checks the plaintext record decoder: no panic, and what it
// accepts re-encodes to a stable form.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodePut([]storedDoc{{ID: "1", Content: "c", Metadata: map[string]string{"a": "b"}, Embedding: []float32{1, 0}}}))
	f.Add(encodeDelete([]string{"1", "2"}))
	f.Add([]byte{opPut, 0})
	f.Add([]byte{opDelete, 1, 0})
	f.Add([]byte{9})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		for i := range r.Docs {
			if got, want := encodedSize(&r.Docs[i]), len(appendDoc(nil, &r.Docs[i])); got != want {
				t.Fatalf("encodedSize = %d, encoding is %d bytes", got, want)
			}
		}
		e1 := encodeRecord(r)
		r2, err := decodeRecord(e1)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !bytes.Equal(e1, encodeRecord(r2)) {
			t.Fatal("encoding is not stable")
		}
	})
}
