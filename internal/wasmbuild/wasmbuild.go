// Package wasmbuild builds Go tool plugins to WebAssembly for tests.
//
// A plugin is a package main built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared
//
// exactly as a tool author builds it. [Build] compiles a package once per
// test process (later calls return the same bytes) and relies on Go's build
// cache across runs, so the cost of a rebuild is paid only when the plugin's
// source changes.
//
// wasmbuild is for tests only: it runs the go command found on PATH (go test
// puts the running toolchain's go first) and fails the test on any error.
package wasmbuild

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string][]byte{} // repo-relative package dir → module bytes
)

// Build compiles the plugin in pkgPath, a directory relative to the repository
// root (the directory holding go.mod), for example "plugins/echo", and returns
// the module bytes. Each package is built once per test process; callers must
// not modify the returned slice.
func Build(tb testing.TB, pkgPath string) []byte {
	tb.Helper()
	key := cleanPath(pkgPath)

	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[key]; ok {
		return b
	}
	b, err := build(key)
	if err != nil {
		tb.Fatalf("wasmbuild: %s: %v", key, err)
	}
	built[key] = b
	return b
}

// cleanPath is the cache key of a package directory.
func cleanPath(pkgPath string) string {
	return filepath.ToSlash(filepath.Clean(pkgPath))
}

func build(pkgPath string) ([]byte, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(pkgPath, "../") || pkgPath == ".." || filepath.IsAbs(pkgPath) {
		return nil, fmt.Errorf("package path %q leaves the repository", pkgPath)
	}
	out, err := os.MkdirTemp("", "wasmbuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	wasm := filepath.Join(out, "plugin.wasm")

	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", wasm, "./"+pkgPath)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build: %w\n%s", err, stderr.String())
	}
	return os.ReadFile(wasm)
}

// RepoRoot returns the directory that holds the module's go.mod, found by
// walking up from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
