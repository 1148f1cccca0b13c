package sqldb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// openTable opens a fresh SQLite DB with a table t (v BLOB).
func openTable(t *testing.T) (*DB, string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE t (v BLOB)`); err != nil {
		t.Fatal(err)
	}
	return db, path
}

// insert is a Batch function adding one row.
func insert(v []byte) func(ctx context.Context, tx *Tx) error {
	return func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, v)
		return err
	}
}

// withCommitDelay sets maxCommitDelay for one test.
func withCommitDelay(t *testing.T, d time.Duration) {
	t.Helper()
	old := maxCommitDelay
	maxCommitDelay = d
	t.Cleanup(func() { maxCommitDelay = old })
}

// TestExpectSharesOneCommit checks the commit delay: a batch waits for a
// caller announced by Expect and commits both at once; a caller that
// withdraws without writing is not waited for; and a lone caller never
// waits. The delay is set to a minute, so any wait the test sees end is
// one that ended for the right reason.
func TestExpectSharesOneCommit(t *testing.T) {
	withCommitDelay(t, time.Minute)
	db, _ := openTable(t)
	ctx := context.Background()

	t.Run("the announced caller joins the commit", func(t *testing.T) {
		ctxA, doneA := db.Expect(ctx)
		defer doneA()
		ctxB, doneB := db.Expect(ctx)
		defer doneB()
		b0, c0 := db.BatchStats()
		errA := make(chan error, 1)
		go func() { errA <- db.Batch(ctxA, insert([]byte("a"))) }()
		select {
		case err := <-errA:
			t.Fatalf("A committed (%v) while B, announced, had not arrived", err)
		case <-time.After(200 * time.Millisecond):
		}
		if err := db.Batch(ctxB, insert([]byte("b"))); err != nil {
			t.Fatal(err)
		}
		if err := <-errA; err != nil {
			t.Fatal(err)
		}
		if b1, c1 := db.BatchStats(); b1-b0 != 1 || c1-c0 != 2 {
			t.Errorf("%d batches for %d callers, want 1 for 2", b1-b0, c1-c0)
		}
	})

	t.Run("a withdrawn caller is not waited for", func(t *testing.T) {
		ctxA, doneA := db.Expect(ctx)
		defer doneA()
		_, doneB := db.Expect(ctx)
		errA := make(chan error, 1)
		go func() { errA <- db.Batch(ctxA, insert([]byte("a"))) }()
		time.Sleep(50 * time.Millisecond)
		doneB()
		doneB() // idempotent: the count must not go below the callers still coming
		answered(t, errA, "A still waits for B, which withdrew")
		if n := db.coming.Load(); n != 0 {
			t.Errorf("%d callers still counted as coming, want 0", n)
		}
	})

	t.Run("a caller withdrawn after a while is no longer waited for", func(t *testing.T) {
		ctxA, doneA := db.Expect(ctx)
		defer doneA()
		ctxB, doneB := db.Expect(ctx)
		defer doneB()
		stop := WithdrawAfter(ctxB, 100*time.Millisecond)
		defer stop()
		errA := make(chan error, 1)
		go func() { errA <- db.Batch(ctxA, insert([]byte("a"))) }()
		answered(t, errA, "A still waits for B, whose announcement should have lapsed")
		// B, arriving late, commits on its own.
		if err := db.Batch(ctxB, insert([]byte("b"))); err != nil {
			t.Fatal(err)
		}
		if n := db.coming.Load(); n != 0 {
			t.Errorf("%d callers still counted as coming, want 0", n)
		}
	})

	t.Run("a withdrawal stopped in time keeps the announcement", func(t *testing.T) {
		ctxA, doneA := db.Expect(ctx)
		defer doneA()
		ctxB, doneB := db.Expect(ctx)
		defer doneB()
		WithdrawAfter(ctxB, 50*time.Millisecond)() // stopped at once
		errA := make(chan error, 1)
		go func() { errA <- db.Batch(ctxA, insert([]byte("a"))) }()
		select {
		case err := <-errA:
			t.Fatalf("A committed (%v) while B, still announced, had not arrived", err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := db.Batch(ctxB, insert([]byte("b"))); err != nil {
			t.Fatal(err)
		}
		answered(t, errA, "A was not answered after B arrived")
	})

	t.Run("a lone caller does not wait", func(t *testing.T) {
		ctxA, doneA := db.Expect(ctx)
		defer doneA()
		done := make(chan error, 1)
		go func() { done <- db.Batch(ctxA, insert([]byte("a"))) }()
		answered(t, done, "a lone announced caller waits for nobody")
		go func() { done <- db.Batch(ctx, insert([]byte("b"))) }()
		answered(t, done, "a caller that announced nothing waits")
	})
}

// answered fails the test with stuck unless done brings a nil error well
// before the test's one-minute commit delay would end the wait.
func answered(t *testing.T, done <-chan error, stuck string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal(stuck)
	}
}

// TestWALStartsOver checks that the WAL is reused, not grown, while
// commits keep coming: after each checkpoint the batcher finishes it
// between batches, so the next commit rewinds the WAL. Without that the WAL
// holds every page ever committed (here more than 12 MB).
func TestWALStartsOver(t *testing.T) {
	old := checkpointEvery
	checkpointEvery = 20 * time.Millisecond
	t.Cleanup(func() { checkpointEvery = old })
	db, path := openTable(t)
	ctx := context.Background()
	blob := make([]byte, 4000)
	for i := range 3000 {
		blob[0], blob[1] = byte(i), byte(i>>8)
		if err := db.Batch(ctx, insert(blob)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 4<<20 {
		t.Errorf("WAL is %d bytes after 12 MB of commits: it is not starting over", st.Size())
	}
	var n int
	if err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 3000 {
		t.Errorf("%d rows (%v), want 3000", n, err)
	}
}

// TestBatchAtCloseTellsTheTruth closes the DB while callers are in
// batches: every caller told nil finds its row after a reopen, and every
// caller told ErrClosed does not — Close never turns a commit into a
// refusal.
func TestBatchAtCloseTellsTheTruth(t *testing.T) {
	ctx := context.Background()
	for round := range 30 {
		db, path := openTable(t)
		const callers = 32
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				errs[i] = db.Batch(ctx, func(ctx context.Context, tx *Tx) error {
					time.Sleep(100 * time.Microsecond) // keep batches busy while Close comes
					_, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, []byte(strconv.Itoa(i)))
					return err
				})
			})
		}
		time.Sleep(time.Duration(round%6) * time.Millisecond)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()

		again, err := OpenSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := again.SQL().QueryContext(ctx, `SELECT v FROM t`)
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]bool{}
		for rows.Next() {
			var v []byte
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			stored[string(v)] = true
		}
		rows.Close()
		again.Close()
		for i, err := range errs {
			switch in := stored[strconv.Itoa(i)]; {
			case err == nil && !in:
				t.Fatalf("round %d: caller %d was told its row committed, but it is not there", round, i)
			case errors.Is(err, ErrClosed) && in:
				t.Fatalf("round %d: caller %d was told ErrClosed, but its row committed", round, i)
			case err != nil && !errors.Is(err, ErrClosed):
				t.Fatalf("round %d: caller %d: %v", round, i, err)
			}
		}
	}
}
