package monitor_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/airlock-dev/airlock/host/monitor"
	"github.com/airlock-dev/airlock/host/policy"
	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const realm, alice = "default", "did:key:z6MkAlice"

// clock is a fake time source the tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// steady sends perSecond calls every second for d, starting at the clock's
// time, and returns the alerts of the given kind.
func steady(m *monitor.Monitor, c *clock, agent string, perSecond int, d time.Duration, cfg policy.Anomaly, kind string) []monitor.Alert {
	var out []monitor.Alert
	for end := c.t.Add(d); c.t.Before(end); c.t = c.t.Add(time.Second) {
		for range perSecond {
			for _, a := range m.Observe(monitor.Event{Realm: realm, Agent: agent, Tool: "web/fetch", Decision: "allow"}, cfg) {
				if a.Kind == kind {
					out = append(out, a)
				}
			}
		}
	}
	return out
}

func TestBurst(t *testing.T) {
	cfg := policy.DefaultAnomaly() // window 10 s, factor 10, min 50

	tests := []struct {
		name      string
		warmRate  int // calls per second during the first hour (not checked)
		checkRate int // calls per second during the checked period
		checkFor  time.Duration
		wantBurst bool
	}{
		{name: "100x burst after an hour of steady traffic", warmRate: 1, checkRate: 100, checkFor: 10 * time.Second, wantBurst: true},
		{name: "steady agent at its usual rate", warmRate: 10, checkRate: 10, checkFor: time.Hour},
		{name: "steady agent below min_calls without history", warmRate: 0, checkRate: 4, checkFor: time.Hour},
		{name: "5x its baseline stays under the factor", warmRate: 10, checkRate: 50, checkFor: 10 * time.Second},
		{name: "11x its baseline exceeds the factor", warmRate: 10, checkRate: 110, checkFor: 10 * time.Second, wantBurst: true},
		{name: "new agent bursting from nothing", warmRate: 0, checkRate: 60, checkFor: 10 * time.Second, wantBurst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: t0}
			m := monitor.New(c.now)
			steady(m, c, alice, tt.warmRate, time.Hour, cfg, monitor.KindBurst)
			got := steady(m, c, alice, tt.checkRate, tt.checkFor, cfg, monitor.KindBurst)
			if tt.wantBurst != (len(got) > 0) {
				t.Fatalf("burst alerts = %v, want burst %v", got, tt.wantBurst)
			}
			for _, a := range got {
				if a.Realm != realm || a.Agent != alice || a.Detail == "" || a.At.IsZero() {
					t.Errorf("incomplete alert %+v", a)
				}
			}
			// One alert per window, not one per call.
			if max := int(tt.checkFor/time.Second)/cfg.WindowS + 1; len(got) > max {
				t.Errorf("%d burst alerts in %v, want at most %d (one per window)", len(got), tt.checkFor, max)
			}
		})
	}
}

func TestBurstThresholdIsExact(t *testing.T) {
	// One call a second for an hour is a baseline of 10 per 10 s window, so
	// the threshold is 10 × 10 = 100 calls: exactly 100 is not a burst, 101
	// is. The window's own calls must not count towards the baseline.
	cfg := policy.DefaultAnomaly()
	c := &clock{t: t0}
	m := monitor.New(c.now)
	steady(m, c, alice, 1, time.Hour, cfg, monitor.KindBurst)
	if got := steady(m, c, alice, 10, 10*time.Second, cfg, monitor.KindBurst); len(got) != 0 {
		t.Fatalf("100 calls against a threshold of 100 raised %+v", got)
	}
	s, _ := m.Stats(realm, alice)
	if s.WindowCalls != 100 || s.HourCalls != 3600 {
		t.Fatalf("window %d, hour %d; want 100 and 3600", s.WindowCalls, s.HourCalls)
	}
	last := c.t.Add(-time.Second) // still inside the same window
	alerts := m.Observe(monitor.Event{Realm: realm, Agent: alice, Decision: "allow", At: last}, cfg)
	if len(alerts) != 1 || alerts[0].Kind != monitor.KindBurst {
		t.Fatalf("101st call: alerts = %+v, want one burst", alerts)
	}
}

func TestBurstIsPerAgentAndRealm(t *testing.T) {
	cfg := policy.DefaultAnomaly()
	c := &clock{t: t0}
	m := monitor.New(c.now)
	// Bob's steady hour does not make a baseline for alice, and alice in
	// realm "default" is not alice in realm "other".
	steady(m, c, "did:key:z6MkBob", 10, time.Hour, cfg, monitor.KindBurst)
	for range 40 {
		m.Observe(monitor.Event{Realm: "other", Agent: alice, Decision: "allow"}, cfg)
	}
	var alerts []monitor.Alert
	for range 60 {
		alerts = append(alerts, m.Observe(monitor.Event{Realm: realm, Agent: alice, Decision: "allow"}, cfg)...)
	}
	if len(alerts) != 1 || alerts[0].Kind != monitor.KindBurst || alerts[0].Realm != realm {
		t.Fatalf("alerts = %+v, want one burst for alice in %s", alerts, realm)
	}
}

func TestNewEgressHost(t *testing.T) {
	alert := policy.DefaultAnomaly()
	alert.NewEgressHost = policy.EgressAlert
	off := policy.DefaultAnomaly()

	type step struct {
		realm, agent, host string
		cfg                policy.Anomaly
		want               bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first-time egress host alerts when configured", []step{{realm, alice, "exfil.example", alert, true}}},
		{"first-time egress host is silent when off", []step{{realm, alice, "exfil.example", off, false}}},
		{"known host does not alert again", []step{
			{realm, alice, "api.github.com", alert, true},
			{realm, alice, "API.GitHub.com.", alert, false},
		}},
		{"host known to another agent is new for this one", []step{
			{realm, "did:key:z6MkBob", "api.github.com", alert, true},
			{realm, alice, "api.github.com", alert, true},
		}},
		{"host known in another realm is new in this one", []step{
			{"other", alice, "api.github.com", alert, true},
			{realm, alice, "api.github.com", alert, true},
		}},
		{"host first seen while off is known when alerts are turned on", []step{
			{realm, alice, "api.github.com", off, false},
			{realm, alice, "api.github.com", alert, false},
		}},
		{"no egress, no alert", []step{{realm, alice, "", alert, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := monitor.New(func() time.Time { return t0 })
			for i, s := range tt.steps {
				alerts := m.Observe(monitor.Event{Realm: s.realm, Agent: s.agent, Tool: "web/fetch", Decision: "allow",
					EgressHost: s.host, EgressBytes: 100}, s.cfg)
				got := len(alerts) == 1 && alerts[0].Kind == monitor.KindNewEgressHost
				if got != s.want || (!s.want && len(alerts) > 0) {
					t.Fatalf("step %d: alerts = %+v, want new_egress_host %v", i, alerts, s.want)
				}
			}
		})
	}
}

func TestDenialRun(t *testing.T) {
	cfg := policy.DefaultAnomaly()
	tests := []struct {
		name      string
		decisions string // d = deny, a = allow
		want      int    // denial_run alerts
	}{
		{"ten consecutive denials (probing for a way in)", strings.Repeat("d", 10), 1},
		{"a long run alerts once", strings.Repeat("d", 25), 1},
		{"nine denials are not a run", strings.Repeat("d", 9), 0},
		{"an allowed call breaks the run", strings.Repeat("d", 9) + "a" + strings.Repeat("d", 9), 0},
		{"two separate runs alert twice", strings.Repeat("d", 10) + "a" + strings.Repeat("d", 10), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: t0}
			m := monitor.New(c.now)
			n := 0
			for _, d := range tt.decisions {
				dec := "allow"
				if d == 'd' {
					dec = monitor.DecisionDeny
				}
				c.t = c.t.Add(time.Second)
				for _, a := range m.Observe(monitor.Event{Realm: realm, Agent: alice, Tool: "fs/read", Decision: dec}, cfg) {
					if a.Kind == monitor.KindDenialRun {
						n++
					}
				}
			}
			if n != tt.want {
				t.Fatalf("%d denial_run alerts, want %d", n, tt.want)
			}
		})
	}
}

func TestSecretLeak(t *testing.T) {
	cfg := policy.DefaultAnomaly()
	tests := []struct {
		name string
		e    monitor.Event
		want bool
	}{
		{"secret in an egress body", monitor.Event{SecretHits: 1, DLPHits: 1, EgressHost: "paste.example"}, true},
		{"secret in tool output", monitor.Event{SecretHits: 2, DLPHits: 3}, true},
		{"only PII hits (an e-mail address) are not a secret leak", monitor.Event{DLPHits: 4}, false},
		{"clean call", monitor.Event{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := monitor.New(func() time.Time { return t0 })
			e := tt.e
			e.Realm, e.Agent, e.Tool, e.Decision = realm, alice, "web/fetch", "allow"
			var got bool
			for _, a := range m.Observe(e, cfg) {
				if a.Kind == monitor.KindSecretLeak {
					got = true
					if strings.Contains(a.Detail, "ghp_") {
						t.Error("alert detail carries secret material")
					}
				}
			}
			if got != tt.want {
				t.Fatalf("secret_leak = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStats(t *testing.T) {
	c := &clock{t: t0}
	m := monitor.New(c.now)
	cfg := policy.DefaultAnomaly()
	m.Observe(monitor.Event{Realm: realm, Agent: alice, Tool: "web/fetch", Decision: "allow", EgressHost: "a.example", EgressBytes: 10, DLPHits: 2, SecretHits: 1}, cfg)
	m.Observe(monitor.Event{Realm: realm, Agent: alice, Tool: "mail/send", Decision: "hold", Approval: true}, cfg)
	m.Observe(monitor.Event{Realm: realm, Agent: alice, Tool: "web/fetch", Decision: monitor.DecisionDeny, EgressHost: "b.example", EgressBytes: 5}, cfg)
	s, ok := m.Stats(realm, alice)
	if !ok {
		t.Fatal("agent not tracked")
	}
	want := monitor.Stats{Calls: 3, Denials: 1, DLPHits: 2, SecretHits: 1, Approvals: 1, EgressBytes: 15, WindowCalls: 3, DenialRun: 1, LastSeen: t0}
	if s.Calls != want.Calls || s.Denials != want.Denials || s.DLPHits != want.DLPHits || s.SecretHits != want.SecretHits ||
		s.Approvals != want.Approvals || s.EgressBytes != want.EgressBytes || s.WindowCalls != want.WindowCalls ||
		s.DenialRun != want.DenialRun || !s.LastSeen.Equal(want.LastSeen) {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
	if s.Tools["web/fetch"] != 2 || s.Tools["mail/send"] != 1 || strings.Join(s.EgressHosts, ",") != "a.example,b.example" {
		t.Errorf("tool mix %v, hosts %v", s.Tools, s.EgressHosts)
	}
	if _, ok := m.Stats("other", alice); ok {
		t.Error("stats leak across realms")
	}
}

func TestBoundedMemory(t *testing.T) {
	cfg := policy.DefaultAnomaly()
	cfg.NewEgressHost = policy.EgressAlert

	t.Run("agent flood is capped", func(t *testing.T) {
		c := &clock{t: t0}
		m := monitor.New(c.now, monitor.WithMaxAgents(3))
		for i := range 100 {
			m.Observe(monitor.Event{Realm: realm, Agent: fmt.Sprintf("did:key:z%d", i), Decision: "allow"}, cfg)
		}
		if n := m.Tracked(); n != 3 {
			t.Fatalf("%d agents tracked, want the cap 3", n)
		}
		if _, ok := m.Stats(realm, "did:key:z99"); !ok {
			t.Error("the most recent agent was evicted")
		}
		if _, ok := m.Stats(realm, "did:key:z0"); ok {
			t.Error("the least recently seen agent was kept")
		}
	})

	t.Run("idle agents are pruned first", func(t *testing.T) {
		c := &clock{t: t0}
		m := monitor.New(c.now, monitor.WithMaxAgents(3))
		m.Observe(monitor.Event{Realm: realm, Agent: "idle", Decision: "allow"}, cfg)
		c.t = c.t.Add(2 * time.Hour)
		m.Observe(monitor.Event{Realm: realm, Agent: "busy1", Decision: "allow"}, cfg)
		m.Observe(monitor.Event{Realm: realm, Agent: "busy2", Decision: "allow"}, cfg)
		m.Observe(monitor.Event{Realm: realm, Agent: "new", Decision: "allow"}, cfg)
		if _, ok := m.Stats(realm, "idle"); ok {
			t.Error("idle agent kept at the cap")
		}
		for _, a := range []string{"busy1", "busy2", "new"} {
			if _, ok := m.Stats(realm, a); !ok {
				t.Errorf("%s evicted", a)
			}
		}
	})

	t.Run("tool and host flood is capped per agent", func(t *testing.T) {
		m := monitor.New(func() time.Time { return t0 })
		for i := range monitor.MaxHostsTracked + 50 {
			m.Observe(monitor.Event{Realm: realm, Agent: alice, Tool: fmt.Sprintf("t/x%d", i), Decision: "allow",
				EgressHost: fmt.Sprintf("h%d.example", i)}, cfg)
		}
		s, _ := m.Stats(realm, alice)
		if len(s.Tools) > monitor.MaxToolsTracked+1 || s.Tools[monitor.OtherTools] == 0 {
			t.Errorf("tool mix holds %d entries", len(s.Tools))
		}
		if len(s.EgressHosts) != monitor.MaxHostsTracked {
			t.Errorf("%d hosts remembered, want %d", len(s.EgressHosts), monitor.MaxHostsTracked)
		}
	})
}

func TestObserveConcurrently(t *testing.T) {
	m := monitor.New(func() time.Time { return t0 })
	cfg := policy.DefaultAnomaly()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				m.Observe(monitor.Event{Realm: realm, Agent: fmt.Sprintf("a%d", g%3), Tool: "x/y", Decision: "allow",
					EgressHost: fmt.Sprintf("h%d", i%7)}, cfg)
				m.Stats(realm, "a0")
			}
		}()
	}
	wg.Wait()
	var total int64
	for i := range 3 {
		s, _ := m.Stats(realm, fmt.Sprintf("a%d", i))
		total += s.Calls
	}
	if total != 8*200 {
		t.Fatalf("counted %d calls, want %d", total, 8*200)
	}
}

func TestQuarantineStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "airlock.db")
		testQuarantineStore(t, func() (*sqldb.DB, error) { return sqldb.OpenSQLite(context.Background(), path) })
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.DSN(t)
		testQuarantineStore(t, func() (*sqldb.DB, error) { return sqldb.OpenPostgres(context.Background(), dsn) })
	})
}

// testQuarantineStore runs on one database; each open is a restart, or on
// PostgreSQL another node.
func testQuarantineStore(t *testing.T, openDB func() (*sqldb.DB, error)) {
	ctx := context.Background()
	shared := false // the database is PostgreSQL, shared by nodes
	open := func() *monitor.QuarantineStore {
		db, err := openDB()
		if err != nil {
			t.Fatal(err)
		}
		shared = db.Dialect() == sqldb.Postgres
		t.Cleanup(func() { db.Close() })
		q, err := monitor.OpenQuarantineStore(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	q := open()
	check := func(q *monitor.QuarantineStore, realm, agent string, want bool) {
		t.Helper()
		got, err := q.IsQuarantined(ctx, realm, agent)
		if err != nil || got != want {
			t.Fatalf("IsQuarantined(%s, %s) = %v, %v; want %v", realm, agent, got, err, want)
		}
	}

	check(q, realm, alice, false)
	if err := q.Quarantine(ctx, realm, alice, monitor.KindBurst); err != nil {
		t.Fatal(err)
	}
	if err := q.Quarantine(ctx, realm, alice, monitor.KindSecretLeak); err != nil {
		t.Fatal("quarantining twice must be idempotent:", err)
	}
	check(q, realm, alice, true)
	check(q, "other", alice, false)           // quarantine in one realm does not reach another
	check(q, realm, "did:key:z6MkBob", false) // nor another agent

	// Durable: a restart keeps the agent quarantined.
	q2 := open()
	check(q2, realm, alice, true)
	list, err := q2.List(ctx, realm)
	if err != nil || len(list) != 1 || list[0].Agent != alice || list[0].Reason != monitor.KindBurst {
		t.Fatalf("List = %+v, %v", list, err)
	}

	released, err := q2.Release(ctx, realm, alice)
	if err != nil || !released {
		t.Fatalf("Release = %v, %v", released, err)
	}
	check(q2, realm, alice, false)
	if shared {
		// Another node on the same PostgreSQL database sees the release at
		// its next check. (A SQLite file belongs to one process: q stands
		// for the process before the restart, which is gone.)
		check(q, realm, alice, false)
	}
	if released, err := q2.Release(ctx, realm, alice); err != nil || released {
		t.Fatalf("second Release = %v, %v; want false", released, err)
	}
	if err := q.Quarantine(ctx, "", alice, "x"); err == nil {
		t.Error("quarantine without a realm accepted")
	}

	// A long reason is cut on a character boundary; NUL and invalid UTF-8
	// (which PostgreSQL refuses) are cleaned, not fatal.
	long := strings.Repeat("é", monitor.MaxReasonBytes) + "\x00\xff"
	if err := q.Quarantine(ctx, realm, "did:key:z6MkCarol", "\x00bad\xffbytes"); err != nil {
		t.Fatal(err)
	}
	if err := q.Quarantine(ctx, realm, "did:key:z6MkDave", long); err != nil {
		t.Fatal(err)
	}
	list, err = q2.List(ctx, realm)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	for _, r := range list {
		if len(r.Reason) > monitor.MaxReasonBytes || !utf8.ValidString(r.Reason) || strings.Contains(r.Reason, "\x00") {
			t.Errorf("%s: reason %q", r.Agent, r.Reason)
		}
	}
}

// TestCountsMatchANaiveCount checks the bucketed window and hour counts
// against a plain list of call times, over random traffic with gaps, long
// idle periods and late (out-of-order) events, and random windows.
func TestCountsMatchANaiveCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := monitor.New(func() time.Time { return t0 })
	const span = 3600 + policy.MaxWindowS
	var (
		head  int64
		calls []int64
	)
	sec := t0.Unix()
	for i := range 4000 {
		at := sec
		switch r := rng.IntN(100); {
		case r < 70:
			sec += int64(rng.IntN(3))
			at = sec
		case r < 75:
			sec += int64(rng.IntN(2 * span))
			at = sec
		default:
			at = sec - int64(rng.IntN(span+200))
		}
		cfg := policy.DefaultAnomaly()
		cfg.WindowS = 1 + rng.IntN(policy.MaxWindowS)
		m.Observe(monitor.Event{Realm: realm, Agent: alice, Decision: "allow", At: time.Unix(at, 0)}, cfg)
		if head == 0 || at > head {
			head = at
		}
		if head-at < span {
			calls = append(calls, at)
		}
		w := int64(cfg.WindowS)
		var inWindow, inHour int64
		for _, c := range calls {
			switch {
			case c > head-w && c <= head:
				inWindow++
			case c > head-w-3600 && c <= head-w:
				inHour++
			}
		}
		s, _ := m.Stats(realm, alice)
		if s.WindowCalls != inWindow || s.HourCalls != inHour {
			t.Fatalf("event %d (window %d s): window %d, hour %d; naive count %d, %d",
				i, w, s.WindowCalls, s.HourCalls, inWindow, inHour)
		}
	}
}
