// Package pgtest gives tests a real PostgreSQL server on loopback: the
// Debian postgresql package's binaries, a private cluster in a temporary
// directory, started once per test binary and stopped when it exits.
//
// Tests call [DSN] for a fresh, empty database of their own. When no
// PostgreSQL binaries are installed the test is skipped — unless CI is set,
// where a missing server is a failure (.ci/prereqs installs it). A DSN in
// AIRLOCK_TEST_POSTGRES (a superuser on a server of your own) is used
// instead of starting one.
//
// Run as root, the cluster runs as the "postgres" user, since PostgreSQL
// refuses to run as root.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// EnvDSN names an existing server to use instead of starting one.
const EnvDSN = "AIRLOCK_TEST_POSTGRES"

var (
	once    sync.Once
	base    string // DSN of the server's "postgres" database, without path
	dir     string
	cmd     *exec.Cmd
	skipMsg string
	failErr error
)

// DSN returns the URL of a new, empty database on the shared test server.
func DSN(t testing.TB) string {
	t.Helper()
	once.Do(start)
	if failErr != nil {
		t.Fatalf("pgtest: %v", failErr)
	}
	if skipMsg != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("pgtest: %s (CI must install PostgreSQL: see .ci/prereqs)", skipMsg)
		}
		t.Skipf("pgtest: %s", skipMsg)
	}
	name := "t_" + randHex(8)
	db, err := sql.Open("pgx", base+"/postgres?sslmode=disable")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return base + "/" + name + "?sslmode=disable"
}

// Main runs the tests of a package and stops the server afterwards; call it
// from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop shuts the server down (fast shutdown) and removes its directory. The
// server also stops when the test binary dies, through the parent-death
// signal.
func Stop() {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	cmd = nil
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

func start() {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		base = strings.TrimSuffix(strings.SplitN(dsn, "?", 2)[0], "/")
		if i := strings.LastIndex(base, "/"); i > len("postgres://") {
			base = base[:i]
		}
		return
	}
	bin, err := binDir()
	if err != nil {
		skipMsg = err.Error()
		return
	}
	if err := startServer(bin); err != nil {
		failErr = err
	}
}

// binDir finds the newest /usr/lib/postgresql/<version>/bin.
func binDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(matches) == 0 {
		if p, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", errors.New("PostgreSQL is not installed (apt-get install -y postgresql)")
	}
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	return filepath.Dir(matches[0]), nil
}

func version(p string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
	return v
}

func startServer(bin string) error {
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	var err error
	if dir, err = os.MkdirTemp("", "airlock-pgtest-"); err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "airlock", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, lastLines(out))
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return err
	}
	cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", dir,
		"-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	base = fmt.Sprintf("postgres://airlock@127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		db, err := sql.Open("pgx", base+"/postgres?sslmode=disable&connect_timeout=2")
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("postgres did not start: %v: %s", err, lastLines(log))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
