package bench

// Audit log benchmarks (issue 4 §6, BENCHMARKS.md "Audit"):
//
//   - BenchmarkAuditAppends: durable appends per second, sequential and
//     with 8 and 32 concurrent appenders, on SQLite opened as internal/node
//     opens it (store.Open: WAL, synchronous=FULL; then audit.Open), and on
//     PostgreSQL (AIRLOCK_BENCH_POSTGRES, or a private server).
//   - BenchmarkAuditVerify1M: audit.Verify of a 1,000,000-entry log.
//   - BenchmarkAuditOpen1M: audit.Open of that log (what a host restart pays
//     to reload the head: from the head stored with its last checkpoint).
//   - BenchmarkAuditRebuild1M: audit.Open when no stored head is usable,
//     which rebuilds the head from every entry.
//   - BenchmarkAuditProof: inclusion and consistency proofs in trees of
//     1k, 100k and 1M entries: time to build one, time to verify one, and
//     its size.
//
// The 1M-entry log is built once with audit's own Append over a SQLite file
// opened like a host's but WITHOUT fsync (synchronous=OFF: a fixture, not a
// host), with a signed checkpoint every 100,000 entries and at 1,000, then
// cached as build/bench/audit-1m-v2.db (and its benchmark-only signing key,
// audit-1m-v2.key) so later runs skip the build. `make bench-audit-1m` builds
// it alone; delete the two files to rebuild.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/internal/pgtest"
	"github.com/airlock-dev/airlock/internal/wasmbuild"
)

// PostgresEnv names a PostgreSQL DSN (loopback only) for the PostgreSQL
// variant of BenchmarkAuditAppends; unset, a private server is started.
const PostgresEnv = "AIRLOCK_BENCH_POSTGRES"

// fixture1MEntries is the size of the cached large log.
const fixture1MEntries = 1_000_000

// fixtureOrigin is the checkpoint origin of the cached log.
const fixtureOrigin = "airlock/bench-fixture"

// benchEntry is the i-th entry appended by the benchmarks: the size and
// shape of a real intent's "allow" entry.
func benchEntry(i int) audit.Entry {
	return audit.Entry{
		Realm:       realm,
		Actor:       fmt.Sprintf("did:key:z6MkbenchAgent%06d", i%1000),
		Action:      "invoke",
		Tool:        echoTool,
		Decision:    "allow",
		Reason:      "granted",
		Request:     fmt.Sprintf("jti-%012d", i),
		Grant:       "sha256:8f14e45fceea167a5a36dedd4bea2543e6b4f1c7e0c1b9d1f2b3c4d5e6f70819",
		InputSHA256: "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
	}
}

// openAudit opens the audit log in an already open database: the one
// place to adapt if audit.Open's handle type changes again.
func openAudit(ctx context.Context, db *sqldb.DB, origin string, priv ed25519.PrivateKey) (*audit.Log, error) {
	return audit.Open(ctx, db, origin, priv)
}

// verifyAudit runs audit.Verify; like openAudit, the one place to adapt.
func verifyAudit(ctx context.Context, db *sqldb.DB, origin string, pub ed25519.PublicKey) (*audit.Report, error) {
	return audit.Verify(ctx, db, origin, pub)
}

// appendTarget is an audit log to append to and how to release it.
type appendTarget struct {
	log   *audit.Log
	close func() error
}

// openSQLiteAudit opens a new host database in a temporary directory the
// way internal/node does: store.Open (WAL, synchronous=FULL), then the
// audit log on it.
func openSQLiteAudit(tb testing.TB) appendTarget {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(tb.TempDir(), "airlock.db"))
	if err != nil {
		tb.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := openAudit(ctx, db.SQLDB(), "airlock/bench", priv)
	if err != nil {
		db.Close()
		tb.Fatal(err)
	}
	return appendTarget{log: l, close: db.Close}
}

// openPostgresAudit opens the audit log on the PostgreSQL server named by
// AIRLOCK_BENCH_POSTGRES (as sqldb.OpenPostgres does for a host whose
// store is that URL) or, when it is unset, on a fresh database of a private
// server started by internal/pgtest (skipped when PostgreSQL is not
// installed). A log already in that database is appended to; a fresh
// database per run keeps the numbers comparable.
func openPostgresAudit(tb testing.TB) appendTarget {
	tb.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		dsn = pgtest.DSN(tb)
	}
	ctx := context.Background()
	db, err := sqldb.OpenPostgres(ctx, dsn)
	if err != nil {
		tb.Fatalf("%s: %v", PostgresEnv, err) // sqldb's errors redact the password
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := openAudit(ctx, db, "airlock/bench", priv)
	if err != nil {
		db.Close()
		tb.Fatalf("audit.Open on PostgreSQL: %v", err)
	}
	return appendTarget{log: l, close: db.Close}
}

// appendConcurrently appends n entries with the given number of
// goroutines, each taking the next entry number until n are done, and
// returns the first error.
func appendConcurrently(ctx context.Context, l *audit.Log, appenders, n int) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first atomic.Pointer[error]
	)
	for range appenders {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || first.Load() != nil {
					return
				}
				if _, err := l.Append(ctx, benchEntry(i)); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

// BenchmarkAuditAppends measures durable audit appends:
// BenchmarkAuditAppends/db={sqlite,postgres}/appenders={1,8,32}. ns/op is
// wall time per append; appends/s is its inverse. Each sub-benchmark runs
// on a new, empty log.
func BenchmarkAuditAppends(b *testing.B) {
	for _, db := range []struct {
		name string
		open func(testing.TB) appendTarget
	}{{"sqlite", openSQLiteAudit}, {"postgres", openPostgresAudit}} {
		b.Run("db="+db.name, func(b *testing.B) {
			for _, n := range []int{1, 8, 32} {
				b.Run(fmt.Sprintf("appenders=%d", n), func(b *testing.B) {
					t := db.open(b)
					defer func() {
						if err := t.close(); err != nil {
							b.Error(err)
						}
					}()
					ctx := context.Background()
					size0 := t.log.Size()
					b.ReportAllocs()
					b.ResetTimer()
					start := time.Now()
					if err := appendConcurrently(ctx, t.log, n, b.N); err != nil {
						b.Fatal(err)
					}
					elapsed := time.Since(start)
					b.StopTimer()
					if got := t.log.Size() - size0; got != int64(b.N) {
						b.Fatalf("log grew by %d entries, want %d", got, b.N)
					}
					b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
				})
			}
		})
	}
}

// fixture1M is the cached 1M-entry log, opened read-write by audit (for
// proofs) but never appended to.
type fixture1M struct {
	path string
	db   *sqldb.DB
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	log  *audit.Log
}

var large struct {
	once sync.Once
	f    *fixture1M
	err  error
}

// load1M opens the cached 1M-entry log, building it on first use.
func load1M(tb testing.TB) *fixture1M {
	tb.Helper()
	large.once.Do(func() {
		large.f, large.err = openFixture1M(tb)
	})
	if large.err != nil {
		tb.Fatalf("1M-entry audit fixture: %v", large.err)
	}
	return large.f
}

// fixtureDir is build/bench under the repository root.
func fixtureDir() (string, error) {
	root, err := wasmbuild.RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "build", "bench"), nil
}

func openFixture1M(tb testing.TB) (*fixture1M, error) {
	dir, err := fixtureDir()
	if err != nil {
		return nil, err
	}
	// v2: the log stores a head with each checkpoint (audit_heads); a
	// fixture built before does not, and is not used.
	path, keyPath := filepath.Join(dir, "audit-1m-v2.db"), filepath.Join(dir, "audit-1m-v2.key")
	_, errDB := os.Stat(path)
	_, errKey := os.Stat(keyPath)
	if errors.Is(errDB, os.ErrNotExist) || errors.Is(errKey, os.ErrNotExist) {
		tb.Logf("building the 1M-entry audit fixture %s (once; later runs reuse it)", path)
		start := time.Now()
		if err := buildFixture(context.Background(), dir, path, keyPath, fixture1MEntries); err != nil {
			return nil, err
		}
		tb.Logf("built the 1M-entry audit fixture in %s", time.Since(start).Round(time.Second))
	}
	seed, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s: %d bytes, want an Ed25519 seed; delete it and audit-1m.db to rebuild", keyPath, len(seed))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	db, err := openFixtureDB(context.Background(), path)
	if err != nil {
		return nil, err
	}
	l, err := openAudit(context.Background(), db, fixtureOrigin, priv)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%w (delete %s to rebuild it)", err, path)
	}
	if l.Size() != fixture1MEntries {
		db.Close()
		return nil, fmt.Errorf("%s has %d entries, want %d; delete it to rebuild", path, l.Size(), fixture1MEntries)
	}
	return &fixture1M{path: path, db: db, pub: priv.Public().(ed25519.PublicKey), priv: priv, log: l}, nil
}

// openFixtureDB opens the fixture file as a host opens its database
// (sqldb.OpenSQLite), then turns fsync off on the one write connection:
// the fixture is rebuilt from scratch whenever in doubt, and it is never a
// host's database.
func openFixtureDB(ctx context.Context, path string) (*sqldb.DB, error) {
	db, err := sqldb.OpenSQLite(ctx, path)
	if err != nil {
		return nil, err
	}
	if _, err := db.SQL().ExecContext(ctx, `PRAGMA synchronous=OFF`); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// buildFixture appends n entries with audit.Append to a new file, with a
// signed checkpoint at 1,000 entries and every 100,000, then moves it and
// its key into place (an interrupted build leaves no fixture behind).
func buildFixture(ctx context.Context, dir, path, keyPath string, n int) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	removeDB := func() {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(tmp + suffix)
		}
	}
	removeDB()
	defer removeDB()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	db, err := openFixtureDB(ctx, tmp)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	l, err := openAudit(ctx, db, fixtureOrigin, priv)
	if err != nil {
		return err
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		e := benchEntry(i)
		e.Time = base.Add(time.Duration(i) * time.Millisecond)
		if _, err := l.Append(ctx, e); err != nil {
			return err
		}
		if fixtureCheckpoint(int64(i + 1)) {
			if _, err := l.Checkpoint(ctx); err != nil {
				return err
			}
		}
	}
	// Fold the WAL into the file, so that renaming the file moves the
	// whole log.
	if _, err := db.SQL().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if fi, err := os.Stat(tmp + "-wal"); err == nil && fi.Size() > 0 {
		return fmt.Errorf("%s-wal still holds %d bytes after the checkpoint", tmp, fi.Size())
	}
	if err := os.WriteFile(keyPath, priv.Seed(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// fixtureCheckpoint reports whether the fixture has a signed checkpoint
// at size: every 100,000 entries, and the sizes the proof benchmarks need
// (1,000, and size/2+1 of each proof size for consistency proofs).
func fixtureCheckpoint(size int64) bool {
	switch size {
	case 501, 1000, 50_001, 500_001:
		return true
	}
	return size%100_000 == 0
}

// checkpointRoot returns the root of the tree of the first size entries
// from the fixture's signed checkpoint of that size, checking its
// signature.
func (f *fixture1M) checkpointRoot(tb testing.TB, size int64) []byte {
	tb.Helper()
	var signed []byte
	if err := f.db.SQL().QueryRow(`SELECT note FROM audit_checkpoints WHERE size = ? ORDER BY id LIMIT 1`, size).Scan(&signed); err != nil {
		tb.Fatalf("checkpoint of size %d: %v", size, err)
	}
	got, root, err := audit.OpenCheckpoint(signed, fixtureOrigin, f.pub)
	if err != nil || got != size {
		tb.Fatalf("checkpoint of size %d: size %d, %v", size, got, err)
	}
	return root
}

// BenchmarkAuditVerify1M runs audit.Verify over the 1M-entry log: every
// leaf re-hashed and re-parsed, the chain recomputed, the 14 checkpoints'
// signatures and roots checked.
func BenchmarkAuditVerify1M(b *testing.B) {
	f := load1M(b)
	ctx := context.Background()
	for b.Loop() {
		r, err := verifyAudit(ctx, f.db, fixtureOrigin, f.pub)
		if err != nil {
			b.Fatal(err)
		}
		if r.Entries != fixture1MEntries || r.FirstBad != -1 {
			b.Fatalf("report %+v, want %d good entries", r, fixture1MEntries)
		}
	}
}

// BenchmarkAuditOpen1M opens the 1M-entry log as a restarting host does:
// audit.Open reads every leaf hash to rebuild the chain head and the
// compact Merkle range.
func BenchmarkAuditOpen1M(b *testing.B) {
	f := load1M(b)
	benchmarkOpen(b, f, f.priv)
}

// BenchmarkAuditRebuild1M runs audit.Open of the 1M-entry log when no
// stored head can be used — here because the host key is not the one that
// signed the checkpoints — so the head is rebuilt from every entry (what
// every restart paid before heads were stored).
func BenchmarkAuditRebuild1M(b *testing.B) {
	f := load1M(b)
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkOpen(b, f, other)
}

func benchmarkOpen(b *testing.B, f *fixture1M, key ed25519.PrivateKey) {
	ctx := context.Background()
	for b.Loop() {
		l, err := openAudit(ctx, f.db, fixtureOrigin, key)
		if err != nil {
			b.Fatal(err)
		}
		if l.Size() != fixture1MEntries {
			b.Fatalf("size %d", l.Size())
		}
	}
}

// BenchmarkAuditProof times proofs in the trees of the first 1k, 100k and
// 1M entries of the cached log:
// BenchmarkAuditProof/size=N/{inclusion,consistency}/{build,verify}.
// Inclusion is of the entry in the middle; consistency is from the tree of
// size/2+1 entries (not a power of two, so the proof is not trivially
// short). build is Log.InclusionProof/ConsistencyProof (read the prefix's
// leaf hashes, hash the needed subtrees); verify is the client's check
// against the signed root. Each reports the proof's hashes and bytes.
func BenchmarkAuditProof(b *testing.B) {
	f := load1M(b)
	ctx := context.Background()
	for _, size := range []int64{1000, 100_000, 1_000_000} {
		root := f.checkpointRoot(b, size)
		b.Run(fmt.Sprintf("size=%s", sizeName(size)), func(b *testing.B) {
			idx := size / 2
			leaf, err := f.log.LeafHash(ctx, idx)
			if err != nil {
				b.Fatal(err)
			}
			b.Run("inclusion", func(b *testing.B) {
				p, err := f.log.InclusionProof(ctx, idx, size)
				if err != nil {
					b.Fatal(err)
				}
				if err := audit.VerifyInclusion(leaf, idx, size, root, p); err != nil {
					b.Fatal(err)
				}
				b.Run("build", func(b *testing.B) {
					for b.Loop() {
						if _, err := f.log.InclusionProof(ctx, idx, size); err != nil {
							b.Fatal(err)
						}
					}
					reportProofSize(b, p)
				})
				b.Run("verify", func(b *testing.B) {
					for b.Loop() {
						if err := audit.VerifyInclusion(leaf, idx, size, root, p); err != nil {
							b.Fatal(err)
						}
					}
					reportProofSize(b, p)
				})
			})
			b.Run("consistency", func(b *testing.B) {
				from := size/2 + 1
				fromRoot := f.checkpointRoot(b, from)
				p, err := f.log.ConsistencyProof(ctx, from, size)
				if err != nil {
					b.Fatal(err)
				}
				if err := audit.VerifyConsistency(from, size, fromRoot, root, p); err != nil {
					b.Fatal(err)
				}
				b.Run("build", func(b *testing.B) {
					for b.Loop() {
						if _, err := f.log.ConsistencyProof(ctx, from, size); err != nil {
							b.Fatal(err)
						}
					}
					reportProofSize(b, p)
				})
				b.Run("verify", func(b *testing.B) {
					for b.Loop() {
						if err := audit.VerifyConsistency(from, size, fromRoot, root, p); err != nil {
							b.Fatal(err)
						}
					}
					reportProofSize(b, p)
				})
			})
		})
	}
}

func reportProofSize(b *testing.B, p [][]byte) {
	n := 0
	for _, h := range p {
		n += len(h)
	}
	b.ReportMetric(float64(len(p)), "hashes")
	b.ReportMetric(float64(n), "proof-bytes")
}

func sizeName(n int64) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// TestAuditFixtureBuild checks the fixture builder on a small log: the log
// it writes verifies, carries the checkpoints the proof benchmarks look
// up, and proves inclusion and consistency against them.
func TestAuditFixtureBuild(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, keyPath := filepath.Join(dir, "a.db"), filepath.Join(dir, "a.key")
	if err := buildFixture(ctx, dir, path, keyPath, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
	seed, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	db, err := openFixtureDB(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := &fixture1M{path: path, db: db, pub: priv.Public().(ed25519.PublicKey), priv: priv}
	if f.log, err = openAudit(ctx, db, fixtureOrigin, priv); err != nil {
		t.Fatal(err)
	}
	r, err := verifyAudit(ctx, db, fixtureOrigin, f.pub)
	if err != nil || r.Entries != 1000 || r.Checkpoints != 2 {
		t.Fatalf("verify: %+v, %v; want 1000 entries and checkpoints at 501 and 1000", r, err)
	}
	root, from := f.checkpointRoot(t, 1000), f.checkpointRoot(t, 501)
	leaf, err := f.log.LeafHash(ctx, 500)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.log.InclusionProof(ctx, 500, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyInclusion(leaf, 500, 1000, root, p); err != nil {
		t.Error(err)
	}
	c, err := f.log.ConsistencyProof(ctx, 501, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyConsistency(501, 1000, from, root, c); err != nil {
		t.Error(err)
	}
	if err := audit.VerifyConsistency(501, 1000, root, root, c); err == nil {
		t.Error("a consistency proof verified against the wrong old root")
	}
}

// TestAppendConcurrently checks the appenders of BenchmarkAuditAppends:
// exactly n entries, dense indexes, whatever the number of goroutines.
func TestAppendConcurrently(t *testing.T) {
	for _, appenders := range []int{1, 8} {
		tgt := openSQLiteAudit(t)
		if err := appendConcurrently(context.Background(), tgt.log, appenders, 50); err != nil {
			t.Fatal(err)
		}
		if tgt.log.Size() != 50 {
			t.Errorf("%d appenders: size %d, want 50", appenders, tgt.log.Size())
		}
		if err := tgt.close(); err != nil {
			t.Error(err)
		}
	}
}
