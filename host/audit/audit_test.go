package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/internal/pgtest"
	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "airlock/did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// dialects are the databases the tests run on.
var dialects = []sqldb.Dialect{sqldb.SQLite, sqldb.Postgres}

// env is a log on a fresh database: a SQLite file or a PostgreSQL database
// of its own.
type env struct {
	t       *testing.T
	dialect sqldb.Dialect
	path    string // SQLite
	dsn     string // PostgreSQL
	sdb     *sqldb.DB
	db      *sql.DB
	log     *Log
	key     ed25519.PrivateKey
}

// newEnv is a log on a fresh SQLite file.
func newEnv(t *testing.T) *env { return newEnvOn(t, sqldb.SQLite) }

func newEnvOn(t *testing.T, d sqldb.Dialect) *env {
	t.Helper()
	e := &env{t: t, dialect: d, key: testKey(1)}
	switch d {
	case sqldb.SQLite:
		e.path = filepath.Join(t.TempDir(), "airlock.db")
	case sqldb.Postgres:
		e.dsn = pgtest.DSN(t)
	}
	e.reopen()
	t.Cleanup(func() { e.sdb.Close() })
	return e
}

// onEach runs f as a subtest on a fresh env of every dialect.
func onEach(t *testing.T, f func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) { f(t, newEnvOn(t, d)) })
	}
}

// open opens another handle on e's database.
func (e *env) open() *sqldb.DB {
	e.t.Helper()
	var (
		db  *sqldb.DB
		err error
	)
	if e.dialect == sqldb.Postgres {
		db, err = sqldb.OpenPostgres(context.Background(), e.dsn)
	} else {
		db, err = sqldb.OpenSQLite(context.Background(), e.path)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return db
}

// reopen closes the database (if open) and opens it and the log again, as a
// host restart does.
func (e *env) reopen() {
	e.t.Helper()
	if e.sdb != nil {
		if err := e.sdb.Close(); err != nil {
			e.t.Fatal(err)
		}
	}
	e.sdb = e.open()
	e.db = e.sdb.SQL()
	var err error
	e.log, err = Open(context.Background(), e.sdb, testOrigin, e.key)
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) pub() ed25519.PublicKey { return e.key.Public().(ed25519.PublicKey) }

// appendN appends n entries alternating between two realms.
func (e *env) appendN(n int) {
	e.t.Helper()
	for range n {
		i := e.log.Size()
		realm := []string{"default", "other"}[i%2]
		_, err := e.log.Append(context.Background(), Entry{
			Realm: realm, Actor: "did:key:zAgent", Action: "invoke", Tool: "web/fetch",
			Decision: "deny", Reason: fmt.Sprintf("reason %d", i), Request: fmt.Sprintf("jti-%d", i),
			Grant: "grant-1", InputSHA256: strings.Repeat("a", 64),
		})
		if err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) checkpoint() []byte {
	e.t.Helper()
	cp, err := e.log.Checkpoint(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return cp
}

func (e *env) verify() (*Report, error) {
	e.t.Helper()
	return Verify(context.Background(), e.sdb, testOrigin, e.pub())
}

// row is a stored entry row, as an attacker with the file sees it.
type row struct {
	idx                   int64
	realm                 string
	leaf, leafHash, chain []byte
}

func (e *env) rows() []row {
	e.t.Helper()
	rs, err := e.db.Query(`SELECT idx, realm, leaf, leaf_hash, chain FROM audit_entries ORDER BY idx`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.idx, &r.realm, &r.leaf, &r.leafHash, &r.chain); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// exec runs attacker SQL after dropping (SQLite) or disabling (PostgreSQL)
// the append-only triggers, as anyone with write access to the file, or
// owning the tables, can.
func (e *env) exec(stmt string, args ...any) {
	e.t.Helper()
	var disable []string
	if e.dialect == sqldb.Postgres {
		disable = []string{"ALTER TABLE IF EXISTS audit_entries DISABLE TRIGGER USER",
			"ALTER TABLE IF EXISTS audit_checkpoints DISABLE TRIGGER USER",
			"ALTER TABLE IF EXISTS audit_heads DISABLE TRIGGER USER"}
	} else {
		for _, trg := range []string{"audit_entries_no_update", "audit_entries_no_delete",
			"audit_checkpoints_no_update", "audit_checkpoints_no_delete",
			"audit_heads_no_update", "audit_heads_no_delete"} {
			disable = append(disable, "DROP TRIGGER IF EXISTS "+trg)
		}
	}
	for _, q := range disable {
		if _, err := e.db.Exec(q); err != nil {
			e.t.Fatal(err)
		}
	}
	if _, err := e.db.Exec(stmt, args...); err != nil {
		e.t.Fatalf("%s: %v", stmt, err)
	}
}

// rewrite replaces the leaf at idx and, like a careful attacker, recomputes
// its leaf hash and the chain values of every later entry.
func (e *env) rewrite(idx int64, leaf []byte) {
	e.t.Helper()
	rows := e.rows()
	prev := genesis()
	if idx > 0 {
		prev = rows[idx-1].chain
	}
	for i := idx; i < int64(len(rows)); i++ {
		if i == idx {
			rows[i].leaf = leaf
			rows[i].leafHash = hasher.HashLeaf(leaf)
		}
		rows[i].chain = chainHash(prev, rows[i].leafHash)
		prev = rows[i].chain
		e.exec(`UPDATE audit_entries SET leaf = ?, leaf_hash = ?, chain = ? WHERE idx = ?`,
			rows[i].leaf, rows[i].leafHash, rows[i].chain, i)
	}
}

func forgedLeaf(t *testing.T, idx int64, realm, decision string) []byte {
	t.Helper()
	b, err := json.Marshal(Entry{Index: idx, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Realm: realm, Actor: "did:key:zAttacker", Action: "invoke", Decision: decision})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signedBy(t *testing.T, key ed25519.PrivateKey, name string, size int64, root []byte) []byte {
	t.Helper()
	s, err := newNoteSigner(name, key)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Sign(&note.Note{Text: formatCheckpoint(testOrigin, size, root)}, s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// naiveRoot is the RFC 6962 Merkle Tree Hash computed by its recursive
// definition, independent of the compact ranges the package uses.
func naiveRoot(leafHashes [][]byte) []byte {
	switch n := len(leafHashes); n {
	case 0:
		s := sha256.Sum256(nil)
		return s[:]
	case 1:
		return leafHashes[0]
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		return hasher.HashChildren(naiveRoot(leafHashes[:k]), naiveRoot(leafHashes[k:]))
	}
}

func (e *env) prefixRoot(size int) []byte {
	var hs [][]byte
	for _, r := range e.rows()[:size] {
		hs = append(hs, hasher.HashLeaf(r.leaf))
	}
	return naiveRoot(hs)
}

func TestVerifyDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attack   func(e *env)
		firstBad int64
	}{
		{"flipped byte in a leaf", func(e *env) {
			leaf := e.rows()[3].leaf
			leaf[bytes.Index(leaf, []byte("deny"))] ^= 0x01
			e.exec(`UPDATE audit_entries SET leaf = ? WHERE idx = 3`, leaf)
		}, 3},
		{"flipped byte in a leaf with its leaf hash recomputed", func(e *env) {
			leaf := e.rows()[3].leaf
			leaf[bytes.Index(leaf, []byte("deny"))] ^= 0x01
			e.exec(`UPDATE audit_entries SET leaf = ?, leaf_hash = ? WHERE idx = 3`, leaf, hasher.HashLeaf(leaf))
		}, 3},
		{"deleted entry", func(e *env) {
			e.exec(`DELETE FROM audit_entries WHERE idx = 2`)
		}, 2},
		{"deleted first entry", func(e *env) {
			e.exec(`DELETE FROM audit_entries WHERE idx = 0`)
		}, 0},
		{"reordered entries (swapped leaves)", func(e *env) {
			rs := e.rows()
			e.exec(`UPDATE audit_entries SET leaf = ? WHERE idx = 1`, rs[4].leaf)
			e.exec(`UPDATE audit_entries SET leaf = ? WHERE idx = 4`, rs[1].leaf)
		}, 1},
		{"reordered entries (swapped whole rows)", func(e *env) {
			rs := e.rows()
			for _, p := range [][2]int{{1, 4}, {4, 1}} {
				src := rs[p[1]]
				e.exec(`UPDATE audit_entries SET realm = ?, leaf = ?, leaf_hash = ?, chain = ? WHERE idx = ?`,
					src.realm, src.leaf, src.leafHash, src.chain, p[0])
			}
		}, 1},
		{"inserted entry with a made-up chain value", func(e *env) {
			e.exec(`UPDATE audit_entries SET idx = idx + 1000 WHERE idx >= 2`)
			e.exec(`UPDATE audit_entries SET idx = idx - 999 WHERE idx >= 1000`)
			leaf := forgedLeaf(t, 2, "default", "allow")
			e.exec(`INSERT INTO audit_entries (idx, realm, leaf, leaf_hash, chain) VALUES (2, 'default', ?, ?, ?)`,
				leaf, hasher.HashLeaf(leaf), bytes.Repeat([]byte{7}, 32))
		}, 2},
		{"inserted entry that links to its predecessor", func(e *env) {
			// The forged entry itself is consistent; the entry it displaced
			// no longer links to it.
			prev := e.rows()[1].chain
			e.exec(`UPDATE audit_entries SET idx = idx + 1000 WHERE idx >= 2`)
			e.exec(`UPDATE audit_entries SET idx = idx - 999 WHERE idx >= 1000`)
			leaf := forgedLeaf(t, 2, "default", "allow")
			lh := hasher.HashLeaf(leaf)
			e.exec(`INSERT INTO audit_entries (idx, realm, leaf, leaf_hash, chain) VALUES (2, 'default', ?, ?, ?)`,
				leaf, lh, chainHash(prev, lh))
		}, 3},
		{"appended entry that does not link", func(e *env) {
			leaf := forgedLeaf(t, 6, "default", "allow")
			e.exec(`INSERT INTO audit_entries (idx, realm, leaf, leaf_hash, chain) VALUES (6, 'default', ?, ?, ?)`,
				leaf, hasher.HashLeaf(leaf), make([]byte, 32))
		}, 6},
		{"changed chain value", func(e *env) {
			c := e.rows()[2].chain
			c[0] ^= 0xff
			e.exec(`UPDATE audit_entries SET chain = ? WHERE idx = 2`, c)
		}, 2},
		{"leaf whose index field lies", func(e *env) {
			e.rewrite(3, forgedLeaf(t, 5, "other", "deny"))
		}, 3},
		{"leaf with an unknown field", func(e *env) {
			leaf := e.rows()[3].leaf
			leaf = append(leaf[:len(leaf)-1], []byte(`,"secret":"x"}`)...)
			e.rewrite(3, leaf)
		}, 3},
		{"leaf not in canonical form", func(e *env) {
			e.rewrite(3, append([]byte(" "), e.rows()[3].leaf...))
		}, 3},
		{"leaf with trailing data", func(e *env) {
			e.rewrite(3, append(e.rows()[3].leaf, "{}"...))
		}, 3},
		{"entry moved into another realm's view", func(e *env) {
			e.exec(`UPDATE audit_entries SET realm = 'default' WHERE idx = 3`)
		}, 3},
		{"truncated log after a checkpoint", func(e *env) {
			e.checkpoint()
			e.exec(`DELETE FROM audit_entries WHERE idx >= 4`)
		}, 4},
		{"truncated log, checkpoints kept", func(e *env) {
			e.checkpoint()
			e.appendN(2)
			e.checkpoint()
			e.exec(`DELETE FROM audit_entries WHERE idx >= 5`)
		}, 5},
		{"history rewritten under a checkpoint", func(e *env) {
			e.checkpoint() // signs size 6
			e.rewrite(3, forgedLeaf(t, 3, "other", "allow"))
		}, 0},
		{"history rewritten after an earlier checkpoint", func(e *env) {
			// Only the checkpoint over 6 entries covers entry 3; the one over
			// 2 entries still vouches for entries 0 and 1.
			e.exec(`DELETE FROM audit_checkpoints`)
			e.exec(`INSERT INTO audit_checkpoints (size, note, created_at) VALUES (2, ?, 0)`,
				signedBy(t, e.key, testOrigin, 2, e.prefixRoot(2)))
			e.checkpoint()
			e.rewrite(3, forgedLeaf(t, 3, "other", "allow"))
		}, 2},
		{"checkpoint signed by another key", func(e *env) {
			e.exec(`INSERT INTO audit_checkpoints (size, note, created_at) VALUES (3, ?, 0)`,
				signedBy(t, e.key, testOrigin, 3, e.prefixRoot(3)))
			e.exec(`INSERT INTO audit_checkpoints (size, note, created_at) VALUES (6, ?, 0)`,
				signedBy(t, testKey(2), testOrigin, 6, e.prefixRoot(6)))
		}, 3},
		{"checkpoint of another log signed by the host key", func(e *env) {
			e.exec(`INSERT INTO audit_checkpoints (size, note, created_at) VALUES (6, ?, 0)`,
				signedBy(t, e.key, "airlock/did:key:zOtherHost", 6, e.prefixRoot(6)))
		}, 0},
		{"checkpoint size column changed", func(e *env) {
			e.checkpoint()
			e.exec(`UPDATE audit_checkpoints SET size = 5`)
		}, 0},
		{"audit table dropped", func(e *env) {
			e.exec(`DROP TABLE audit_checkpoints`)
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onEach(t, func(t *testing.T, e *env) {
				e.appendN(6)
				if r, err := e.verify(); err != nil {
					t.Fatalf("clean log: %v (%+v)", err, r)
				}
				tc.attack(e)
				r, err := e.verify()
				if !errors.Is(err, ErrTampered) {
					t.Fatalf("Verify = %v (%+v), want ErrTampered", err, r)
				}
				if r == nil || r.FirstBad != tc.firstBad {
					t.Fatalf("report %+v, want FirstBad %d", r, tc.firstBad)
				}
				t.Log(r.Problem)
				if r.Problem == "" {
					t.Error("report has no problem text")
				}
			})
		})
	}
}

func TestVerifyCleanLog(t *testing.T) {
	for _, tc := range []struct {
		name        string
		appends     []int // entries appended before each checkpoint
		checkpoints int
	}{
		{"empty log", nil, 0},
		{"empty log with a checkpoint", []int{0}, 1},
		{"one entry", []int{1}, 1},
		{"several checkpoints", []int{1, 2, 5, 9}, 4},
		{"entries after the last checkpoint", []int{3, 0}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onEach(t, func(t *testing.T, e *env) {
				var total int64
				for i, n := range tc.appends {
					e.appendN(n)
					total += int64(n)
					if i < tc.checkpoints {
						e.checkpoint()
					}
				}
				r, err := e.verify()
				if err != nil {
					t.Fatalf("Verify = %v (%+v)", err, r)
				}
				want := Report{Entries: total, Checkpoints: tc.checkpoints, FirstBad: -1}
				if *r != want {
					t.Errorf("report %+v, want %+v", *r, want)
				}
			})
		})
	}
}

func TestVerifyWithoutLog(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			e := &env{t: t, dialect: d}
			if d == sqldb.Postgres {
				e.dsn = pgtest.DSN(t)
			} else {
				e.path = filepath.Join(t.TempDir(), "a.db")
			}
			db := e.open()
			defer db.Close()
			if _, err := Verify(context.Background(), db, testOrigin, testKey(1).Public().(ed25519.PublicKey)); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Verify = %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestAppendAfterReopenContinuesChain(t *testing.T) {
	onEach(t, testAppendAfterReopenContinuesChain)
}

func testAppendAfterReopenContinuesChain(t *testing.T, e *env) {
	ctx := context.Background()
	e.appendN(5)
	e.checkpoint()
	e.reopen()
	if got := e.log.Size(); got != 5 {
		t.Fatalf("Size after reopen = %d, want 5", got)
	}
	idx, err := e.log.Append(ctx, Entry{Realm: "default", Action: "invoke"})
	if err != nil {
		t.Fatal(err)
	}
	if idx != 5 {
		t.Fatalf("Append after reopen = index %d, want 5", idx)
	}
	e.appendN(4)
	cp := e.checkpoint()
	n, err := note.Open(cp, note.VerifierList(mustVerifier(t, e.pub())))
	if err != nil {
		t.Fatal(err)
	}
	_, size, root, err := parseCheckpoint(n.Text)
	if err != nil {
		t.Fatal(err)
	}
	if size != 10 || !bytes.Equal(root, e.prefixRoot(10)) {
		t.Errorf("checkpoint after reopen: size %d root %x, want 10 and %x", size, root, e.prefixRoot(10))
	}
	if r, err := e.verify(); err != nil {
		t.Fatalf("Verify = %v (%+v)", err, r)
	}
}

func TestOpenRefusesBrokenLog(t *testing.T) {
	for _, tc := range []struct {
		name   string
		attack func(e *env)
	}{
		{"deleted entry", func(e *env) { e.exec(`DELETE FROM audit_entries WHERE idx = 1`) }},
		{"changed chain value", func(e *env) {
			e.exec(`UPDATE audit_entries SET chain = ? WHERE idx = 1`, make([]byte, 32))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onEach(t, func(t *testing.T, e *env) {
				e.appendN(3)
				tc.attack(e)
				if _, err := Open(context.Background(), e.sdb, testOrigin, e.key); !errors.Is(err, ErrTampered) {
					t.Fatalf("Open = %v, want ErrTampered", err)
				}
			})
		})
	}
}

func TestAppendFailsClosed(t *testing.T) {
	onEach(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.appendN(1)
		e.sdb.Close()
		if _, err := e.log.Append(ctx, Entry{Action: "invoke"}); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Append = %v, want ErrUnavailable", err)
		}
		if _, err := e.log.Checkpoint(ctx); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Checkpoint = %v, want ErrUnavailable", err)
		}
	})
}

// poison is the realm of the entries whose writes the injected faults fail.
const poison = "poison"

// faultInsert makes every INSERT of an entry of realm poison fail at once,
// as a full disk or a lost connection would.
func (e *env) faultInsert() {
	e.t.Helper()
	if e.dialect == sqldb.Postgres {
		e.sql(e.pgFaultFunction(),
			`CREATE TRIGGER fault_insert BEFORE INSERT ON audit_entries FOR EACH ROW
				WHEN (NEW.realm = 'poison') EXECUTE FUNCTION fault()`)
		return
	}
	e.sql(`CREATE TRIGGER fault_insert BEFORE INSERT ON audit_entries WHEN NEW.realm = 'poison'
		BEGIN SELECT RAISE(ABORT, 'injected fault'); END`)
}

// faultCommit makes every transaction that inserted an entry of realm
// poison fail at COMMIT, after all of its statements succeeded: on
// PostgreSQL a deferred constraint trigger, on SQLite a deferred foreign
// key that the row breaks.
func (e *env) faultCommit() {
	e.t.Helper()
	if e.dialect == sqldb.Postgres {
		e.sql(e.pgFaultFunction(),
			`CREATE CONSTRAINT TRIGGER fault_commit AFTER INSERT ON audit_entries
				DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
				WHEN (NEW.realm = 'poison') EXECUTE FUNCTION fault()`)
		return
	}
	e.sql(`CREATE TABLE fault_parent (id INTEGER PRIMARY KEY)`,
		`CREATE TABLE fault_child (pid INTEGER REFERENCES fault_parent (id) DEFERRABLE INITIALLY DEFERRED)`,
		`CREATE TRIGGER fault_commit AFTER INSERT ON audit_entries WHEN NEW.realm = 'poison'
			BEGIN INSERT INTO fault_child VALUES (NEW.idx); END`)
}

func (e *env) pgFaultFunction() string {
	return `CREATE OR REPLACE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'injected fault'; END $$`
}

// clearFaults removes the injected faults.
func (e *env) clearFaults() {
	e.t.Helper()
	if e.dialect == sqldb.Postgres {
		e.sql(`DROP TRIGGER IF EXISTS fault_insert ON audit_entries`,
			`DROP TRIGGER IF EXISTS fault_commit ON audit_entries`)
		return
	}
	e.sql(`DROP TRIGGER IF EXISTS fault_insert`, `DROP TRIGGER IF EXISTS fault_commit`)
}

// sql runs setup statements.
func (e *env) sql(stmts ...string) {
	e.t.Helper()
	for _, q := range stmts {
		if _, err := e.db.Exec(q); err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
	}
}

// outcome is what one Append returned.
type outcome struct {
	request string
	idx     int64
	err     error
}

// appendConcurrently appends n entries from n goroutines at once; every
// poisonEvery-th one (0: none) is in realm poison.
func (e *env) appendConcurrently(n, poisonEvery int) []outcome {
	var wg sync.WaitGroup
	out := make([]outcome, n)
	for i := range n {
		realm := "default"
		if poisonEvery > 0 && i%poisonEvery == 0 {
			realm = poison
		}
		out[i].request = fmt.Sprintf("req-%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].idx, out[i].err = e.log.Append(context.Background(),
				Entry{Realm: realm, Action: "invoke", Request: out[i].request})
		}()
	}
	wg.Wait()
	return out
}

// checkStored checks that the log is exactly entries 0..n-1 and that every
// acknowledged append is stored at the index it was given and every refused
// one nowhere, then that the log verifies.
func (e *env) checkStored(n int64, outs []outcome) {
	e.t.Helper()
	stored := map[string]int64{}
	for from := int64(0); ; {
		es, err := e.log.Entries(context.Background(), "", from, MaxEntries)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		for _, en := range es {
			if en.Index != from {
				e.t.Fatalf("entry %d where %d was expected", en.Index, from)
			}
			stored[en.Request] = en.Index
			from++
		}
	}
	if int64(len(stored)) != n {
		e.t.Fatalf("log has %d distinct entries, want %d", len(stored), n)
	}
	for _, o := range outs {
		idx, ok := stored[o.request]
		switch {
		case o.err == nil && (!ok || idx != o.idx):
			e.t.Errorf("acknowledged %s at %d; stored: %v at %d", o.request, o.idx, ok, idx)
		case o.err != nil && ok:
			e.t.Errorf("refused %s (%v) is stored at %d", o.request, o.err, idx)
		}
	}
	if r, err := e.verify(); err != nil || r.Entries != n {
		e.t.Fatalf("Verify = %v (%+v), want %d entries", err, r, n)
	}
}

// An append whose own INSERT fails is refused alone: the appends batched
// with it are committed, at dense indexes, and the log goes on.
func TestAppendFailureIsContained(t *testing.T) {
	onEach(t, func(t *testing.T, e *env) {
		e.appendN(2)
		e.faultInsert()
		outs := e.appendConcurrently(64, 4)
		acked := int64(2)
		for i, o := range outs {
			switch {
			case i%4 == 0 && !errors.Is(o.err, ErrUnavailable):
				t.Fatalf("poisoned append %d: %d, %v; want ErrUnavailable", i, o.idx, o.err)
			case i%4 != 0 && o.err != nil:
				t.Fatalf("append %d batched with a failing one: %v", i, o.err)
			case o.err == nil:
				acked++
			}
		}
		e.clearFaults()
		idx, err := e.log.Append(context.Background(), Entry{Realm: poison, Request: "after"})
		if err != nil || idx != acked {
			t.Fatalf("Append after recovery = %d, %v; want %d", idx, err, acked)
		}
		e.checkStored(acked+1, append(outs, outcome{request: "after", idx: idx}))
		e.checkpoint()
		e.reopen()
		if r, err := e.verify(); err != nil {
			t.Fatalf("Verify after reopen = %v (%+v)", err, r)
		}
	})
}

// A failed COMMIT fails every append of its batch (none is acknowledged
// without being durable), puts the head back, and the next appends continue
// the log with neither gap nor fork.
func TestCommitFailureLeavesNoGapOrFork(t *testing.T) {
	onEach(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.appendN(3)
		e.checkpoint()
		e.faultCommit()
		outs := e.appendConcurrently(64, 8)
		acked := int64(3)
		for i, o := range outs {
			switch {
			case o.err == nil:
				acked++
			case !errors.Is(o.err, ErrUnavailable):
				t.Fatalf("append %d: %v, want ErrUnavailable", i, o.err)
			case i%8 == 0 && !strings.Contains(o.err.Error(), "commit"):
				t.Fatalf("poisoned append %d failed before its COMMIT: %v", i, o.err)
			}
			if i%8 == 0 && o.err == nil {
				t.Fatalf("poisoned append %d acknowledged at %d", i, o.idx)
			}
		}
		if _, err := e.log.Append(ctx, Entry{Realm: poison, Request: "alone"}); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Append with a failing COMMIT = %v", err)
		}
		if got := e.log.Size(); got != acked {
			t.Fatalf("Size after failed commits = %d, want %d", got, acked)
		}
		e.clearFaults()
		var after []outcome
		for i := range 3 {
			o := outcome{request: fmt.Sprint("after-", i)}
			o.idx, o.err = e.log.Append(ctx, Entry{Realm: poison, Request: o.request})
			if o.err != nil || o.idx != acked+int64(i) {
				t.Fatalf("Append after recovery = %d, %v; want %d", o.idx, o.err, acked+int64(i))
			}
			after = append(after, o)
		}
		e.checkStored(acked+3, append(outs, after...))
		cp := e.checkpoint()
		if size, _, err := OpenCheckpoint(cp, testOrigin, e.pub()); err != nil || size != acked+3 {
			t.Fatalf("checkpoint after recovery: size %d, %v; want %d", size, err, acked+3)
		}
	})
}

func TestAppendOnlyTriggers(t *testing.T) {
	onEach(t, func(t *testing.T, e *env) {
		e.appendN(2)
		e.checkpoint()
		stmts := []string{
			`UPDATE audit_entries SET leaf = ? WHERE idx = 0`,
			`DELETE FROM audit_entries WHERE idx = 1`,
			`UPDATE audit_checkpoints SET size = 1`,
			`DELETE FROM audit_checkpoints`,
		}
		if e.dialect == sqldb.Postgres {
			stmts = append(stmts, `TRUNCATE audit_entries`, `TRUNCATE audit_checkpoints`,
				`TRUNCATE audit_checkpoints, audit_entries`)
		}
		for _, stmt := range stmts {
			var args []any
			if strings.Contains(stmt, "?") {
				args = append(args, []byte{0})
			}
			if _, err := e.db.Exec(stmt, args...); err == nil {
				t.Errorf("%s: accepted", stmt)
			} else if !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want the append-only refusal", stmt, err)
			}
		}
		if r, err := e.verify(); err != nil || r.Entries != 2 || r.Checkpoints != 1 {
			t.Fatalf("Verify = %v (%+v)", err, r)
		}
	})
}

func TestConcurrentAppendsAreDense(t *testing.T) {
	onEach(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const workers, each = 32, 50
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			idxs []int64
			outs []outcome
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					req := fmt.Sprintf("w%d-%d", w, i)
					idx, err := e.log.Append(ctx, Entry{Realm: "default", Actor: fmt.Sprint(w), Action: "invoke", Request: req})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					idxs = append(idxs, idx)
					outs = append(outs, outcome{request: req, idx: idx})
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		slices.Sort(idxs)
		for i, idx := range idxs {
			if idx != int64(i) {
				t.Fatalf("indexes not dense: position %d has %d", i, idx)
			}
		}
		if len(idxs) != workers*each || e.log.Size() != workers*each {
			t.Fatalf("%d indexes, Size %d, want %d", len(idxs), e.log.Size(), workers*each)
		}
		e.checkpoint()
		e.checkStored(workers*each, outs)
	})
}

// Two Logs on two handles of one PostgreSQL database — two nodes — append
// and checkpoint at the same time: they write one log with dense indexes,
// each sees every entry, and the checkpoints of either verify and are
// consistent with each other.
func TestNodesShareOneLog(t *testing.T) {
	ctx := context.Background()
	e := newEnvOn(t, sqldb.Postgres)
	e.appendN(2)
	db2 := e.open()
	defer db2.Close()
	b, err := Open(ctx, db2, testOrigin, e.key)
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*Log{e.log, b}
	const workers, each = 8, 25
	var (
		wg, cpWG sync.WaitGroup
		mu       sync.Mutex
		outs     []outcome
		cps      [][]byte
		stop     = make(chan struct{})
	)
	for n, lg := range nodes {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					req := fmt.Sprintf("n%d-w%d-%d", n, w, i)
					idx, err := lg.Append(ctx, Entry{Realm: "default", Actor: fmt.Sprint("node", n), Request: req})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					outs = append(outs, outcome{request: req, idx: idx})
					mu.Unlock()
				}
			}()
		}
		cpWG.Add(1)
		go func() {
			defer cpWG.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				cp, err := lg.Checkpoint(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				cps = append(cps, cp)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	cpWG.Wait()
	if t.Failed() {
		t.FailNow()
	}
	const total = 2 + 2*workers*each
	idxs := make([]int64, 0, len(outs))
	for _, o := range outs {
		idxs = append(idxs, o.idx)
	}
	slices.Sort(idxs)
	for i, idx := range idxs {
		if idx != int64(i)+2 {
			t.Fatalf("indexes of both nodes not dense: position %d has %d", i+2, idx)
		}
	}

	// Both nodes see the whole log and sign the same final checkpoint.
	var roots [2][]byte
	for n, lg := range nodes {
		es, err := lg.Entries(ctx, "", 0, MaxEntries)
		if err != nil || len(es) != total {
			t.Fatalf("node %d: Entries = %d, %v; want %d", n, len(es), err, total)
		}
		cp, err := lg.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		size, root, err := OpenCheckpoint(cp, testOrigin, e.pub())
		if err != nil || size != total {
			t.Fatalf("node %d: final checkpoint size %d, %v; want %d", n, size, err, total)
		}
		if lg.Size() != total {
			t.Fatalf("node %d: Size %d after its checkpoint, want %d", n, lg.Size(), total)
		}
		roots[n] = root
		cps = append(cps, cp)
	}
	if !bytes.Equal(roots[0], roots[1]) || !bytes.Equal(roots[0], e.prefixRoot(total)) {
		t.Fatal("the nodes' final checkpoints differ or do not match the stored entries")
	}
	// Every checkpoint signed along the way is a prefix of the final log,
	// proved by the other node.
	for i, cp := range cps {
		size, root, err := OpenCheckpoint(cp, testOrigin, e.pub())
		if err != nil {
			t.Fatalf("checkpoint %d: %v", i, err)
		}
		if size == 0 {
			continue
		}
		p, err := nodes[i%2].ConsistencyProof(ctx, size, total)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyConsistency(size, total, root, roots[0], p); err != nil {
			t.Fatalf("checkpoint %d (size %d): %v", i, size, err)
		}
	}
	// An entry appended by one node is proved by the other.
	for _, o := range outs[:10] {
		for _, lg := range nodes {
			p, err := lg.InclusionProof(ctx, o.idx, total)
			if err != nil {
				t.Fatal(err)
			}
			lh, err := lg.LeafHash(ctx, o.idx)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(lh, o.idx, total, roots[0], p); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.checkStored(total, outs)
	e.reopen()
	if e.log.Size() != total {
		t.Fatalf("Size after reopen %d, want %d", e.log.Size(), total)
	}
}

// A node that learns of other nodes' entries only when it appends still
// numbers its own after them and proves theirs.
func TestNodeCatchesUp(t *testing.T) {
	ctx := context.Background()
	e := newEnvOn(t, sqldb.Postgres)
	db2 := e.open()
	defer db2.Close()
	b, err := Open(ctx, db2, testOrigin, e.key)
	if err != nil {
		t.Fatal(err)
	}
	e.appendN(5)
	cpA := e.checkpoint()
	if _, err := b.InclusionProof(ctx, 4, 5); err != nil {
		t.Fatalf("node b cannot prove node a's entry: %v", err)
	}
	if cpB, err := b.Checkpoint(ctx); err != nil || !bytes.Equal(cpA, cpB) {
		t.Fatalf("node b's checkpoint of the same log: %v; want node a's, not a new signature", err)
	}
	idx, err := b.Append(ctx, Entry{Realm: "default", Request: "from-b"})
	if err != nil || idx != 5 {
		t.Fatalf("node b's first append = %d, %v; want 5", idx, err)
	}
	e.appendN(1)
	if got := e.log.Size(); got != 7 {
		t.Fatalf("node a Size %d, want 7", got)
	}
	if r, err := e.verify(); err != nil || r.Entries != 7 || r.Checkpoints != 1 {
		t.Fatalf("Verify = %v (%+v)", err, r)
	}
}

// Nodes starting at once on an empty database all create the tables
// without tripping over each other.
func TestConcurrentOpenCreatesSchemaOnce(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	const nodes = 6
	var wg sync.WaitGroup
	logs := make([]*Log, nodes)
	for i := range nodes {
		db, err := sqldb.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			lg, err := Open(ctx, db, testOrigin, testKey(1))
			if err != nil {
				t.Errorf("node %d: %v", i, err)
			}
			logs[i] = lg
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, lg := range logs {
		if idx, err := lg.Append(ctx, Entry{Realm: "default"}); err != nil || idx != int64(i) {
			t.Fatalf("node %d: Append = %d, %v; want %d", i, idx, err, i)
		}
	}
	var n int
	if err := logs[0].db.SQL().QueryRow(`SELECT count(*) FROM pg_trigger
		WHERE tgname LIKE 'audit_%' AND NOT tgisinternal`).Scan(&n); err != nil || n != len(pgTriggers) {
		t.Fatalf("%d append-only triggers, %v; want %d", n, err, len(pgTriggers))
	}
}

func mustVerifier(t *testing.T, pub ed25519.PublicKey) note.Verifier {
	t.Helper()
	v, err := NoteVerifier(testOrigin, pub)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCheckpointFormatIsC2SP(t *testing.T) {
	e := newEnv(t)
	e.appendN(7)
	cp := e.checkpoint()

	text, sigs, ok := strings.Cut(string(cp), "\n\n")
	if !ok {
		t.Fatalf("no blank line between body and signatures:\n%s", cp)
	}
	lines := strings.Split(text, "\n")
	wantRoot := base64.StdEncoding.EncodeToString(e.prefixRoot(7))
	if len(lines) != 3 || lines[0] != testOrigin || lines[1] != "7" || lines[2] != wantRoot {
		t.Errorf("body lines %q, want [%q \"7\" %q]", lines, testOrigin, wantRoot)
	}
	sigLine := strings.TrimSuffix(sigs, "\n")
	if strings.Contains(sigLine, "\n") || !strings.HasPrefix(sigLine, "— "+testOrigin+" ") {
		t.Errorf("signature block %q, want one line \"— %s <sig>\"", sigs, testOrigin)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sigLine, "— "+testOrigin+" "))
	if err != nil || len(raw) != 4+ed25519.SignatureSize {
		t.Errorf("signature is not base64(key hash || Ed25519 signature): %d bytes, %v", len(raw), err)
	}
	if _, err := note.Open(cp, note.VerifierList(mustVerifier(t, e.pub()))); err != nil {
		t.Errorf("note.Open with the host verifier: %v", err)
	}
	if _, err := note.Open(cp, note.VerifierList(mustVerifier(t, testKey(9).Public().(ed25519.PublicKey)))); err == nil {
		t.Error("checkpoint verifies with another key")
	}
}

func TestCheckpointNotResignedWhenUnchanged(t *testing.T) {
	onEach(t, testCheckpointNotResignedWhenUnchanged)
}

func testCheckpointNotResignedWhenUnchanged(t *testing.T, e *env) {
	ctx := context.Background()
	e.appendN(2)
	a, b := e.checkpoint(), e.checkpoint()
	e.reopen()
	c, err := e.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || !bytes.Equal(a, c) {
		t.Error("checkpoint of an unchanged log differs")
	}
	var n int
	if err := e.db.QueryRow(`SELECT count(*) FROM audit_checkpoints`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d checkpoints stored for one size, want 1", n)
	}
}

func TestRunSignsFinalCheckpoint(t *testing.T) { onEach(t, testRunSignsFinalCheckpoint) }

func testRunSignsFinalCheckpoint(t *testing.T, e *env) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.log.Run(ctx, time.Hour) // never ticks in this test
	}()
	e.appendN(3)
	cancel()
	<-done
	var size int64
	if err := e.db.QueryRow(`SELECT size FROM audit_checkpoints ORDER BY id DESC LIMIT 1`).Scan(&size); err != nil {
		t.Fatalf("no checkpoint after Run stopped: %v", err)
	}
	if size != 3 {
		t.Errorf("final checkpoint size %d, want 3", size)
	}
}

func TestEntries(t *testing.T) { onEach(t, testEntries) }

func testEntries(t *testing.T, e *env) {
	ctx := context.Background()
	e.appendN(7) // even indexes in "default", odd in "other"
	for _, tc := range []struct {
		name  string
		realm string
		from  int64
		limit int
		want  []int64
	}{
		{"all realms", "", 0, 0, []int64{0, 1, 2, 3, 4, 5, 6}},
		{"one realm sees only its entries", "default", 0, 0, []int64{0, 2, 4, 6}},
		{"other realm", "other", 0, 0, []int64{1, 3, 5}},
		{"unknown realm", "nope", 0, 0, nil},
		{"from", "default", 3, 0, []int64{4, 6}},
		{"limit", "", 2, 3, []int64{2, 3, 4}},
		{"negative from", "other", -5, 1, []int64{1}},
		{"past the end", "", 7, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.log.Entries(ctx, tc.realm, tc.from, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var idxs []int64
			for _, en := range got {
				idxs = append(idxs, en.Index)
				if tc.realm != "" && en.Realm != tc.realm {
					t.Errorf("entry %d of realm %q in %q", en.Index, en.Realm, tc.realm)
				}
				if en.Time.IsZero() || en.Time.Location() != time.UTC {
					t.Errorf("entry %d time %v, want UTC", en.Index, en.Time)
				}
			}
			if !slices.Equal(idxs, tc.want) {
				t.Errorf("indexes %v, want %v", idxs, tc.want)
			}
		})
	}
	t.Run("entry moved into another realm is not shown there", func(t *testing.T) {
		e.exec(`UPDATE audit_entries SET realm = 'default' WHERE idx = 1`)
		if _, err := e.log.Entries(ctx, "default", 0, 0); !errors.Is(err, ErrTampered) {
			t.Fatalf("Entries = %v, want ErrTampered", err)
		}
	})
}

// TestParentZeroIsRepresentable: entry 0 can be a parent (a fresh host's
// first intent), distinct from "no parent".
func TestParentZeroIsRepresentable(t *testing.T) {
	zero := int64(0)
	with, _ := json.Marshal(Entry{Parent: &zero})
	without, _ := json.Marshal(Entry{})
	if !strings.Contains(string(with), `"parent":0`) || strings.Contains(string(without), `"parent"`) {
		t.Fatalf("parent 0 = %s; no parent = %s", with, without)
	}
}

func TestEntryJSONNames(t *testing.T) {
	four := int64(4)
	b, err := json.Marshal(Entry{Parent: &four})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"index", "time", "realm", "actor", "action", "tool", "decision", "reason",
		"request", "grant", "input_sha256", "output_sha256", "parent"}
	got := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("JSON names %v, want %v", got, want)
	}
	if b, _ := json.Marshal(Entry{}); bytes.Contains(b, []byte("parent")) {
		t.Error("parent written for a top-level entry")
	}
}

func TestOpenRefusesBadArguments(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		origin string
		key    ed25519.PrivateKey
	}{
		{"origin with a space", "airlock/did:key:z x", e.key},
		{"origin with a plus", "airlock/a+b", e.key},
		{"origin with a newline", "airlock/a\nb", e.key},
		{"empty origin", "", e.key},
		{"truncated key", testOrigin, e.key[:32]},
		{"no key", testOrigin, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(context.Background(), e.sdb, tc.origin, tc.key); err == nil {
				t.Error("Open accepted it")
			}
		})
	}
}

func TestParseCheckpoint(t *testing.T) {
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name string
		text string
		ok   bool
	}{
		{"valid", "o\n5\n" + root + "\n", true},
		{"zero size", "o\n0\n" + root + "\n", true},
		{"negative size", "o\n-1\n" + root + "\n", false},
		{"size with a plus sign", "o\n+5\n" + root + "\n", false},
		{"size with leading zeros", "o\n05\n" + root + "\n", false},
		{"size overflowing int64", "o\n9223372036854775808\n" + root + "\n", false},
		{"short root", "o\n5\nAAAA\n", false},
		{"root not base64", "o\n5\n!!\n", false},
		{"unpadded root", "o\n5\n" + strings.TrimRight(root, "=") + "\n", false},
		{"extension line", "o\n5\n" + root + "\next\n", false},
		{"missing final newline", "o\n5\n" + root, false},
		{"empty origin", "\n5\n" + root + "\n", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := parseCheckpoint(tc.text)
			if (err == nil) != tc.ok {
				t.Errorf("parseCheckpoint err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
