package audit

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
)

// leafHashOf is what a verifier computes from the leaf bytes it was shown.
func (e *env) leafHashOf(idx int) []byte { return hasher.HashLeaf(e.rows()[idx].leaf) }

func TestInclusionProofVerifiesForEveryIndex(t *testing.T) {
	onEach(t, testInclusionProofVerifiesForEveryIndex)
}

func testInclusionProofVerifiesForEveryIndex(t *testing.T, e *env) {
	const n = 13
	e.appendN(n)
	ctx := context.Background()
	for size := int64(1); size <= n; size++ {
		root := e.prefixRoot(int(size))
		for idx := int64(0); idx < size; idx++ {
			p, err := e.log.InclusionProof(ctx, idx, size)
			if err != nil {
				t.Fatalf("proof %d in %d: %v", idx, size, err)
			}
			lh, err := e.log.LeafHash(ctx, idx)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(lh, e.leafHashOf(int(idx))) {
				t.Fatalf("LeafHash(%d) is not the hash of its leaf", idx)
			}
			if err := VerifyInclusion(lh, idx, size, root, p); err != nil {
				t.Fatalf("entry %d in tree %d: %v", idx, size, err)
			}
		}
	}
}

func TestInclusionProofAttacks(t *testing.T) {
	e := newEnv(t)
	e.appendN(4)
	ctx := context.Background()
	root := e.prefixRoot(4)
	h0, h1, h2 := e.leafHashOf(0), e.leafHashOf(1), e.leafHashOf(2)
	p2, err := e.log.InclusionProof(ctx, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	p0, err := e.log.InclusionProof(ctx, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	inner := hasher.HashChildren(h0, h1)                            // node covering entries 0 and 1
	innerAsLeaf := hasher.HashLeaf(append(slices.Clone(h0), h1...)) // its children shown as leaf bytes
	flipped := func(p [][]byte) [][]byte {
		q := make([][]byte, len(p))
		for i := range p {
			q[i] = slices.Clone(p[i])
		}
		q[0][0] ^= 0x01
		return q
	}
	tests := []struct {
		name        string
		leafHash    []byte
		index, size int64
		root        []byte
		proof       [][]byte
	}{
		{"tampered proof: one bit of a sibling flipped", h2, 2, 4, root, flipped(p2)},
		{"wrong index: entry 2 claimed at index 3", h2, 3, 4, root, p2},
		{"other leaf presented with entry 2's proof", h1, 2, 4, root, p2},
		{"proof for another tree size", h2, 2, 5, root, p2},
		{"truncated proof", h2, 2, 4, root, p2[:1]},
		{"extended proof", h2, 2, 4, root, append(slices.Clone(p2), h0)},
		{"inner node passed off as a leaf hash", inner, 0, 4, root, p0[1:]},
		{"inner node's children passed off as leaf bytes in a smaller tree", innerAsLeaf, 0, 2, root, p0[1:]},
		{"index past the tree", h2, 4, 4, root, p2},
		{"negative index", h2, -1, 4, root, p2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyInclusion(tt.leafHash, tt.index, tt.size, tt.root, tt.proof)
			if !errors.Is(err, ErrProof) {
				t.Fatalf("got %v, want ErrProof", err)
			}
		})
	}
}

func TestConsistencyProofVerifiesAcrossGrowth(t *testing.T) {
	onEach(t, testConsistencyProofVerifiesAcrossGrowth)
}

func testConsistencyProofVerifiesAcrossGrowth(t *testing.T, e *env) {
	const n = 13
	e.appendN(n)
	ctx := context.Background()
	for to := int64(1); to <= n; to++ {
		for from := int64(1); from <= to; from++ {
			p, err := e.log.ConsistencyProof(ctx, from, to)
			if err != nil {
				t.Fatalf("proof %d→%d: %v", from, to, err)
			}
			if err := VerifyConsistency(from, to, e.prefixRoot(int(from)), e.prefixRoot(int(to)), p); err != nil {
				t.Fatalf("%d→%d: %v", from, to, err)
			}
		}
	}
}

func TestConsistencyProofAttacks(t *testing.T) {
	e := newEnv(t)
	e.appendN(7)
	ctx := context.Background()
	r3, r7 := e.prefixRoot(3), e.prefixRoot(7)
	p, err := e.log.ConsistencyProof(ctx, 3, 7)
	if err != nil {
		t.Fatal(err)
	}

	// A fork: another log that shares nothing with this one at size 3.
	f := newEnv(t)
	f.appendN(1)
	if _, err := f.log.Append(ctx, Entry{Realm: "default", Actor: "did:key:zAttacker", Decision: "allow"}); err != nil {
		t.Fatal(err)
	}
	f.appendN(5)
	forked3 := f.prefixRoot(3)
	forkedProof, err := f.log.ConsistencyProof(ctx, 3, 7)
	if err != nil {
		t.Fatal(err)
	}

	tampered := make([][]byte, len(p))
	for i := range p {
		tampered[i] = slices.Clone(p[i])
	}
	tampered[len(tampered)-1][5] ^= 0x80

	tests := []struct {
		name         string
		size1, size2 int64
		root1, root2 []byte
		proof        [][]byte
	}{
		{"tampered proof", 3, 7, r3, r7, tampered},
		{"forked log: remembered root differs at the same size", 3, 7, forked3, r7, p},
		{"forked log: the fork's own proof against our root", 3, 7, r3, r7, forkedProof},
		{"rolled-back log: new tree smaller than the remembered one", 7, 3, r7, r3, p},
		{"same size, different root", 7, 7, r7, f.prefixRoot(7), nil},
		{"roots swapped", 3, 7, r7, r3, p},
		{"proof for other sizes", 2, 7, e.prefixRoot(2), r7, p},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyConsistency(tt.size1, tt.size2, tt.root1, tt.root2, tt.proof)
			if !errors.Is(err, ErrProof) {
				t.Fatalf("got %v, want ErrProof", err)
			}
		})
	}
}

func TestProofOutOfRange(t *testing.T) {
	e := newEnv(t)
	e.appendN(5)
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
	}{
		{"inclusion: index equal to size", func() error { _, err := e.log.InclusionProof(ctx, 3, 3); return err }},
		{"inclusion: size past the log", func() error { _, err := e.log.InclusionProof(ctx, 0, 6); return err }},
		{"inclusion: negative index", func() error { _, err := e.log.InclusionProof(ctx, -1, 5); return err }},
		{"inclusion: empty tree", func() error { _, err := e.log.InclusionProof(ctx, 0, 0); return err }},
		{"consistency: from zero", func() error { _, err := e.log.ConsistencyProof(ctx, 0, 5); return err }},
		{"consistency: backwards", func() error { _, err := e.log.ConsistencyProof(ctx, 4, 3); return err }},
		{"consistency: to past the log", func() error { _, err := e.log.ConsistencyProof(ctx, 1, 6); return err }},
		{"leaf hash: past the log", func() error { _, err := e.log.LeafHash(ctx, 5); return err }},
		{"leaf hash: negative", func() error { _, err := e.log.LeafHash(ctx, -1); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrRange) {
				t.Fatalf("got %v, want ErrRange", err)
			}
		})
	}
}

func TestOpenCheckpoint(t *testing.T) {
	e := newEnv(t)
	e.appendN(6)
	cp := e.checkpoint()
	size, root, err := OpenCheckpoint(cp, testOrigin, e.pub())
	if err != nil {
		t.Fatal(err)
	}
	if size != 6 || !bytes.Equal(root, e.prefixRoot(6)) {
		t.Fatalf("checkpoint says size %d root %x, want 6 %x", size, root, e.prefixRoot(6))
	}

	other := testKey(9)
	tests := []struct {
		name   string
		note   []byte
		origin string
	}{
		{"checkpoint signed by another key", signedBy(t, other, testOrigin, 6, root), testOrigin},
		{"checkpoint of another origin", cp, "airlock/did:key:zOther"},
		{"one byte of the body changed", bytes.Replace(cp, []byte("\n6\n"), []byte("\n7\n"), 1), testOrigin},
		{"no signature", bytes.SplitAfter(cp, []byte("\n\n"))[0], testOrigin},
		{"garbage", []byte("not a note"), testOrigin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := OpenCheckpoint(tt.note, tt.origin, e.pub()); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// Proofs over logs of several 256-entry tiles verify, cold and with the
// tile cache warm, for nodes below, at and above the tile level.
func TestProofsAcrossTiles(t *testing.T) { onEach(t, testProofsAcrossTiles) }

func testProofsAcrossTiles(t *testing.T, e *env) {
	const n = 1100
	for _, o := range e.appendConcurrently(n, 0) {
		if o.err != nil {
			t.Fatal(o.err)
		}
	}
	ctx := context.Background()
	sizes := []int64{1, 255, 256, 257, 511, 512, 513, 768, 1024, 1025, n}
	roots := map[int64][]byte{}
	for _, s := range sizes {
		roots[s] = e.prefixRoot(int(s))
	}
	for pass := range 2 { // cold tile cache, then warm
		for _, size := range sizes {
			for _, idx := range []int64{0, 1, 127, 255, 256, 300, 511, 512, 700, 1023, 1024, size - 1} {
				if idx >= size {
					continue
				}
				p, err := e.log.InclusionProof(ctx, idx, size)
				if err != nil {
					t.Fatalf("pass %d: proof %d in %d: %v", pass, idx, size, err)
				}
				if err := VerifyInclusion(e.leafHashOf(int(idx)), idx, size, roots[size], p); err != nil {
					t.Fatalf("pass %d: entry %d in tree %d: %v", pass, idx, size, err)
				}
			}
			for _, from := range sizes {
				if from > size {
					continue
				}
				p, err := e.log.ConsistencyProof(ctx, from, size)
				if err != nil {
					t.Fatalf("pass %d: consistency %d→%d: %v", pass, from, size, err)
				}
				if err := VerifyConsistency(from, size, roots[from], roots[size], p); err != nil {
					t.Fatalf("pass %d: consistency %d→%d: %v", pass, from, size, err)
				}
			}
		}
	}
	// A leaf hash presented as the hash of a whole tile does not verify.
	p, err := e.log.InclusionProof(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyInclusion(e.leafHashOf(1), 0, n, roots[n], p); err == nil {
		t.Fatal("entry 1's leaf hash verified at index 0")
	}
}
