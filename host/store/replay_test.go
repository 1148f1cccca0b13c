package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
)

func TestReplay(t *testing.T) {
	eachDialect(t, testReplay)
}

func testReplay(t *testing.T, open opener) {
	ctx := context.Background()
	t0 := time.Unix(1_700_000_000, 0)
	db := open(t)
	for i, tc := range []struct {
		name  string
		uses  []string // jtis used in order, at t0, each with exp t0+2m
		now   time.Time
		jti   string
		fresh bool
	}{
		{"first use of a jti", nil, t0, "a", true},
		{"replayed jti", []string{"a"}, t0, "a", false},
		{"replayed jti just before exp", []string{"a"}, t0.Add(2*time.Minute - time.Nanosecond), "a", false},
		{"other jti", []string{"a"}, t0, "b", true},
		{"jti reused after its record expired", []string{"a"}, t0.Add(2*time.Minute + time.Second), "a", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each case has jtis of its own in the shared database.
			p := fmt.Sprint(i, "-")
			db.now = func() time.Time { return t0 }
			for _, j := range tc.uses {
				if fresh, err := db.Use(ctx, p+j, t0.Add(2*time.Minute)); err != nil || !fresh {
					t.Fatalf("setup Use(%q) = %v, %v", j, fresh, err)
				}
			}
			db.now = func() time.Time { return tc.now }
			fresh, err := db.Use(ctx, p+tc.jti, tc.now.Add(2*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if fresh != tc.fresh {
				t.Errorf("Use(%q) fresh = %v, want %v", tc.jti, fresh, tc.fresh)
			}
		})
	}
}

func TestReplayAfterRestart(t *testing.T) {
	eachDialect(t, testReplayAfterRestart)
}

func testReplayAfterRestart(t *testing.T, open opener) {
	ctx := context.Background()
	db := open(t)
	exp := time.Now().Add(2 * time.Minute)
	if fresh, err := db.Use(ctx, "jti-1", exp); err != nil || !fresh {
		t.Fatalf("Use = %v, %v", fresh, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2 := open(t)
	fresh, err := db2.Use(ctx, "jti-1", exp)
	if err != nil {
		t.Fatal(err)
	}
	if fresh {
		t.Fatal("jti accepted again after restart")
	}
}

// Of n concurrent uses of one jti, spread over two handles on the same
// database (two nodes), exactly one is fresh.
func TestReplayRaceSameJTI(t *testing.T) {
	eachDialect(t, testReplayRaceSameJTI)
}

func testReplayRaceSameJTI(t *testing.T, open opener) {
	ctx := context.Background()
	nodes := []*DB{open(t), open(t)}
	exp := time.Now().Add(time.Minute)
	const n = 40
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fresh int
		errs  []error
		start = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := nodes[i%2].Use(ctx, "raced", exp)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				fresh++
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if fresh != 1 {
		t.Fatalf("%d of %d concurrent uses were fresh, want exactly 1", fresh, n)
	}
}

func TestReplayExpiredRowsArePruned(t *testing.T) {
	eachDialect(t, testReplayExpiredRowsArePruned)
}

func testReplayExpiredRowsArePruned(t *testing.T, open opener) {
	ctx := context.Background()
	db := open(t)
	t0 := time.Unix(1_700_000_000, 0)
	db.now = func() time.Time { return t0 }
	if _, err := db.Use(ctx, "old", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Use(ctx, "live", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	db.now = func() time.Time { return t0.Add(2 * time.Minute) }
	// Enough inserts to trigger the opportunistic prune.
	for i := range pruneEvery {
		if _, err := db.Use(ctx, fmt.Sprintf("filler-%d", i), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	count := func(jti string) int {
		var n int
		if err := db.SQL().QueryRowContext(ctx, "SELECT count(*) FROM replay WHERE jti = ?", jti).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count("old") != 0 {
		t.Error("expired jti was not pruned")
	}
	if count("live") != 1 {
		t.Error("unexpired jti was pruned")
	}
	if fresh, err := db.Use(ctx, "live", t0.Add(time.Hour)); err != nil || fresh {
		t.Errorf("replay of unexpired jti after prune: fresh=%v err=%v", fresh, err)
	}
}

func TestCeilUnix(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		want int64
	}{
		{time.Unix(10, 0), 10},
		{time.Unix(10, 1), 11},
		{time.Unix(10, 999_999_999), 11},
	} {
		if got := ceilUnix(tc.in); got != tc.want {
			t.Errorf("ceilUnix(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// UseTx records a jti only if the caller's transaction commits: a batch
// function that fails after it leaves the jti fresh.
func TestReplayUseTxFollowsTheTransaction(t *testing.T) {
	eachDialect(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		db := open(t)
		exp := time.Now().Add(time.Minute)
		errLater := errors.New("a later write of the same transaction failed")
		err := db.SQLDB().Batch(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			fresh, err := db.UseTx(ctx, tx, "rolled-back", exp)
			if err != nil || !fresh {
				t.Errorf("UseTx: fresh=%v err=%v", fresh, err)
			}
			return errLater
		})
		if !errors.Is(err, errLater) {
			t.Fatalf("Batch: %v", err)
		}
		if fresh, err := db.Use(ctx, "rolled-back", exp); err != nil || !fresh {
			t.Fatalf("jti of a rolled-back transaction: fresh=%v err=%v; want fresh", fresh, err)
		}
		if err := db.SQLDB().Batch(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			fresh, err := db.UseTx(ctx, tx, "committed", exp)
			if err != nil || !fresh {
				t.Errorf("UseTx: fresh=%v err=%v", fresh, err)
			}
			again, err := db.UseTx(ctx, tx, "committed", exp)
			if err != nil || again {
				t.Errorf("second UseTx in the same transaction: fresh=%v err=%v", again, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if fresh, err := open(t).Use(ctx, "committed", exp); err != nil || fresh {
			t.Fatalf("jti of a committed transaction, from another handle: fresh=%v err=%v", fresh, err)
		}
	})
}
