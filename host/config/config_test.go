package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/host/config"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/sqldb"
)

func did(t testing.TB) string {
	t.Helper()
	k, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	return k.DID()
}

func TestDefaults(t *testing.T) {
	for _, in := range []string{"", "# nothing here\n", "{}\n"} {
		c, err := config.Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if !reflect.DeepEqual(c, config.Default()) {
			t.Errorf("Parse(%q) = %+v, want the defaults %+v", in, c, config.Default())
		}
	}
	d := config.Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"listens on loopback only", d.Listen == "127.0.0.1:8080"},
		{"embedded SQLite store", d.Store == "sqlite"},
		{"offline builtin embedder", d.Embedder == "builtin"},
		{"no private egress opened", len(d.Egress.AllowPrivate) == 0},
		{"no realm trusts anyone", len(d.Realms) == 0},
		{"bundle uploads capped at 64 MiB", d.Limits.BundleBytes == 64<<20},
		{"every limit set", d.Limits.MemoryMB > 0 && d.Limits.TimeoutMS > 0 && d.Limits.OutputBytes > 0 && d.Limits.CheckpointSecs > 0},
		{"data dir named", d.Data != ""},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("default: %s: not so in %+v", c.name, d)
		}
	}
}

func TestParseAccepts(t *testing.T) {
	op, pub := did(t), did(t)
	in := `
listen: 127.0.0.1:9090
data: /var/lib/airlock
store: sqlite
realms:
  default:
    operators: [` + op + `]
    publishers: [` + pub + `]
  team-1:
    operators: [` + op + `]
embedder: builtin
egress:
  allow_private: [10.0.0.0/8, "fd00::/8", 127.0.0.1/32]
mail: {relay: 127.0.0.1:2525, from: airlock@example.org}
limits:
  timeout_ms: 1000
`
	c, err := config.Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9090" || c.Data != "/var/lib/airlock" || len(c.Realms) != 2 {
		t.Errorf("parsed %+v", c)
	}
	if c.Limits.TimeoutMS != 1000 || c.Limits.MemoryMB != config.Default().Limits.MemoryMB {
		t.Errorf("a partial limits block must keep the other defaults: %+v", c.Limits)
	}
	if len(c.Egress.AllowPrivate) != 3 {
		t.Errorf("allow_private = %v", c.Egress.AllowPrivate)
	}
}

func TestParseRefuses(t *testing.T) {
	op := did(t)
	tests := []struct {
		name string
		in   string
		want string // substring of the error
	}{
		{"typo in a top-level key (strict)", "listne: 0.0.0.0:80\n", "listne"},
		{"typo in a security key (allow_privat silently ignored)", "egress:\n  allow_privat: [0.0.0.0/0]\n", "allow_privat"},
		{"unknown realm key (operator instead of operators)", "realms:\n  default:\n    operator: [" + op + "]\n", "operator"},
		{"duplicate key (second listen wins)", "listen: 127.0.0.1:1\nlisten: 0.0.0.0:80\n", "listen"},
		{"wrong type", "limits: {timeout_ms: soon}\n", "soon"},
		{"two documents", "listen: 127.0.0.1:1\n---\nlisten: 0.0.0.0:80\n", ""},
		{"not a DID", "realms:\n  default:\n    operators: [alice]\n", "did:key"},
		{"did:web is not did:key", "realms:\n  default:\n    operators: [did:web:example.org]\n", "did:key"},
		{"did:key with a bad multibase", "realms:\n  default:\n    publishers: [did:key:zNotAKey0OIl]\n", "did:key"},
		{"did:key truncated", "realms:\n  default:\n    operators: [" + op[:len(op)-4] + "]\n", "did:key"},
		{"CIDR with a prefix too long", "egress:\n  allow_private: [10.0.0.0/33]\n", "allow_private"},
		{"CIDR without a prefix", "egress:\n  allow_private: [10.0.0.1]\n", "allow_private"},
		{"CIDR that is a name", "egress:\n  allow_private: [metadata.google.internal/32]\n", "allow_private"},
		{"upper-case realm name", "realms:\n  Default: {}\n", "realm name"},
		{"realm name with a slash (path traversal)", "realms:\n  ../x: {}\n", "realm name"},
		{"realm name with a space", "realms:\n  \"a b\": {}\n", "realm name"},
		{"realm name starting with a dash", "realms:\n  -x: {}\n", "realm name"},
		{"realm name too long", "realms:\n  " + strings.Repeat("a", 65) + ": {}\n", "realm name"},
		{"empty realm name", "realms:\n  \"\": {}\n", "realm name"},
		{"listen without a port", "listen: 127.0.0.1\n", "listen"},
		{"empty data dir", "data: \"\"\n", "data"},
		{"unknown store", "store: mysql://root@db/airlock\n", "store"},
		{"embedder not supported yet", "embedder: openai:https://api.example.org:gpt\n", "embedder"},
		{"zero limit disables a cap", "limits: {memory_mb: 0}\n", "limits"},
		{"negative limit", "limits: {bundle_bytes: -1}\n", "limits"},
		{"not YAML", "listen: [\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse accepted %q: %+v", tt.in, c)
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestPostgresStoreAccepted(t *testing.T) {
	for _, store := range []string{
		"postgres://airlock@db.internal:5432/airlock?sslmode=verify-full",
		"postgresql://airlock:hunter2@db.internal/airlock",
		"postgres://user:p@ssw0rd@h/db",
	} {
		c, err := config.Parse([]byte("store: \"" + store + "\"\n"))
		if err != nil {
			t.Errorf("store %s refused: %v", sqldb.RedactDSN(store), err)
			continue
		}
		if c.Store != store {
			t.Errorf("Store = %q, want %q", c.Store, store)
		}
	}
}

func TestBadPostgresStoreRefusedWithoutLeakingThePassword(t *testing.T) {
	tests := []struct {
		name, store, secret string
	}{
		{"port that is not a number", "postgres://user:hunter2@h:port/db", "hunter2"},
		{"unknown sslmode", "postgresql://airlock:s3cret@db.internal:5432/airlock?sslmode=sometimes", "s3cret"},
		{"password in the query string", "postgres://user@h/db?password=pa55word&connect_timeout=soon", "pa55word"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte("store: \"" + tt.store + "\"\n"))
			if err == nil {
				t.Fatal("a malformed postgres store was accepted")
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "PostgreSQL URL") {
				t.Errorf("error %q does not say what is wrong", msg)
			}
			if strings.Contains(msg, tt.secret) {
				t.Errorf("error %q echoes the password %q", msg, tt.secret)
			}
		})
	}
}

func TestTrust(t *testing.T) {
	op, pub, other := did(t), did(t), did(t)
	c, err := config.Parse([]byte(`
realms:
  default:
    operators: [` + op + `]
    publishers: [` + pub + `]
  team:
    operators: [` + other + `]
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"operator in its realm", c.OperatorTrusted("default", op), true},
		{"operator of another realm (cross-realm grant)", c.OperatorTrusted("default", other), false},
		{"operator in a realm it does not belong to", c.OperatorTrusted("team", op), false},
		{"operator in an unknown realm", c.OperatorTrusted("nope", op), false},
		{"publisher is not an operator", c.OperatorTrusted("default", pub), false},
		{"empty DID", c.OperatorTrusted("default", ""), false},
		{"publisher in its realm", c.PublisherTrusted("default", pub), true},
		{"operator is not a publisher", c.PublisherTrusted("default", op), false},
		{"publisher in another realm", c.PublisherTrusted("team", pub), false},
		{"publisher in an unknown realm", c.PublisherTrusted("nope", pub), false},
		{"DID prefix is not the DID", c.OperatorTrusted("default", op[:len(op)-1]), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	if got := c.OperatorRealms(op); !reflect.DeepEqual(got, []string{"default"}) {
		t.Errorf("OperatorRealms(op) = %v", got)
	}
	if got := c.OperatorRealms(pub); len(got) != 0 {
		t.Errorf("OperatorRealms(publisher) = %v, want none", got)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "airlock.yaml")
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:9999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9999" {
		t.Errorf("listen = %q", c.Listen)
	}
	if _, err := config.Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

// FuzzParse: whatever Parse accepts validates, and no input panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("listen: 127.0.0.1:8080\nrealms:\n  default:\n    operators: [did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK]\n"))
	f.Add([]byte("egress:\n  allow_private: [10.0.0.0/8]\nstore: postgres://u:p@h/db\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
	})
}
