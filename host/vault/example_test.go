package vault_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/host/vault"
)

func Example() {
	ctx := context.Background()
	dir, cleanup := tempDir()
	defer cleanup()
	db, err := store.Open(ctx, filepath.Join(dir, "airlock.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	master, err := vault.NewMasterKey()
	if err != nil {
		log.Fatal(err)
	}
	v, err := vault.Open(ctx, db.SQLDB(), master)
	if err != nil {
		log.Fatal(err)
	}
	if err := v.Put(ctx, "default", "GITHUB_TOKEN", []byte("ghp_example_0123456789")); err != nil {
		log.Fatal(err)
	}
	token, err := v.Get(ctx, "default", "GITHUB_TOKEN")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("printed:", token)

	values, err := v.Values(ctx, "default")
	if err != nil {
		log.Fatal(err)
	}
	scanner := vault.NewScanner(values)
	_, leaked := scanner.Find([]byte(`{"echo":"Z2hwX2V4YW1wbGVfMDEyMzQ1Njc4OQ=="}`))
	fmt.Println("leak in output:", leaked)
	// Output:
	// printed: [REDACTED]
	// leak in output: true
}

func tempDir() (string, func()) {
	dir, err := os.MkdirTemp("", "vault-example-")
	if err != nil {
		log.Fatal(err)
	}
	return dir, func() { os.RemoveAll(dir) }
}
