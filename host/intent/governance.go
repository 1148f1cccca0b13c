package intent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/dlp"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/inject"
	"github.com/airlock-dev/airlock/host/monitor"
	"github.com/airlock-dev/airlock/host/policy"
	"github.com/airlock-dev/airlock/host/store"
)

// ErrQuarantined is returned for every request of a quarantined agent.
var ErrQuarantined = errors.New("intent: agent quarantined")

// Governance is the realm's signed policy, the behaviour monitor and the
// quarantine list. A nil Governance means the DESIGN §9 defaults and no
// monitoring.
type Governance struct {
	Policies   *policy.Store
	Monitor    *monitor.Monitor
	Quarantine *monitor.QuarantineStore
	// OnAlert is told of every anomaly (metrics).
	OnAlert func(monitor.Alert)
	// Webhook posts alerts when the policy names a webhook (nil → none).
	Webhook *http.Client
}

// policyFor returns the realm's policy (the defaults when none is stored).
// Within one intent (withPolicyMemo) every decision uses the policy read by
// the first one: the schedule, the gate, the output filters and the
// monitor see one version, and the store is read once.
func (s *Service) policyFor(ctx context.Context, realm string) (*policy.Policy, error) {
	if s.Governance == nil || s.Governance.Policies == nil {
		return policy.Default(realm), nil
	}
	memo, _ := ctx.Value(policyMemoKey{}).(*policyMemo)
	if memo != nil {
		memo.mu.Lock()
		defer memo.mu.Unlock()
		if p := memo.byRealm[realm]; p != nil {
			return p, nil
		}
	}
	p, err := s.Governance.Policies.Get(ctx, realm)
	if err != nil {
		return nil, fmt.Errorf("%w: policy store: %v", ErrUnavailable, err)
	}
	if memo != nil {
		memo.byRealm[realm] = p
	}
	return p, nil
}

// policyMemo holds the policies one intent has read, by realm.
type policyMemo struct {
	mu      sync.Mutex
	byRealm map[string]*policy.Policy
}

type policyMemoKey struct{}

// withPolicyMemo returns ctx carrying a policy memo, unless it has one (a
// nested tool call shares its intent's).
func withPolicyMemo(ctx context.Context) context.Context {
	if _, ok := ctx.Value(policyMemoKey{}).(*policyMemo); ok {
		return ctx
	}
	return context.WithValue(ctx, policyMemoKey{}, &policyMemo{byRealm: map[string]*policy.Policy{}})
}

// DLPModes implements Filters from the realm's policy.
func (s *Service) DLPModes(ctx context.Context, realm string) (map[dlp.Detector]dlp.Mode, error) {
	p, err := s.policyFor(ctx, realm)
	if err != nil {
		return nil, err
	}
	modes := dlp.DefaultModes()
	for k, v := range p.DLPModes() {
		d, err := dlp.ParseDetector(k)
		if err != nil {
			continue
		}
		m, err := dlp.ParseMode(v)
		if err != nil {
			m = dlp.Block // unknown mode: fail closed
		}
		modes[d] = m
	}
	return modes, nil
}

// Injection implements Filters from the realm's policy.
func (s *Service) Injection(ctx context.Context, realm string) (inject.Mode, error) {
	p, err := s.policyFor(ctx, realm)
	if err != nil {
		return "", err
	}
	m, err := inject.ParseMode(p.Injection())
	if err != nil {
		return inject.ModeBlock, nil
	}
	return m, nil
}

// checkQuarantine refuses a quarantined agent.
func (s *Service) checkQuarantine(ctx context.Context, realm, agent string) error {
	if s.Governance == nil || s.Governance.Quarantine == nil {
		return nil
	}
	q, err := s.Governance.Quarantine.IsQuarantined(ctx, realm, agent)
	if err != nil {
		return fmt.Errorf("%w: quarantine store: %v", ErrUnavailable, err)
	}
	if q {
		return fmt.Errorf("%w: released only by an operator", ErrQuarantined)
	}
	return nil
}

// observe feeds one decision to the behaviour monitor and acts on alerts:
// an audit entry (action anomaly), the OnAlert hook, the policy's webhook
// and, when the policy says so, quarantine.
func (s *Service) observe(ctx context.Context, e monitor.Event) {
	gv := s.Governance
	if gv == nil || gv.Monitor == nil || e.Realm == "" || e.Agent == "" {
		return
	}
	p, err := s.policyFor(ctx, e.Realm)
	if err != nil {
		return
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	for _, a := range gv.Monitor.Observe(e, p.Anomaly()) {
		if _, err := s.Audit.Append(ctx, audit.Entry{Realm: a.Realm, Actor: a.Agent, Action: "anomaly", Tool: e.Tool,
			Decision: "alert", Reason: a.Kind + ": " + a.Detail}); err != nil {
			s.Logger.Error("audit append failed for anomaly", "err", err)
		}
		if gv.OnAlert != nil {
			gv.OnAlert(a)
		}
		if p.Anomaly().Quarantine && gv.Quarantine != nil {
			if err := gv.Quarantine.Quarantine(ctx, a.Realm, a.Agent, a.Kind); err != nil {
				s.Logger.Error("quarantine failed", "err", err)
			} else {
				_, _ = s.Audit.Append(ctx, audit.Entry{Realm: a.Realm, Actor: a.Agent, Action: "quarantine",
					Decision: "deny", Reason: a.Kind})
			}
		}
		if hook := p.Anomaly().Webhook; hook != "" && gv.Webhook != nil {
			go postAlert(gv.Webhook, hook, a, s)
		}
	}
}

// alertRetryDelays are the pauses before the second and later attempts to
// deliver an alert (a variable for tests).
var alertRetryDelays = []time.Duration{time.Second, 5 * time.Second}

// postAlert delivers an alert to the policy's webhook: a JSON POST, each
// attempt bounded by 5 s, retried after alertRetryDelays while the
// receiver cannot be reached or answers 429 or 5xx. Other answers end it:
// 2xx is delivery, any other 4xx a refusal that repeating would not
// change. Failures are logged with the webhook's scheme and host only:
// its path and query often hold a token (Slack, Teams).
func postAlert(hc *http.Client, hook string, a monitor.Alert, s *Service) {
	body, err := json.Marshal(map[string]any{"realm": a.Realm, "agent": a.Agent, "kind": a.Kind, "detail": a.Detail, "at": a.At})
	if err != nil {
		return
	}
	where := webhookOrigin(hook)
	for attempt := 0; ; attempt++ {
		status, err := postAlertOnce(hc, hook, body)
		switch {
		case err == nil && status/100 == 2:
			return
		case err == nil && status != http.StatusTooManyRequests && status < 500:
			s.Logger.Warn("anomaly webhook refused the alert", "webhook", where, "status", status)
			return
		}
		last := attempt >= len(alertRetryDelays)
		if err != nil {
			s.Logger.Warn("anomaly webhook failed", "webhook", where, "attempt", attempt+1, "final", last, "err", err)
		} else {
			s.Logger.Warn("anomaly webhook failed", "webhook", where, "attempt", attempt+1, "final", last, "status", status)
		}
		if last {
			return
		}
		time.Sleep(alertRetryDelays[attempt])
	}
}

// postAlertOnce makes one delivery attempt and returns the answer's status.
// Its error never holds the URL.
func postAlertOnce(hc *http.Client, hook string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("malformed webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, token included
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// webhookOrigin is hook's scheme and host, what a log may show of it.
func webhookOrigin(hook string) string {
	u, err := url.Parse(hook)
	if err != nil || u.Host == "" {
		return "(malformed)"
	}
	return u.Scheme + "://" + u.Host
}

// Release lifts an agent's quarantine in realm (operator action, audited by
// the caller).
func (s *Service) Release(ctx context.Context, realm, agent string) (bool, error) {
	if s.Governance == nil || s.Governance.Quarantine == nil {
		return false, nil
	}
	ok, err := s.Governance.Quarantine.Release(ctx, realm, agent)
	if err == nil && ok && s.Governance.Monitor != nil {
		s.Governance.Monitor.Forget(realm, agent)
	}
	return ok, err
}

// admit checks the presented grant for agent (verifyGrant) and that the
// agent is not quarantined in its realm, naming the grant's realm and jti
// in entry as soon as they are known, so that a refusal is audited where
// the realm's operator sees it.
func (s *Service) admit(ctx context.Context, entry *audit.Entry, req *Request, agent string) (*grant.Grant, error) {
	g, err := s.verifyGrant(ctx, req, agent)
	if g != nil {
		entry.Realm, entry.Grant = g.Claims.Realm, g.Claims.Jti
	}
	if err != nil {
		return nil, err
	}
	if err := s.checkQuarantine(ctx, g.Claims.Realm, agent); err != nil {
		return nil, err
	}
	return g, nil
}

// verifyGrant checks the presented grant (and its delegation chain) for
// agent, and every revocation that touches it: each link's jti and each
// agent that holds or delegated a link.
func (s *Service) verifyGrant(ctx context.Context, req *Request, agent string) (*grant.Grant, error) {
	if len(req.Chain) == 0 {
		g, err := s.Grants.Verify(req.Grant, agent)
		if err != nil {
			return nil, err
		}
		return g, s.checkRevoked(ctx, g)
	}
	g, jtis, err := grant.VerifyChain(req.Grant, req.Chain, agent, s.Grants)
	if err != nil {
		return nil, err
	}
	// A verified chain that is refused here still names its realm, so that
	// the denial is audited where the realm's operator sees it. Every link's
	// jti, then every agent that holds or delegated a link, in one query.
	realm := g.Claims.Realm
	subjects := make([]store.Subject, 0, 2*len(jtis)+1)
	for _, jti := range jtis {
		subjects = append(subjects, store.Subject{Kind: store.KindGrant, ID: jti})
	}
	for _, tok := range append([]string{req.Grant}, req.Chain...) {
		_, payload, err := identity.ParseUnverified(tok)
		if err != nil {
			return g, fmt.Errorf("%w: chain link", grant.ErrInvalid)
		}
		var c struct {
			Sub string `json:"sub"`
		}
		_ = json.Unmarshal(payload, &c)
		subjects = append(subjects, store.Subject{Kind: store.KindAgent, ID: c.Sub})
	}
	return g, s.revokedAny(ctx, realm, subjects...)
}

// effectiveBudget fills the grant's unset budget fields from the realm's
// policy defaults.
func effectiveBudget(g *grant.Grant, p *policy.Policy) grant.Budget {
	b, d := g.Claims.Budget, p.Doc.Budget
	if b.CallsPerMinute == 0 {
		b.CallsPerMinute = d.CallsPerMinute
	}
	if b.TimeoutMS == 0 {
		b.TimeoutMS = d.TimeoutMS
	}
	if b.MemoryMB == 0 {
		b.MemoryMB = d.MemoryMB
	}
	if b.EgressBytesPerDay == 0 {
		b.EgressBytesPerDay = d.EgressBytesPerDay
	}
	return b
}

// observeIntent feeds a finished top-level decision to the monitor.
func (s *Service) observeIntent(ctx context.Context, realm, agent, tool string, out *Outcome) {
	if out.Decision == "replay" {
		return // a replayed request is refused before it counts as the agent's
	}
	e := monitor.Event{Realm: realm, Agent: agent, Tool: tool, Decision: out.Decision, Approval: out.Decision == "hold"}
	if out.Decision == "allow" || out.Decision == "done" || out.Decision == "failed" {
		e.Decision = "allow"
	}
	for _, f := range out.Flags {
		if len(f) > 4 && f[:4] == "dlp:" {
			e.DLPHits++
			if len(f) > 12 && f[:12] == "dlp:secrets:" {
				e.SecretHits++
			}
		}
	}
	if out.Blocked {
		e.SecretHits++
	}
	s.observe(ctx, e)
}
