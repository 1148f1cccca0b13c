package policy_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/policy"
	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// world is an operator of realm "default", an operator of realm "other" and a
// stranger nobody trusts.
type world struct{ op, otherOp, stranger *identity.Key }

func newKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newWorld(t testing.TB) *world {
	return &world{op: newKey(t), otherOp: newKey(t), stranger: newKey(t)}
}

func (w *world) trust(realm, did string) bool {
	switch realm {
	case "default":
		return did == w.op.DID()
	case "other":
		return did == w.otherOp.DID()
	}
	return false
}

func doc(version int64) policy.Document {
	return policy.Document{
		Realm: "default", Version: version,
		Approval: []string{"mail/send"}, Deny: []string{"shell/*"},
		DLP:       map[string]string{"email": "redact", "secrets": "block"},
		Injection: "spotlight",
		Anomaly:   policy.Anomaly{WindowS: 10, BurstFactor: 10, MinCalls: 50, NewEgressHost: "alert", Quarantine: true},
		Budget:    grant.Budget{CallsPerMinute: 30},
	}
}

func signed(t testing.TB, k *identity.Key, d policy.Document) string {
	t.Helper()
	tok, err := policy.Sign(k, d)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signRaw signs any payload as a policy, bypassing Sign's checks.
func signRaw(t testing.TB, k *identity.Key, typ, payload string) string {
	t.Helper()
	tok, err := k.Sign(typ, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestParseStrict(t *testing.T) {
	tests := []struct {
		name, payload, want string
	}{
		{"unknown top-level member", `{"realm":"default","version":1,"allow":["*"]}`, "unknown field"},
		{"unknown anomaly member", `{"realm":"default","version":1,"anomaly":{"window_s":10,"disable":true}}`, "unknown field"},
		{"unknown budget member", `{"realm":"default","version":1,"budget":{"calls_per_hour":1}}`, "unknown field"},
		{"trailing data", `{"realm":"default","version":1}{"realm":"default","version":9}`, "trailing"},
		{"trailing garbage", `{"realm":"default","version":1} x`, ""},
		{"duplicate version (parsers disagree on which wins)", `{"realm":"default","version":1,"version":99}`, "duplicate"},
		{"duplicate nested member", `{"realm":"default","version":1,"dlp":{"secrets":"block","secrets":"off"}}`, "duplicate"},
		{"upper-case member matched case-insensitively by Go", `{"realm":"default","version":1,"DENY":["*"]}`, "lower case"},
		{"missing realm", `{"version":1}`, "required"},
		{"missing version", `{"realm":"default"}`, "required"},
		{"null version", `{"realm":"default","version":null}`, "required"},
		{"version zero", `{"realm":"default","version":0}`, "version"},
		{"negative version", `{"realm":"default","version":-1}`, "version"},
		{"fractional version", `{"realm":"default","version":1.5}`, ""},
		{"version as a string", `{"realm":"default","version":"2"}`, ""},
		{"version beyond int64", `{"realm":"default","version":9223372036854775808}`, ""},
		{"invalid realm name", `{"realm":"Default/../x","version":1}`, "realm"},
		{"unknown dlp detector", `{"realm":"default","version":1,"dlp":{"ssn":"off"}}`, "detector"},
		{"invalid dlp mode", `{"realm":"default","version":1,"dlp":{"secrets":"allow"}}`, "mode"},
		{"dlp mode in another case", `{"realm":"default","version":1,"dlp":{"secrets":"OFF"}}`, "mode"},
		{"invalid injection mode", `{"realm":"default","version":1,"injection":"ignore"}`, "injection"},
		{"invalid approval glob", `{"realm":"default","version":1,"approval":["mail/**"]}`, "approval"},
		{"invalid deny glob", `{"realm":"default","version":1,"deny":["shell"]}`, "deny"},
		{"anomaly window zero", `{"realm":"default","version":1,"anomaly":{"window_s":0}}`, "window_s"},
		{"anomaly window above the maximum", `{"realm":"default","version":1,"anomaly":{"window_s":100000}}`, "window_s"},
		{"anomaly burst factor zero", `{"realm":"default","version":1,"anomaly":{"burst_factor":0}}`, "burst_factor"},
		{"anomaly burst factor negative", `{"realm":"default","version":1,"anomaly":{"burst_factor":-1}}`, "burst_factor"},
		{"anomaly min_calls zero", `{"realm":"default","version":1,"anomaly":{"min_calls":0}}`, "min_calls"},
		{"anomaly new_egress_host unknown", `{"realm":"default","version":1,"anomaly":{"new_egress_host":"block"}}`, "new_egress_host"},
		{"webhook with file scheme", `{"realm":"default","version":1,"anomaly":{"webhook":"file:///etc/passwd"}}`, "webhook"},
		{"webhook with javascript scheme", `{"realm":"default","version":1,"anomaly":{"webhook":"javascript:alert(1)"}}`, "webhook"},
		{"webhook relative", `{"realm":"default","version":1,"anomaly":{"webhook":"/hook"}}`, "webhook"},
		{"webhook with credentials in userinfo", `{"realm":"default","version":1,"anomaly":{"webhook":"https://user:pw@hooks.example.org/x"}}`, "webhook"},
		{"webhook with a space", `{"realm":"default","version":1,"anomaly":{"webhook":"https://hooks.example.org/a b"}}`, "webhook"},
		{"negative budget", `{"realm":"default","version":1,"budget":{"timeout_ms":-5}}`, "budget"},
		{"document is null", `null`, "required"},
		{"document is an array", `[]`, ""},
		{"empty payload", ``, ""},
		{"oversized document", `{"realm":"default","version":1,"deny":["` + strings.Repeat("a", policy.MaxTokenBytes) + `"]}`, "larger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := policy.Parse([]byte(tt.payload))
			if err == nil {
				t.Fatalf("accepted: %+v", d)
			}
			if !errors.Is(err, policy.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	d, err := policy.Parse([]byte(`{"realm":"default","version":3,"anomaly":{"min_calls":5}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := policy.DefaultAnomaly()
	want.MinCalls = 5
	if d.Anomaly != want {
		t.Errorf("absent anomaly members must keep their defaults: got %+v, want %+v", d.Anomaly, want)
	}
	if d.Realm != "default" || d.Version != 3 || d.DLP != nil || d.Injection != "" {
		t.Errorf("unexpected document %+v", d)
	}
	full := `{"realm":"default","version":7,"approval":["mail/send","notes/*"],"deny":["*"],` +
		`"dlp":{"secrets":"redact","cards":"off","iban":"flag","email":"off","phone":"block","national_id":"redact"},` +
		`"injection":"block","anomaly":{"window_s":300,"burst_factor":2.5,"min_calls":1,"new_egress_host":"alert",` +
		`"quarantine":true,"webhook":"https://hooks.example.org/airlock?x=1"},` +
		`"budget":{"calls_per_minute":1,"timeout_ms":2,"memory_mb":3,"egress_bytes_per_day":4}}`
	if _, err := policy.Parse([]byte(full)); err != nil {
		t.Fatalf("a document using every member was refused: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	w := newWorld(t)
	b64 := base64.RawURLEncoding
	good := signed(t, w.op, doc(1))
	payload, _ := json.Marshal(doc(1))

	tests := []struct {
		name, token, realm string
		want               error
	}{
		{"no token", "", "default", policy.ErrInvalid},
		{"unsigned policy (alg none)",
			b64.EncodeToString([]byte(`{"alg":"none","typ":"airlock-policy+jwt"}`)) + "." + b64.EncodeToString(payload) + ".",
			"default", policy.ErrInvalid},
		{"signature stripped", good[:strings.LastIndexByte(good, '.')+1], "default", policy.ErrUntrusted},
		{"payload swapped under a valid signature", func() string {
			parts := strings.Split(good, ".")
			d := doc(1)
			d.Deny = nil
			p, _ := json.Marshal(d)
			return parts[0] + "." + b64.EncodeToString(p) + "." + parts[2]
		}(), "default", policy.ErrUntrusted},
		{"policy signed by a stranger", signed(t, w.stranger, doc(1)), "default", policy.ErrUntrusted},
		{"policy signed by an operator of another realm", signed(t, w.otherOp, doc(1)), "default", policy.ErrUntrusted},
		{"operator of another realm writes its document to this realm's path", func() string {
			d := doc(1)
			d.Realm = "other"
			return signed(t, w.otherOp, d)
		}(), "default", policy.ErrUntrusted},
		{"operator's document for this realm sent to another realm's path", good, "other", policy.ErrUntrusted},
		{"grant token presented as a policy", signRaw(t, w.op, identity.TypGrant, string(payload)), "default", policy.ErrInvalid},
		{"signed but malformed document", signRaw(t, w.op, identity.TypPolicy, `{"realm":"default","version":1,"deny":["*"],"deny":[]}`), "default", policy.ErrInvalid},
		{"oversized token", strings.Repeat("a", policy.MaxTokenBytes+1), "default", policy.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Verify(tt.token, tt.realm, w.trust)
			if err == nil {
				t.Fatalf("accepted: %+v", p.Doc)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}

	if _, err := policy.Verify(good, "default", nil); !errors.Is(err, policy.ErrUntrusted) {
		t.Errorf("no trust function: err = %v, want ErrUntrusted", err)
	}
}

func TestVerifyCompiles(t *testing.T) {
	w := newWorld(t)
	tok := signed(t, w.op, doc(1))
	p, err := policy.Verify(tok, "default", w.trust)
	if err != nil {
		t.Fatal(err)
	}
	if p.Signer != w.op.DID() || p.Token != tok || p.Doc.Version != 1 {
		t.Errorf("Signer/Token/Version not recorded: %q %d", p.Signer, p.Doc.Version)
	}
	for tool, want := range map[string]bool{"shell/exec": true, "shell/x": true, "web/fetch": false, "shellx/exec": false} {
		if got := p.Denied(tool); got != want {
			t.Errorf("Denied(%q) = %v, want %v", tool, got, want)
		}
	}
	if !p.NeedsApproval("mail/send") || p.NeedsApproval("mail/read") {
		t.Error("NeedsApproval does not follow the approval globs")
	}
	wantDLP := map[string]string{"secrets": "block", "cards": "redact", "iban": "redact", "email": "redact", "phone": "flag", "national_id": "flag"}
	if got := p.DLPModes(); !reflect.DeepEqual(got, wantDLP) {
		t.Errorf("DLPModes = %v, want %v", got, wantDLP)
	}
	p.DLPModes()["secrets"] = "off"
	if p.DLPModes()["secrets"] != "block" {
		t.Error("a caller changed the policy through the map DLPModes returned")
	}
	if p.Injection() != "spotlight" {
		t.Errorf("Injection = %q", p.Injection())
	}
}

func TestDefault(t *testing.T) {
	p := policy.Default("default")
	want := map[string]string{"secrets": "block", "cards": "redact", "iban": "redact", "email": "flag", "phone": "flag", "national_id": "flag"}
	if got := p.DLPModes(); !reflect.DeepEqual(got, want) {
		t.Errorf("default DLP modes = %v, want DESIGN §9 %v", got, want)
	}
	if p.Injection() != "flag" || p.Denied("shell/exec") || p.NeedsApproval("mail/send") {
		t.Error("default policy denies, holds or ignores injection")
	}
	if p.Anomaly() != policy.DefaultAnomaly() || p.Doc.Version != 0 || p.Doc.Realm != "default" {
		t.Errorf("default policy = %+v", p.Doc)
	}
	if a := policy.DefaultAnomaly(); a.WindowS != 10 || a.BurstFactor != 10 || a.MinCalls != 50 || a.NewEgressHost != "off" || a.Quarantine || a.Webhook != "" {
		t.Errorf("DefaultAnomaly = %+v, want DESIGN §9's", a)
	}
}

func TestSignRefusesInvalidDocuments(t *testing.T) {
	w := newWorld(t)
	for name, d := range map[string]policy.Document{
		"version zero":  func() policy.Document { d := doc(1); d.Version = 0; return d }(),
		"bad dlp mode":  func() policy.Document { d := doc(1); d.DLP = map[string]string{"cards": "maybe"}; return d }(),
		"bad deny glob": func() policy.Document { d := doc(1); d.Deny = []string{"a/b/c"}; return d }(),
		"no realm":      func() policy.Document { d := doc(1); d.Realm = ""; return d }(),
	} {
		if tok, err := policy.Sign(w.op, d); err == nil || !errors.Is(err, policy.ErrInvalid) {
			t.Errorf("%s: Sign = %q, %v; want ErrInvalid", name, tok, err)
		}
	}
}

// eachDB runs fn on SQLite and on PostgreSQL; open returns a new handle on
// one empty database (the same file, or the same PostgreSQL database as
// another node would see it).
func eachDB(t *testing.T, fn func(t *testing.T, open func(t *testing.T) *sqldb.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "airlock.db")
		fn(t, func(t *testing.T) *sqldb.DB {
			db, err := sqldb.OpenSQLite(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.DSN(t)
		fn(t, func(t *testing.T) *sqldb.DB {
			db, err := sqldb.OpenPostgres(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
}

func TestStoreMonotonicVersions(t *testing.T) {
	eachDB(t, testStoreMonotonicVersions)
}

func testStoreMonotonicVersions(t *testing.T, open func(t *testing.T) *sqldb.DB) {
	ctx := context.Background()
	w := newWorld(t)
	s, err := policy.OpenStore(ctx, open(t))
	if err != nil {
		t.Fatal(err)
	}
	verify := func(k *identity.Key, d policy.Document) *policy.Policy {
		t.Helper()
		p, err := policy.Verify(signed(t, k, d), d.Realm, w.trust)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	got, err := s.Get(ctx, "default")
	if err != nil || got.Doc.Version != 0 || got.Token != "" {
		t.Fatalf("empty store: Get = %+v, %v; want Default", got, err)
	}

	v2 := verify(w.op, doc(2))
	if err := s.Put(ctx, v2); err != nil {
		t.Fatal(err)
	}
	lax := doc(1)
	lax.Deny, lax.DLP = nil, map[string]string{"secrets": "off"}
	otherV1 := doc(1)
	otherV1.Realm = "other"

	tests := []struct {
		name string
		p    *policy.Policy
		want error
	}{
		{"replayed policy (same version, same token)", v2, policy.ErrStale},
		{"re-signed policy with the same version", verify(w.op, doc(2)), policy.ErrStale},
		{"downgrade to an older, laxer version", verify(w.op, lax), policy.ErrStale},
		{"unverified policy", &policy.Policy{Doc: doc(9)}, policy.ErrInvalid},
		{"another realm's version 1 is independent", verify(w.otherOp, otherV1), nil},
		{"newer version", verify(w.op, doc(3)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Put(ctx, tt.p); !errors.Is(err, tt.want) {
				t.Fatalf("Put = %v, want %v", err, tt.want)
			}
		})
	}

	got, err = s.Get(ctx, "default")
	if err != nil || got.Doc.Version != 3 || !got.Denied("shell/exec") {
		t.Fatalf("Get after refusals = %+v, %v; want version 3", got, err)
	}

	// After a restart (new connection, new Store, empty cache) the same
	// policy is in force and a replay is still refused.
	s2, err := policy.OpenStore(ctx, open(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err = s2.Get(ctx, "default")
	if err != nil || got.Doc.Version != 3 || got.Signer != w.op.DID() || !got.Denied("shell/exec") {
		t.Fatalf("Get after reopen = %+v, %v", got, err)
	}
	if err := s2.Put(ctx, v2); !errors.Is(err, policy.ErrStale) {
		t.Fatalf("replay after reopen: %v", err)
	}
}

// Concurrent Puts of one version, on two nodes: exactly one succeeds.
func TestStoreConcurrentPutsOfOneVersion(t *testing.T) {
	eachDB(t, testStoreConcurrentPutsOfOneVersion)
}

func testStoreConcurrentPutsOfOneVersion(t *testing.T, open func(t *testing.T) *sqldb.DB) {
	ctx := context.Background()
	w := newWorld(t)
	var nodes []*policy.Store
	for range 2 {
		s, err := policy.OpenStore(ctx, open(t))
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, s)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		p, err := policy.Verify(signed(t, w.op, doc(5)), "default", w.trust)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- nodes[i%2].Put(ctx, p)
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, policy.ErrStale):
			t.Fatal(err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent Puts of one version succeeded, want exactly 1", ok)
	}
}

func TestStoreRefusesTamperedRow(t *testing.T) {
	eachDB(t, testStoreRefusesTamperedRow)
}

func testStoreRefusesTamperedRow(t *testing.T, open func(t *testing.T) *sqldb.DB) {
	ctx := context.Background()
	w := newWorld(t)
	db := open(t)
	s, err := policy.OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Verify(signed(t, w.op, doc(1)), "default", w.trust)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, p); err != nil {
		t.Fatal(err)
	}
	// Someone with write access to the database swaps in a laxer document
	// signed by their own key.
	lax := doc(2)
	lax.Deny = nil
	if _, err := db.SQL().ExecContext(ctx, `UPDATE policies SET version = 2, token = ? WHERE realm = 'default'`,
		signed(t, w.stranger, lax)); err != nil {
		t.Fatal(err)
	}
	s2, err := policy.OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Get(ctx, "default"); err == nil {
		t.Fatalf("tampered row applied: %+v", got.Doc)
	}
}
