package memory

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/airlock-dev/airlock/host/embed"
)

// Record operations. A record is the plaintext sealed into one frame of a
// store's log: every document of one Put, or every id of one Delete, so that
// a crash applies a call entirely or not at all.
const (
	opPut    byte = 1
	opDelete byte = 2
)

// Decoder bounds. Records are authenticated before they are decoded, so these
// are defence in depth against a bug or a key compromise, not the first line.
const (
	maxRecordDocs = MaxDocsPerPut
	maxString     = MaxDocBytes
	maxRecordMeta = MaxMetaKeys + 3 // the reserved provenance keys
)

// storedDoc is a document as the log holds it: the caller's fields, the
// reserved provenance keys inside Metadata, and the unit-length embedding.
type storedDoc struct {
	ID        string
	Content   string
	Metadata  map[string]string
	Embedding []float32
}

// record is one decoded log record.
type record struct {
	Op   byte
	Docs []storedDoc // opPut
	IDs  []string    // opDelete
}

var errRecord = errors.New("malformed record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendDoc appends the encoding of d:
//
//	id, content, uvarint n, n × (key, value), uvarint dim, dim × float32 LE
//
// where every string is a uvarint length followed by its bytes.
func appendDoc(b []byte, d *storedDoc) []byte {
	b = appendString(b, d.ID)
	b = appendString(b, d.Content)
	b = binary.AppendUvarint(b, uint64(len(d.Metadata)))
	for _, k := range sortedKeys(d.Metadata) {
		b = appendString(b, k)
		b = appendString(b, d.Metadata[k])
	}
	b = binary.AppendUvarint(b, uint64(len(d.Embedding)))
	for _, x := range d.Embedding {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// encodedSize is the length of appendDoc's output for d, used to decide when
// a log holds enough dead bytes to be compacted.
func encodedSize(d *storedDoc) int {
	str := func(s string) int { return uvarintLen(uint64(len(s))) + len(s) }
	n := str(d.ID) + str(d.Content) + uvarintLen(uint64(len(d.Metadata)))
	for k, v := range d.Metadata {
		n += str(k) + str(v)
	}
	return n + uvarintLen(uint64(len(d.Embedding))) + 4*len(d.Embedding)
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// encodePut encodes a put record of docs.
func encodePut(docs []storedDoc) []byte {
	b := []byte{opPut}
	b = binary.AppendUvarint(b, uint64(len(docs)))
	for i := range docs {
		b = appendDoc(b, &docs[i])
	}
	return b
}

// encodeDelete encodes a delete record of ids.
func encodeDelete(ids []string) []byte {
	b := []byte{opDelete}
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendString(b, id)
	}
	return b
}

// decoder reads the encoding of record.go, refusing anything out of bounds.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint(max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > max {
		d.err = errRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint(maxString)
	if d.err != nil {
		return ""
	}
	if uint64(len(d.b)) < n {
		d.err = errRecord
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) doc() storedDoc {
	var doc storedDoc
	doc.ID = d.string()
	doc.Content = d.string()
	if n := d.uvarint(maxRecordMeta); n > 0 {
		doc.Metadata = make(map[string]string, n)
		for range n {
			k := d.string()
			doc.Metadata[k] = d.string()
		}
		if uint64(len(doc.Metadata)) != n {
			d.err = errRecord // a repeated key
		}
	}
	dim := d.uvarint(embed.MaxDim)
	if d.err != nil {
		return doc
	}
	if dim == 0 || uint64(len(d.b)) < 4*dim {
		d.err = errRecord
		return doc
	}
	doc.Embedding = make([]float32, dim)
	for i := range doc.Embedding {
		doc.Embedding[i] = math.Float32frombits(binary.LittleEndian.Uint32(d.b))
		d.b = d.b[4:]
	}
	return doc
}

// decodeRecord parses one record plaintext. It refuses unknown operations,
// counts and lengths out of bounds, repeated metadata keys and trailing bytes.
func decodeRecord(b []byte) (record, error) {
	if len(b) == 0 {
		return record{}, errRecord
	}
	r := record{Op: b[0]}
	d := &decoder{b: b[1:]}
	switch r.Op {
	case opPut:
		n := d.uvarint(maxRecordDocs)
		if d.err == nil && n == 0 {
			d.err = errRecord
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			r.Docs = append(r.Docs, d.doc())
		}
	case opDelete:
		n := d.uvarint(maxRecordDocs)
		if d.err == nil && n == 0 {
			d.err = errRecord
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			r.IDs = append(r.IDs, d.string())
		}
	default:
		return record{}, errRecord
	}
	if d.err != nil || len(d.b) != 0 {
		return record{}, errRecord
	}
	return r, nil
}
