package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

var (
	// ErrRange reports a proof request for an index or tree size the log
	// does not have (or an empty or backwards range).
	ErrRange = errors.New("index or size out of range")
	// ErrProof reports a Merkle proof, or a checkpoint, that does not verify.
	ErrProof = errors.New("proof does not verify")
)

// LeafHash returns the stored RFC 6962 leaf hash of entry index.
func (l *Log) LeafHash(ctx context.Context, index int64) ([]byte, error) {
	n, err := l.sizeFor(ctx, index+1)
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= n {
		return nil, fmt.Errorf("audit: %w: entry %d of %d", ErrRange, index, n)
	}
	hashes, err := l.leafHashes(ctx, index, index+1)
	if err != nil {
		return nil, err
	}
	return hashes[0], nil
}

// InclusionProof returns the RFC 6962 inclusion proof of entry index in the
// tree of the first size entries: the sibling hashes from the leaf up to the
// root of that tree. It needs 0 <= index < size <= Size().
//
// Interior nodes come from the stored leaf hashes through a cache of
// 256-entry tile hashes (see tileLevel): the first proof over n entries
// reads them all once, later ones read at most 256 per proof node.
func (l *Log) InclusionProof(ctx context.Context, index, size int64) ([][]byte, error) {
	n, err := l.sizeFor(ctx, size)
	if err != nil {
		return nil, err
	}
	if index < 0 || size <= index || size > n {
		return nil, fmt.Errorf("audit: %w: entry %d in a tree of %d (log has %d)", ErrRange, index, size, n)
	}
	nodes, err := proof.Inclusion(uint64(index), uint64(size))
	if err != nil {
		return nil, fmt.Errorf("audit: %w: %v", ErrRange, err)
	}
	return l.prove(ctx, nodes, size)
}

// ConsistencyProof returns the RFC 6962 consistency proof that the tree of
// the first from entries is a prefix of the tree of the first to entries.
// It needs 0 < from <= to <= Size(); the proof for from == to is empty.
// Its cost is that of [Log.InclusionProof] for size to.
func (l *Log) ConsistencyProof(ctx context.Context, from, to int64) ([][]byte, error) {
	n, err := l.sizeFor(ctx, to)
	if err != nil {
		return nil, err
	}
	if from <= 0 || to < from || to > n {
		return nil, fmt.Errorf("audit: %w: consistency of %d with %d (log has %d)", ErrRange, from, to, n)
	}
	nodes, err := proof.Consistency(uint64(from), uint64(to))
	if err != nil {
		return nil, fmt.Errorf("audit: %w: %v", ErrRange, err)
	}
	return l.prove(ctx, nodes, to)
}

// prove computes the hashes of the node IDs in nodes over the first size
// entries and folds the ephemeral node.
func (l *Log) prove(ctx context.Context, nodes proof.Nodes, size int64) ([][]byte, error) {
	if len(nodes.IDs) == 0 {
		return [][]byte{}, nil
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		begin, end := id.Coverage()
		if end > uint64(size) || begin >= end {
			return nil, fmt.Errorf("audit: %w: proof node %+v outside the tree", ErrUnavailable, id)
		}
		h, err := l.nodeHash(ctx, id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	out, err := nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("audit: %w: rehash proof: %v", ErrUnavailable, err)
	}
	return out, nil
}

// tileLevel is the level of the subtrees whose hashes a Log remembers: the
// hash of every complete, aligned run of 2^tileLevel entries (a tile).
// Entries are append-only, so a complete tile's hash never changes. A
// proof node at or below the tile level is hashed from at most 256 stored
// leaf hashes; a node above it from the tiles it covers. After the first
// proof has visited the log once, a proof over n entries costs
// O(256 · log n) row reads and O(n / 256) hashing, and the cache holds 32
// bytes per 256 entries.
const tileLevel = 8

// nodeHash is the hash of the perfect subtree id.
func (l *Log) nodeHash(ctx context.Context, id compact.NodeID) ([]byte, error) {
	if id.Level <= tileLevel {
		begin, end := id.Coverage()
		leaves, err := l.leafHashes(ctx, int64(begin), int64(end))
		if err != nil {
			return nil, err
		}
		return perfectRoot(leaves)
	}
	first := id.Index << (id.Level - tileLevel)
	count := uint64(1) << (id.Level - tileLevel)
	tiles := make([][]byte, count)
	for k := range count {
		h, err := l.tileHash(ctx, first+k)
		if err != nil {
			return nil, err
		}
		tiles[k] = h
	}
	return perfectRoot(tiles)
}

// tileHash returns the hash of tile k (entries [k·256, (k+1)·256)), which
// must be complete.
func (l *Log) tileHash(ctx context.Context, k uint64) ([]byte, error) {
	l.tilesMu.Lock()
	if k < uint64(len(l.tiles)) && l.tiles[k] != nil {
		h := l.tiles[k]
		l.tilesMu.Unlock()
		return h, nil
	}
	l.tilesMu.Unlock()
	const width = 1 << tileLevel
	leaves, err := l.leafHashes(ctx, int64(k*width), int64((k+1)*width))
	if err != nil {
		return nil, err
	}
	h, err := perfectRoot(leaves)
	if err != nil {
		return nil, err
	}
	l.tilesMu.Lock()
	if k >= uint64(len(l.tiles)) {
		l.tiles = append(l.tiles, make([][]byte, k+1-uint64(len(l.tiles)))...)
	}
	l.tiles[k] = h
	l.tilesMu.Unlock()
	return h, nil
}

// perfectRoot folds the hashes of 2^j sibling nodes of one level, left to
// right, into the hash of their perfect subtree.
func perfectRoot(level [][]byte) ([]byte, error) {
	if n := len(level); n == 0 || n&(n-1) != 0 {
		return nil, fmt.Errorf("audit: %w: %d nodes do not make a perfect subtree", ErrUnavailable, n)
	}
	for len(level) > 1 {
		next := make([][]byte, len(level)/2)
		for i := range next {
			next[i] = hasher.HashChildren(level[2*i], level[2*i+1])
		}
		level = next
	}
	return level[0], nil
}

// sizeFor returns the number of durable entries, asking the database when
// this Log has not seen need of them: on a database shared by several
// nodes, the others may have appended them.
func (l *Log) sizeFor(ctx context.Context, need int64) (int64, error) {
	if n := l.Size(); n >= need {
		return n, nil
	}
	var n int64
	if err := l.db.SQL().QueryRowContext(ctx,
		`SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit: %w: log size: %v", ErrUnavailable, err)
	}
	return max(n, l.Size()), nil
}

// leafHashes reads the leaf hashes of entries [from, to), which must exist.
// Entries are append-only, so the prefix read is stable.
func (l *Log) leafHashes(ctx context.Context, from, to int64) ([][]byte, error) {
	rows, err := l.db.SQL().QueryContext(ctx,
		`SELECT idx, leaf_hash FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx`, from, to)
	if err != nil {
		return nil, fmt.Errorf("audit: %w: leaf hashes: %v", ErrUnavailable, err)
	}
	defer rows.Close()
	out := make([][]byte, 0, to-from)
	for rows.Next() {
		var (
			idx int64
			h   []byte
		)
		if err := rows.Scan(&idx, &h); err != nil {
			return nil, fmt.Errorf("audit: %w: leaf hashes: %v", ErrUnavailable, err)
		}
		if idx != from+int64(len(out)) || len(h) != hasher.Size() {
			return nil, fmt.Errorf("audit: %w: entry %d missing or malformed", ErrTampered, from+int64(len(out)))
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: %w: leaf hashes: %v", ErrUnavailable, err)
	}
	if int64(len(out)) != to-from {
		return nil, fmt.Errorf("audit: %w: entry %d missing", ErrTampered, from+int64(len(out)))
	}
	return out, nil
}

// VerifyInclusion checks that leafHash is entry index of the RFC 6962 tree
// of size entries whose root is root. leafHash must be a leaf hash
// (SHA-256(0x00 || leaf)); the domain separation of RFC 6962 is what keeps
// an interior node from passing as a leaf.
func VerifyInclusion(leafHash []byte, index, size int64, root []byte, p [][]byte) error {
	if index < 0 || size <= index {
		return fmt.Errorf("audit: %w: entry %d in a tree of %d", ErrProof, index, size)
	}
	if err := proof.VerifyInclusion(hasher, uint64(index), uint64(size), leafHash, p, root); err != nil {
		return fmt.Errorf("audit: %w: inclusion of entry %d in tree %d: %v", ErrProof, index, size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree of size1 entries with root root1
// is a prefix of the tree of size2 entries with root root2. A shrinking log
// (size2 < size1) never verifies.
func VerifyConsistency(size1, size2 int64, root1, root2 []byte, p [][]byte) error {
	if size1 < 0 || size2 < size1 {
		return fmt.Errorf("audit: %w: tree of %d cannot grow into a tree of %d", ErrProof, size1, size2)
	}
	if err := proof.VerifyConsistency(hasher, uint64(size1), uint64(size2), p, root1, root2); err != nil {
		return fmt.Errorf("audit: %w: consistency of tree %d with tree %d: %v", ErrProof, size1, size2, err)
	}
	return nil
}

// OpenCheckpoint verifies the signed note of a checkpoint with the host key
// pub for origin and returns its tree size and root. A note signed by any
// other key, for another origin, or whose body is not exactly a
// tlog-checkpoint is refused (ErrProof).
func OpenCheckpoint(signed []byte, origin string, pub ed25519.PublicKey) (size int64, root []byte, err error) {
	v, err := NoteVerifier(origin, pub)
	if err != nil {
		return 0, nil, err
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return 0, nil, fmt.Errorf("audit: %w: checkpoint signature does not verify with the host key: %v", ErrProof, err)
	}
	o, size, root, err := parseCheckpoint(n.Text)
	switch {
	case err != nil:
		return 0, nil, fmt.Errorf("audit: %w: %v", ErrProof, err)
	case o != origin:
		return 0, nil, fmt.Errorf("audit: %w: checkpoint origin %q, want %q", ErrProof, o, origin)
	}
	return size, bytes.Clone(root), nil
}
