package audit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// sameHead fails unless the two heads are the same log state.
func sameHead(t *testing.T, got, want head) {
	t.Helper()
	if got.size != want.size || !bytes.Equal(got.chain, want.chain) ||
		!slices.EqualFunc(got.tree.Hashes(), want.tree.Hashes(), bytes.Equal) {
		t.Fatalf("head after reopen: size %d, want %d (or chain or frontier differ)", got.size, want.size)
	}
}

// headRows returns the sizes stored in audit_heads.
func (e *env) headRows() []int64 {
	e.t.Helper()
	rs, err := e.db.Query(`SELECT size FROM audit_heads ORDER BY size`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var out []int64
	for rs.Next() {
		var n int64
		if err := rs.Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// TestOpenStartsFromStoredHead: each checkpoint stores the head it
// covers, and Open starts from the latest one and reads only the entries
// after it. The proof that it does not read the older ones: an older
// entry whose chain value no longer links (which a full reload refuses)
// does not stop it — while Verify still reports that entry.
func TestOpenStartsFromStoredHead(t *testing.T) {
	onEach(t, func(t *testing.T, e *env) {
		e.appendN(5)
		e.checkpoint()
		e.appendN(7)
		e.checkpoint()
		e.appendN(3) // after the last checkpoint: read at Open
		if got := e.headRows(); !slices.Equal(got, []int64{5, 12}) {
			t.Fatalf("stored heads at sizes %v, want [5 12]", got)
		}
		want := e.log.head.clone()

		e.reopen()
		sameHead(t, e.log.head, want)
		if e.log.Size() != 15 {
			t.Fatalf("Size = %d after reopen, want 15", e.log.Size())
		}

		e.exec(`UPDATE audit_entries SET chain = ? WHERE idx = 2`, bytes.Repeat([]byte{7}, 32))
		e.reopen()
		sameHead(t, e.log.head, want)
		if r, err := e.verify(); !errors.Is(err, ErrTampered) || r == nil || r.FirstBad != 2 {
			t.Fatalf("Verify = %v (%+v), want ErrTampered at entry 2", err, r)
		}

		// The log goes on from the stored head as it would have from a
		// full reload: the next checkpoint verifies.
		e.exec(`UPDATE audit_entries SET chain = ? WHERE idx = 2`, e.chainOf(2))
		e.appendN(1)
		e.checkpoint()
		if r, err := e.verify(); err != nil {
			t.Fatalf("Verify after appending from a stored head: %+v, %v", r, err)
		}
	})
}

// chainOf recomputes the chain value of entry idx from the leaf hashes.
func (e *env) chainOf(idx int64) []byte {
	e.t.Helper()
	c := genesis()
	for _, r := range e.rows()[:idx+1] {
		c = chainHash(c, r.leafHash)
	}
	return c
}

// TestUnusableStoredHeadFallsBack: a stored head that its signed
// checkpoint, or the entries, do not confirm is not used: Open says why
// in its log and rebuilds the head from every entry, refusing a broken
// chain as before.
func TestUnusableStoredHeadFallsBack(t *testing.T) {
	for _, c := range []struct {
		name   string
		tamper func(e *env)
		reason string
	}{
		{"frontier rewritten", func(e *env) {
			e.exec(`UPDATE audit_heads SET frontier = ? WHERE size = 8`, bytes.Repeat([]byte{1}, 32))
		}, "frontier"},
		{"its checkpoint removed: the head before it is used", func(e *env) {
			e.exec(`DELETE FROM audit_checkpoints WHERE size = 8`)
		}, ""},
		{"chain value differs from the entry's", func(e *env) {
			e.exec(`UPDATE audit_heads SET chain = ? WHERE size = 8`, bytes.Repeat([]byte{2}, 32))
		}, "another chain value"},
		{"signed by another key", func(e *env) { e.key = testKey(9) }, "does not verify"},
	} {
		t.Run(c.name, func(t *testing.T) {
			onEach(t, func(t *testing.T, e *env) {
				e.appendN(4)
				e.checkpoint()
				e.appendN(4)
				e.checkpoint()
				e.appendN(2)
				want := e.log.head.clone()
				c.tamper(e)

				var logged strings.Builder
				lg := slog.New(slog.NewTextHandler(&logged, nil))
				if err := e.sdb.Close(); err != nil {
					t.Fatal(err)
				}
				e.sdb = e.open()
				e.db = e.sdb.SQL()
				l, err := Open(context.Background(), e.sdb, testOrigin, e.key, WithLogger(lg))
				if err != nil {
					t.Fatal(err)
				}
				if c.reason == "" {
					if strings.Contains(logged.String(), "rebuild") {
						t.Fatalf("fell back although the head at size 4 is usable: %s", logged.String())
					}
				} else if !strings.Contains(logged.String(), c.reason) {
					t.Fatalf("log %q does not say %q", logged.String(), c.reason)
				}
				sameHead(t, l.head, want)

				// Entries read at Open are still checked: a chain that does
				// not link after the head it starts from is refused.
				e.exec(`UPDATE audit_entries SET chain = ? WHERE idx = 5`, bytes.Repeat([]byte{3}, 32))
				if _, err := Open(context.Background(), e.sdb, testOrigin, e.key, WithLogger(lg)); !errors.Is(err, ErrTampered) {
					t.Fatalf("Open over a broken chain: %v, want ErrTampered", err)
				}
			})
		})
	}
}
