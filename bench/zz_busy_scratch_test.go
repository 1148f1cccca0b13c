package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/store"
)

func TestScratchBusy(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	fails := 0
	var first error
	for g := 0; g < 64; g++ {
		wg.Go(func() {
			for i := 0; i < 20; i++ {
				jti, _ := identity.NewJTI()
				if _, err := db.Use(context.Background(), jti, time.Now().Add(time.Minute)); err != nil {
					mu.Lock()
					fails++
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if fails > 0 {
		t.Fatal(fmt.Sprint(fails, " failures, first: ", first))
	}
}
