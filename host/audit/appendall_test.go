package audit

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/airlock-dev/airlock/host/sqldb"
)

// A group lands at consecutive indexes with its relative parents resolved,
// together with its precondition's write; a failed precondition writes
// nothing and its error comes back as is.
func TestAppendAll(t *testing.T) { onEach(t, testAppendAll) }

func testAppendAll(t *testing.T, e *env) {
	ctx := context.Background()
	if _, err := e.sdb.SQL().ExecContext(ctx, `CREATE TABLE seen (jti TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	errSeen := errors.New("jti seen")
	pre := func(jti string) Pre {
		return func(ctx context.Context, tx *sqldb.Tx) error {
			var one int
			switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM seen WHERE jti = ?`, jti).Scan(&one); {
			case err == nil:
				return errSeen
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO seen (jti) VALUES (?)`, jti)
			return err
		}
	}
	e.appendN(3)
	minus1 := int64(-1)
	idx, err := e.log.AppendAll(ctx, pre("a"),
		Entry{Realm: "default", Action: "invoke", Decision: "allow", Request: "a"},
		Entry{Realm: "default", Action: "result", Decision: "done", Request: "a", Parent: &minus1})
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != 2 || idx[0] != 3 || idx[1] != 4 {
		t.Fatalf("indexes %v, want [3 4]", idx)
	}
	got, err := e.log.Entries(ctx, "default", 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Parent == nil || *got[1].Parent != 3 {
		t.Fatalf("entries %+v: the result's parent is not the invoke entry", got)
	}
	if _, err := e.log.AppendAll(ctx, pre("a"), Entry{Realm: "default", Action: "invoke", Request: "a"}); !errors.Is(err, errSeen) {
		t.Fatalf("second use of jti a: err = %v, want the precondition's error", err)
	}
	if _, err := e.log.AppendAll(ctx, nil, Entry{Realm: "default", Parent: &minus1}); err == nil {
		t.Fatal("a parent before the group was accepted")
	}
	i, err := e.log.Append(ctx, Entry{Realm: "default", Action: "invoke", Request: "b"})
	if err != nil || i != 5 {
		t.Fatalf("next append: %d, %v; want 5", i, err)
	}
	var n int
	if err := e.sdb.SQL().QueryRowContext(ctx, `SELECT count(*) FROM seen`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d jti rows, %v; want 1", n, err)
	}
	if _, err := e.verify(); err != nil {
		t.Fatalf("log after groups and a refused precondition: %v", err)
	}
}
