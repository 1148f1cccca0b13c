// Package monitor keeps per-agent behavioural baselines and raises alerts on
// anomalies (domain 11): a burst far above the agent's usual call rate, a
// first-time egress host, a run of denials and a secret-leak attempt. It
// also holds the durable quarantine list ([QuarantineStore]).
//
// The monitor only observes and reports. What an alert leads to (an audit
// entry with action "anomaly", the airlock_anomalies_total metric, the
// policy's webhook, quarantine when the policy says so) is the caller's
// decision, taken from the policy in force.
//
// # Burst rule
//
// Exactly DESIGN §9: with w = window_s, an agent bursts when its calls in the
// last w seconds exceed both min_calls and burst_factor × its average rate
// over the previous hour scaled to the window. "Previous hour" is the hour
// that ends where the window starts, so a burst never raises its own
// baseline. Calls are counted in one-second buckets, so the counts are exact
// to the second. An agent with no history has a baseline of zero: any window
// above min_calls is a burst. A burst alert is raised at most once per window
// per agent.
//
// # Security
//
// Memory is bounded: at most [DefaultMaxAgents] (see [WithMaxAgents]) agents
// are tracked, each with a fixed-size call ring, at most [MaxToolsTracked]
// tool names and at most [MaxHostsTracked] egress hosts. Agents idle for
// longer than the baseline span are pruned, and when the table is full the
// least recently seen agent is dropped. Dropping an agent forgets the egress
// hosts it was seen using, so a host may be reported as new again: the
// monitor errs towards alerting. Alert details name counts, tools and hosts,
// never payloads or secret values. All state is behind one mutex that is
// never held across I/O.
package monitor

import (
	"container/list"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/host/policy"
)

// Alert kinds.
const (
	KindBurst         = "burst"
	KindNewEgressHost = "new_egress_host"
	KindDenialRun     = "denial_run"
	KindSecretLeak    = "secret_leak"
)

// DecisionDeny is the Event.Decision of a refused call (as in the audit log).
const DecisionDeny = "deny"

// Bounds.
const (
	// DefaultMaxAgents is how many (realm, agent) pairs are tracked.
	DefaultMaxAgents = 4096
	// MaxToolsTracked bounds the tool mix of one agent; further tools are
	// counted under OtherTools.
	MaxToolsTracked = 64
	// MaxHostsTracked bounds the egress hosts remembered per agent; the
	// oldest is forgotten first.
	MaxHostsTracked = 256
	// DenialRunLength is the number of consecutive denials that raises a
	// denial_run alert.
	DenialRunLength = 10
	// baselineS is the span of the baseline: one hour.
	baselineS = 3600
	// ringS is the number of one-second buckets per agent, a whole number
	// of minutes so that each minute's seconds share one aligned block.
	ringS = baselineS + policy.MaxWindowS
	// ringM is the number of one-minute buckets: one more than ringS
	// spans, because the oldest minute may still be partly in range when
	// the newest one starts.
	ringM = ringS/60 + 1
)

// OtherTools is the key of the tool mix that counts tools beyond
// MaxToolsTracked.
const OtherTools = "*other*"

// Event is one decision about one agent's call.
type Event struct {
	Realm, Agent, Tool, Decision string
	// EgressHost is the host of an outgoing request ("" for none) and
	// EgressBytes its size.
	EgressHost  string
	EgressBytes int64
	// DLPHits counts all detector hits in the call's output and egress;
	// SecretHits the hits of the secrets detector among them (vault values
	// and credential formats), which raise secret_leak.
	DLPHits    int
	SecretHits int
	// Approval is set when the call asked for human approval.
	Approval bool
	// At is when the call happened; zero means now.
	At time.Time
}

// Alert is an anomaly raised by Observe.
type Alert struct {
	Realm, Agent, Kind, Detail string
	At                         time.Time
}

// Stats is a snapshot of one agent's rolling statistics.
type Stats struct {
	Calls, Denials, DLPHits, SecretHits, Approvals int64
	EgressBytes                                    int64
	// WindowCalls and HourCalls are the calls in the last window and in
	// the hour before it, under the window of the last Observe.
	WindowCalls, HourCalls int64
	DenialRun              int
	Tools                  map[string]int64
	EgressHosts            []string
	LastSeen               time.Time
}

// Option configures a Monitor.
type Option func(*Monitor)

// WithMaxAgents sets how many (realm, agent) pairs are tracked (at least 1).
func WithMaxAgents(n int) Option {
	return func(m *Monitor) {
		if n >= 1 {
			m.maxAgents = n
		}
	}
}

// Monitor keeps per-(realm, agent) rolling statistics. It is safe for
// concurrent use.
type Monitor struct {
	now       func() time.Time
	maxAgents int

	mu     sync.Mutex
	agents map[agentKey]*list.Element // of *agent
	lru    *list.List                 // front: most recently seen
}

type agentKey struct{ realm, agent string }

type agent struct {
	key agentKey

	ring [ringS]uint16 // calls per second, saturating
	mins [ringM]uint32 // calls per minute: the sum of that minute's seconds
	head int64         // unix second of the newest bucket

	calls, denials, dlpHits, secretHits, approvals, egressBytes int64
	denialRun                                                   int
	tools                                                       map[string]int64
	hosts                                                       map[string]bool
	hostOrder                                                   []string // oldest first
	lastBurst                                                   int64    // unix second of the last burst alert
	lastWindow                                                  int
	lastSeen                                                    time.Time
}

// New returns a Monitor that reads the time from now (time.Now when nil).
func New(now func() time.Time, opts ...Option) *Monitor {
	if now == nil {
		now = time.Now
	}
	m := &Monitor{now: now, maxAgents: DefaultMaxAgents, agents: map[agentKey]*list.Element{}, lru: list.New()}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Observe records e and returns the alerts it raises under cfg: burst (see
// the package doc), new_egress_host when cfg.NewEgressHost is "alert" and the
// agent was never seen using the host, denial_run when the agent's run of
// consecutive denials reaches [DenialRunLength], and secret_leak when the
// secrets detector hit. Zero thresholds in cfg take the DESIGN §9 defaults.
func (m *Monitor) Observe(e Event, cfg policy.Anomaly) []Alert {
	cfg = withDefaults(cfg)
	at := e.At
	if at.IsZero() {
		at = m.now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	a := m.lookup(agentKey{e.Realm, e.Agent}, at)
	var alerts []Alert
	raise := func(kind, format string, args ...any) {
		alerts = append(alerts, Alert{Realm: e.Realm, Agent: e.Agent, Kind: kind, Detail: fmt.Sprintf(format, args...), At: at})
	}

	sec := a.record(at.Unix())
	a.calls++
	if at.After(a.lastSeen) {
		a.lastSeen = at
	}
	a.countTool(e.Tool)

	// Burst: exactly DESIGN §9.
	w := int64(cfg.WindowS)
	a.lastWindow = cfg.WindowS
	inWindow := a.sum(sec-w+1, sec)
	lastHour := a.sum(sec-w-baselineS+1, sec-w)
	baseline := float64(lastHour) * float64(w) / baselineS
	if inWindow > int64(cfg.MinCalls) && float64(inWindow) > cfg.BurstFactor*baseline &&
		(a.lastBurst == 0 || sec-a.lastBurst >= w) {
		a.lastBurst = sec
		raise(KindBurst, "%d calls in %ds; baseline %.1f per %ds over the previous hour (factor %g, min %d)",
			inWindow, w, baseline, w, cfg.BurstFactor, cfg.MinCalls)
	}

	if e.Decision == DecisionDeny {
		a.denials++
		a.denialRun++
		if a.denialRun == DenialRunLength {
			raise(KindDenialRun, "%d consecutive denials (last tool %q)", a.denialRun, short(e.Tool))
		}
	} else {
		a.denialRun = 0
	}

	if host := strings.ToLower(strings.TrimSuffix(e.EgressHost, ".")); host != "" {
		a.egressBytes += max(e.EgressBytes, 0)
		if !a.hosts[host] {
			a.rememberHost(host)
			if cfg.NewEgressHost == policy.EgressAlert {
				raise(KindNewEgressHost, "first request to host %q (tool %q)", short(host), short(e.Tool))
			}
		}
	}

	a.dlpHits += int64(max(e.DLPHits, 0))
	if e.SecretHits > 0 {
		a.secretHits += int64(e.SecretHits)
		raise(KindSecretLeak, "%d secret detector hit(s) (tool %q)", e.SecretHits, short(e.Tool))
	}
	if e.Approval {
		a.approvals++
	}
	return alerts
}

// Stats returns a snapshot of the statistics of (realm, agent), or false
// when the agent is not tracked.
func (m *Monitor) Stats(realm, agentDID string) (Stats, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.agents[agentKey{realm, agentDID}]
	if !ok {
		return Stats{}, false
	}
	a := el.Value.(*agent)
	w := int64(a.lastWindow)
	if w == 0 {
		w = int64(policy.DefaultAnomaly().WindowS)
	}
	s := Stats{
		Calls: a.calls, Denials: a.denials, DLPHits: a.dlpHits, SecretHits: a.secretHits,
		Approvals: a.approvals, EgressBytes: a.egressBytes, DenialRun: a.denialRun,
		WindowCalls: a.sum(a.head-w+1, a.head), HourCalls: a.sum(a.head-w-baselineS+1, a.head-w),
		Tools: make(map[string]int64, len(a.tools)), EgressHosts: append([]string(nil), a.hostOrder...),
		LastSeen: a.lastSeen,
	}
	for k, v := range a.tools {
		s.Tools[k] = v
	}
	return s, true
}

// Tracked returns how many agents are tracked.
func (m *Monitor) Tracked() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.agents)
}

// Forget drops the statistics of (realm, agent), e.g. after a release.
func (m *Monitor) Forget(realm, agentDID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.agents[agentKey{realm, agentDID}]; ok {
		m.lru.Remove(el)
		delete(m.agents, agentKey{realm, agentDID})
	}
}

// lookup returns the agent's state, creating it (and making room) when new,
// and marks it most recently seen. Called with m.mu held.
func (m *Monitor) lookup(k agentKey, at time.Time) *agent {
	if el, ok := m.agents[k]; ok {
		m.lru.MoveToFront(el)
		return el.Value.(*agent)
	}
	if len(m.agents) >= m.maxAgents {
		m.pruneIdle(at)
	}
	for len(m.agents) >= m.maxAgents {
		oldest := m.lru.Back()
		m.lru.Remove(oldest)
		delete(m.agents, oldest.Value.(*agent).key)
	}
	a := &agent{key: k, tools: map[string]int64{}, hosts: map[string]bool{}}
	m.agents[k] = m.lru.PushFront(a)
	return a
}

// pruneIdle drops agents not seen for longer than the ring spans: their
// call history is all zero anyway. Called with m.mu held.
func (m *Monitor) pruneIdle(now time.Time) {
	cutoff := now.Add(-ringS * time.Second)
	for el := m.lru.Back(); el != nil; {
		a := el.Value.(*agent)
		if !a.lastSeen.Before(cutoff) {
			return // the rest were seen more recently
		}
		prev := el.Prev()
		m.lru.Remove(el)
		delete(m.agents, a.key)
		el = prev
	}
}

// record counts one call at unix second sec and returns the second the
// window ends at (the newest bucket). Each call is counted in its second and
// in its minute, so sum can add whole minutes at once.
func (a *agent) record(sec int64) int64 {
	if a.head == 0 {
		a.head = sec
	}
	if sec > a.head {
		if sec-a.head >= ringS {
			a.ring, a.mins = [ringS]uint16{}, [ringM]uint32{}
		} else {
			for s := a.head + 1; s <= sec; s++ {
				a.ring[secIdx(s)] = 0
				if floorMod(s, 60) == 0 {
					a.mins[minIdx(s)] = 0
				}
			}
		}
		a.head = sec
	}
	if a.head-sec < ringS && a.ring[secIdx(sec)] < ^uint16(0) {
		a.ring[secIdx(sec)]++
		a.mins[minIdx(sec)]++
	}
	return a.head
}

// sum counts the calls in seconds [from, to], clipped to the ring: second
// buckets up to the first minute boundary, minute buckets for whole
// minutes, second buckets for the rest.
func (a *agent) sum(from, to int64) int64 {
	from = max(from, a.head-ringS+1)
	to = min(to, a.head)
	var n int64
	s := from
	for ; s <= to && floorMod(s, 60) != 0; s++ {
		n += int64(a.ring[secIdx(s)])
	}
	for ; s+59 <= to; s += 60 {
		n += int64(a.mins[minIdx(s)])
	}
	for ; s <= to; s++ {
		n += int64(a.ring[secIdx(s)])
	}
	return n
}

func floorMod(x, m int64) int64 {
	r := x % m
	if r < 0 {
		r += m
	}
	return r
}

func secIdx(sec int64) int64 { return floorMod(sec, ringS) }

func minIdx(sec int64) int64 { return floorMod((sec-floorMod(sec, 60))/60, ringM) }

func (a *agent) countTool(tool string) {
	if tool == "" {
		return
	}
	if _, ok := a.tools[tool]; !ok && len(a.tools) >= MaxToolsTracked {
		tool = OtherTools
	}
	a.tools[tool]++
}

func (a *agent) rememberHost(host string) {
	if len(a.hostOrder) >= MaxHostsTracked {
		delete(a.hosts, a.hostOrder[0])
		a.hostOrder = append(a.hostOrder[:0], a.hostOrder[1:]...)
	}
	a.hosts[host] = true
	a.hostOrder = append(a.hostOrder, host)
}

// withDefaults fills zero thresholds with DESIGN §9's and clamps the window.
func withDefaults(cfg policy.Anomaly) policy.Anomaly {
	d := policy.DefaultAnomaly()
	if cfg.WindowS <= 0 {
		cfg.WindowS = d.WindowS
	}
	cfg.WindowS = min(cfg.WindowS, policy.MaxWindowS)
	if !(cfg.BurstFactor > 0) {
		cfg.BurstFactor = d.BurstFactor
	}
	if cfg.MinCalls <= 0 {
		cfg.MinCalls = d.MinCalls
	}
	return cfg
}

// short bounds caller-supplied text in alert details.
func short(s string) string {
	const limit = 128
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
