package sqldb

import "testing"

// TestMemo checks the remembering protocol: answers stay until a write of
// their table is invalidated, on any Memo of that table on the DB; an
// answer read before a write is refused; a Memo on PostgreSQL never
// answers; and a Memo never grows past maxMemo.
func TestMemo(t *testing.T) {
	db := &DB{dialect: SQLite}
	a := NewMemo[string, int](db, "t")
	b := NewMemo[string, int](db, "t")
	other := NewMemo[string, int](db, "u")

	if _, ok := a.Get("k"); ok {
		t.Fatal("an empty memo answers")
	}
	g := a.Gen()
	a.Put(g, "k", 1)
	other.Put(other.Gen(), "k", 7)
	if v, ok := a.Get("k"); !ok || v != 1 {
		t.Fatalf("Get = %v, %v; want 1", v, ok)
	}

	b.Invalidate() // a write through another store of the same table
	if _, ok := a.Get("k"); ok {
		t.Error("an answer survives a write of its table through another Memo")
	}
	if v, ok := other.Get("k"); !ok || v != 7 {
		t.Errorf("another table's answer = %v, %v; want 7 (untouched)", v, ok)
	}

	stale := a.Gen()
	b.Invalidate() // a write commits while a lookup reads the database
	a.Put(stale, "k", 2)
	if _, ok := a.Get("k"); ok {
		t.Error("an answer read before a write was kept")
	}

	for i := range maxMemo + 10 {
		a.Put(a.Gen(), string(rune(i)), i)
	}
	if n := len(a.m); n > maxMemo {
		t.Errorf("memo holds %d answers, more than %d", n, maxMemo)
	}

	pg := NewMemo[string, int](&DB{dialect: Postgres}, "t")
	pg.Put(pg.Gen(), "k", 1)
	if _, ok := pg.Get("k"); ok {
		t.Error("a Memo on PostgreSQL answers: other nodes write its table")
	}
}
