package sqldb

import (
	"sync"
	"sync/atomic"
)

// maxMemo bounds a Memo: past it, the answers are dropped and gathered
// again.
const maxMemo = 1 << 16

// Memo remembers the answers of lookups in a table that only this process
// writes, so that a check made on every request (is this grant revoked, is
// this agent quarantined, which policy version is current) reads the
// database once, not every time. It is on only for SQLite: the file
// belongs to one host process, so every write to the table goes through
// the store that owns the Memo, which calls Invalidate after it. On
// PostgreSQL other nodes write the same tables, and a Memo never answers
// (every lookup reads the database, as without it).
//
// The protocol: a lookup that missed notes Gen before it reads the
// database and stores its answer with Put(gen, …), which keeps it only if
// no write was invalidated in between; a writer calls Invalidate once its
// write has committed — or failed, since a failed COMMIT may still have
// reached the disk. An answer read before a write is then either dropped
// by the Invalidate that follows the write, or refused by Put: no lookup
// that starts after a write has returned sees the state before it.
//
// The generation belongs to the DB and the table: every Memo of one table
// on one DB (two stores opened on it, say) sees the others' Invalidate.
type Memo[K comparable, V any] struct {
	on   bool
	gen  *atomic.Uint64 // the table's writes on this DB
	mu   sync.Mutex
	seen uint64 // the generation m holds answers of
	m    map[K]V
}

// NewMemo returns a Memo for lookups in table of db: one that answers on
// SQLite, and never on PostgreSQL.
func NewMemo[K comparable, V any](db *DB, table string) *Memo[K, V] {
	c := &Memo[K, V]{gen: new(atomic.Uint64), m: map[K]V{}}
	if db != nil {
		g, _ := db.memoGens.LoadOrStore(table, c.gen)
		c.gen, c.on = g.(*atomic.Uint64), db.dialect == SQLite
	}
	return c
}

// Get returns the remembered answer for k.
func (c *Memo[K, V]) Get(k K) (V, bool) {
	var zero V
	if c == nil || !c.on {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.gen.Load(); g != c.seen {
		clear(c.m)
		c.seen = g
	}
	v, ok := c.m[k]
	if !ok {
		return zero, false
	}
	return v, true
}

// Gen returns the current generation: note it before reading the database
// for an answer to Put.
func (c *Memo[K, V]) Gen() uint64 {
	if c == nil {
		return 0
	}
	return c.gen.Load()
}

// Put remembers v for k, read from the database after Gen returned gen,
// unless a write was invalidated since.
func (c *Memo[K, V]) Put(gen uint64, k K, v V) {
	if c == nil || !c.on {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen.Load() {
		return
	}
	if gen != c.seen || len(c.m) >= maxMemo {
		clear(c.m)
		c.seen = gen
	}
	c.m[k] = v
}

// Invalidate forgets every answer: call it after each write to the table,
// whatever its outcome.
func (c *Memo[K, V]) Invalidate() {
	if c == nil {
		return
	}
	c.gen.Add(1)
}
