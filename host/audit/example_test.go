package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/store"
)

// A host records decisions, signs a checkpoint, and an operator later checks
// the whole log offline.
func ExampleVerify() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "airlock-example")
	defer os.RemoveAll(dir)
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	origin := "airlock/did:key:z6MkExample"

	db, err := store.Open(ctx, filepath.Join(dir, "airlock.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	log, err := audit.Open(ctx, db.SQLDB(), origin, key)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, decision := range []string{"allow", "deny"} {
		if _, err := log.Append(ctx, audit.Entry{Realm: "default", Action: "invoke", Tool: "web/fetch", Decision: decision}); err != nil {
			fmt.Println("refuse the action:", err)
			return
		}
	}
	if _, err := log.Checkpoint(ctx); err != nil {
		fmt.Println(err)
		return
	}

	report, err := audit.Verify(ctx, db.SQLDB(), origin, pub)
	fmt.Println(report.Entries, report.Checkpoints, report.FirstBad, err)
	// Output: 2 1 -1 <nil>
}
