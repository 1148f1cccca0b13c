// Package config loads and validates the host configuration file
// (airlock.yaml, DESIGN §6). Every key has a default; unknown keys are
// errors so that a typo never silently weakens a security setting.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"

	"github.com/jackc/pgx/v5"
	"gopkg.in/yaml.v3"

	"github.com/airlock-dev/airlock/host/embed"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/sqldb"
)

// ErrInvalid wraps every configuration error.
var ErrInvalid = errors.New("config: invalid")

// Config is the host configuration.
type Config struct {
	Listen string `yaml:"listen"`
	Data   string `yaml:"data"`
	// Store is "sqlite" (DATA/airlock.db) or a postgres:// (postgresql://)
	// URL: a PostgreSQL server that several nodes share to act as one host.
	// The URL may hold a password; it is never shown (sqldb.RedactDSN).
	Store    string           `yaml:"store"`
	Realms   map[string]Realm `yaml:"realms"`
	Embedder string           `yaml:"embedder"`
	Egress   Egress           `yaml:"egress"`
	Mail     Mail             `yaml:"mail"`
	Limits   Limits           `yaml:"limits"`
}

// Realm lists the keys trusted in one realm.
type Realm struct {
	Operators  []string `yaml:"operators"`
	Publishers []string `yaml:"publishers"`
}

// Egress configures the HTTP egress guard.
type Egress struct {
	// AllowPrivate lists CIDRs that tools may reach although they are
	// loopback, private, link-local or metadata addresses.
	AllowPrivate []string `yaml:"allow_private"`
}

// Mail configures the SMTP relay used by mail_send.
type Mail struct {
	Relay string `yaml:"relay"`
	From  string `yaml:"from"`
}

// Limits are host maximums; manifests and grants can only lower them.
type Limits struct {
	BundleBytes    int64 `yaml:"bundle_bytes"`
	MemoryMB       int   `yaml:"memory_mb"`
	TimeoutMS      int   `yaml:"timeout_ms"`
	OutputBytes    int   `yaml:"output_bytes"`
	CheckpointSecs int   `yaml:"checkpoint_seconds"`
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	return &Config{
		Listen:   "127.0.0.1:8080",
		Data:     "./airlock-data",
		Store:    "sqlite",
		Realms:   map[string]Realm{},
		Embedder: "builtin",
		Mail:     Mail{Relay: "127.0.0.1:2525", From: "airlock@example.org"},
		Limits: Limits{
			BundleBytes:    64 << 20,
			MemoryMB:       128,
			TimeoutMS:      30000,
			OutputBytes:    1 << 20,
			CheckpointSecs: 10,
		},
	}
}

// Load reads and validates the file at path on top of [Default].
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(raw)
}

// Parse decodes YAML strictly on top of [Default] and validates it.
func Parse(raw []byte) (*Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// A second YAML document would be ignored silently; refuse it.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one YAML document", ErrInvalid)
	}
	if c.Realms == nil {
		c.Realms = map[string]Realm{}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks every field.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("%w: listen %q: %v", ErrInvalid, c.Listen, err)
	}
	if c.Data == "" {
		return fmt.Errorf("%w: data must name a directory", ErrInvalid)
	}
	if err := checkStore(c.Store); err != nil {
		return err
	}
	if _, _, err := embed.Parse(c.Embedder, nil, nil); err != nil {
		return fmt.Errorf("%w: embedder: %v", ErrInvalid, err)
	}
	for name, r := range c.Realms {
		if !grant.ValidRealm(name) {
			return fmt.Errorf("%w: realm name %q", ErrInvalid, name)
		}
		for _, list := range [][]string{r.Operators, r.Publishers} {
			for _, did := range list {
				if _, err := identity.DecodeDID(did); err != nil {
					return fmt.Errorf("%w: realm %s: %q is not a did:key: %v", ErrInvalid, name, did, err)
				}
			}
		}
	}
	for _, cidr := range c.Egress.AllowPrivate {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			return fmt.Errorf("%w: egress.allow_private %q: %v", ErrInvalid, cidr, err)
		}
	}
	l := c.Limits
	if l.BundleBytes <= 0 || l.MemoryMB <= 0 || l.TimeoutMS <= 0 || l.OutputBytes <= 0 || l.CheckpointSecs <= 0 {
		return fmt.Errorf("%w: limits must be positive", ErrInvalid)
	}
	return nil
}

// OperatorTrusted reports whether did may act as an operator in realm.
func (c *Config) OperatorTrusted(realm, did string) bool {
	r, ok := c.Realms[realm]
	return ok && contains(r.Operators, did)
}

// PublisherTrusted reports whether did may publish bundles in realm.
func (c *Config) PublisherTrusted(realm, did string) bool {
	r, ok := c.Realms[realm]
	return ok && contains(r.Publishers, did)
}

// OperatorRealms lists the realms in which did is an operator.
func (c *Config) OperatorRealms(did string) []string {
	var out []string
	for name, r := range c.Realms {
		if contains(r.Operators, did) {
			out = append(out, name)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkStore accepts "sqlite" and a PostgreSQL URL that pgx can parse.
// Errors name the URL only through sqldb.RedactDSN: it may hold a password.
func checkStore(store string) error {
	switch {
	case store == "sqlite":
		return nil
	case sqldb.IsPostgres(store):
		if _, err := pgx.ParseConfig(store); err != nil {
			// pgx's error may quote the URL: say only which one.
			return fmt.Errorf("%w: store %q is not a valid PostgreSQL URL", ErrInvalid, sqldb.RedactDSN(store))
		}
		return nil
	}
	return fmt.Errorf("%w: store must be \"sqlite\" or a postgres:// URL", ErrInvalid)
}
