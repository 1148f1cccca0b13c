package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/internal/pgtest"
)

// BenchmarkUseParallel measures durable replay checks from many concurrent
// requests, which the group commit folds into few transactions.
func BenchmarkUseParallel(b *testing.B) {
	ctx := context.Background()
	open := map[string]func(b *testing.B) *DB{
		"sqlite": func(b *testing.B) *DB {
			db, err := Open(ctx, filepath.Join(b.TempDir(), "airlock.db"))
			if err != nil {
				b.Fatal(err)
			}
			return db
		},
		"postgres": func(b *testing.B) *DB {
			sdb, err := sqldb.OpenPostgres(ctx, pgtest.DSN(b))
			if err != nil {
				b.Fatal(err)
			}
			db, err := OpenDB(ctx, sdb)
			if err != nil {
				b.Fatal(err)
			}
			return db
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			db := open[name](b)
			defer db.Close()
			exp := time.Now().Add(time.Hour)
			var n atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					fresh, err := db.Use(ctx, fmt.Sprint("jti-", n.Add(1)), exp)
					if err != nil || !fresh {
						b.Errorf("Use = %v, %v", fresh, err)
						return
					}
				}
			})
		})
	}
}
