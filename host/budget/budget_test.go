package budget

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// limiter is one node's view of the call budgets.
type limiter interface {
	Allow(realm, agent string, perMinute int, now time.Time) error
}

// nodes is two limiters that share their counts: the same in-memory Calls,
// or two Calls on two handles of one database (SQLite file, or PostgreSQL as
// two nodes see it).
func eachBackend(t *testing.T, fn func(t *testing.T, nodes [2]limiter)) {
	t.Run("memory", func(t *testing.T) {
		c := &Calls{}
		fn(t, [2]limiter{c, c})
	})
	t.Run("sqlite", func(t *testing.T) {
		db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "airlock.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		fn(t, [2]limiter{&Calls{Shared: db}, &Calls{Shared: db}})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.DSN(t)
		var nodes [2]limiter
		for i := range nodes {
			sdb, err := sqldb.OpenPostgres(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			db, err := store.OpenDB(context.Background(), sdb)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			nodes[i] = &Calls{Shared: db}
		}
		fn(t, nodes)
	})
}

func TestCallsPerMinute(t *testing.T) {
	eachBackend(t, testCallsPerMinute)
}

// testCallsPerMinute alternates the calls between the two nodes: the budget
// is the host's, not each node's.
func testCallsPerMinute(t *testing.T, nodes [2]limiter) {
	c := alternate{nodes: nodes}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		if err := c.Allow("default", "A", 5, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("call %d refused: %v", i, err)
		}
	}
	if err := c.Allow("default", "A", 5, t0.Add(10*time.Second)); !errors.Is(err, ErrExceeded) {
		t.Fatalf("6th call in a minute: got %v, want ErrExceeded", err)
	}
	// another agent is not affected by A's exhaustion
	if err := c.Allow("default", "B", 5, t0.Add(10*time.Second)); err != nil {
		t.Fatalf("agent B refused because of agent A: %v", err)
	}
	// the same DID in another realm has its own budget
	if err := c.Allow("other", "A", 5, t0.Add(10*time.Second)); err != nil {
		t.Fatalf("agent A in another realm refused: %v", err)
	}
	// two minutes later the window has slid past
	if err := c.Allow("default", "A", 5, t0.Add(2*time.Minute+time.Second)); err != nil {
		t.Fatalf("call after the window refused: %v", err)
	}
	// unlimited
	for i := 0; i < 100; i++ {
		if err := c.Allow("default", "C", 0, t0); err != nil {
			t.Fatal(err)
		}
	}
}

// alternate sends each call to the next node.
type alternate struct {
	nodes [2]limiter
	n     int
}

func (a *alternate) Allow(realm, agent string, perMinute int, now time.Time) error {
	a.n++
	return a.nodes[a.n%2].Allow(realm, agent, perMinute, now)
}

func TestRefusedCallsAreNotCounted(t *testing.T) {
	eachBackend(t, testRefusedCallsAreNotCounted)
}

func testRefusedCallsAreNotCounted(t *testing.T, nodes [2]limiter) {
	c := alternate{nodes: nodes}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if err := c.Allow("r", "A", 1, t0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		_ = c.Allow("r", "A", 1, t0.Add(time.Second))
	}
	// one minute and a half later, half of the previous bucket weighs in: 0.5 + 1 > 1 would refuse
	// only if refused calls had been counted; with one counted call the weight is 0.5.
	if err := c.Allow("r", "A", 2, t0.Add(90*time.Second)); err != nil {
		t.Fatalf("refused calls were counted: %v", err)
	}
}

// A shared counter that cannot answer refuses the call, without calling it
// an exhausted budget.
func TestSharedCounterFailsClosed(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "airlock.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	c := &Calls{Shared: db}
	err = c.Allow("default", "A", 5, time.Now())
	if err == nil || errors.Is(err, ErrExceeded) {
		t.Fatalf("Allow on a closed database = %v, want a non-budget error", err)
	}
	if err := c.Allow("default", "A", 0, time.Now()); err != nil {
		t.Fatalf("unlimited budget consulted the database: %v", err)
	}
}
