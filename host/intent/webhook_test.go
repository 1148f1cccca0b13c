package intent

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/monitor"
)

// quickRetries makes alert retries immediate for the test.
func quickRetries(t *testing.T) {
	old := alertRetryDelays
	alertRetryDelays = []time.Duration{time.Millisecond, time.Millisecond}
	t.Cleanup(func() { alertRetryDelays = old })
}

// syncBuffer is a log sink safe for the handler's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func alertService(logs io.Writer) *Service {
	return &Service{Logger: slog.New(slog.NewTextHandler(logs, nil))}
}

var testAlert = monitor.Alert{Realm: "default", Agent: "did:key:zBurst", Kind: "burst", Detail: "60 calls in 10 s"}

// A webhook that is down for a moment still gets the alert: 5xx and 429
// are retried, and the body is the alert each time.
func TestAlertWebhookRetriesUntilDelivered(t *testing.T) {
	quickRetries(t)
	var calls atomic.Int32
	got := make(chan map[string]any, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			var a map[string]any
			if err := json.NewDecoder(r.Body).Decode(&a); err == nil {
				got <- a
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer hook.Close()
	postAlert(hook.Client(), hook.URL+"/alert", testAlert, alertService(io.Discard))
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d attempts, want 3 (503, 429, then delivered)", n)
	}
	select {
	case a := <-got:
		if a["agent"] != testAlert.Agent || a["kind"] != "burst" || a["realm"] != "default" {
			t.Fatalf("delivered %v", a)
		}
	default:
		t.Fatal("the third attempt carried no alert")
	}
}

// A receiver that refuses (4xx other than 429) is not asked again, and a
// receiver that never answers well is given up after the last retry.
func TestAlertWebhookGivesUp(t *testing.T) {
	quickRetries(t)
	for _, tt := range []struct {
		status int
		want   int32
	}{{http.StatusBadRequest, 1}, {http.StatusForbidden, 1}, {http.StatusInternalServerError, 3}} {
		var calls atomic.Int32
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(tt.status)
		}))
		var logs syncBuffer
		postAlert(hook.Client(), hook.URL+"/alert", testAlert, alertService(&logs))
		hook.Close()
		if n := calls.Load(); n != tt.want {
			t.Errorf("status %d: %d attempts, want %d", tt.status, n, tt.want)
		}
		if !strings.Contains(logs.String(), "anomaly webhook") || !strings.Contains(logs.String(), "status="+strconv.Itoa(tt.status)) {
			t.Errorf("status %d: nothing logged: %q", tt.status, logs.String())
		}
	}
}

// Webhook URLs often carry their token in the path or query (Slack,
// Teams): no log line may show more of the URL than scheme and host.
func TestAlertWebhookLogsNoToken(t *testing.T) {
	quickRetries(t)
	const token = "T024TTTTT/BBB72BBL/AZAAA9u0pA4ad666eMgbi555"
	for name, status := range map[string]int{"unreachable": 0, "5xx": 502, "4xx": 401} {
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
		}))
		url := hook.URL + "/services/" + token + "?sig=" + token
		if status == 0 {
			hook.Close() // connection refused on every attempt
		}
		var logs syncBuffer
		postAlert(hook.Client(), url, testAlert, alertService(&logs))
		hook.Close()
		out := logs.String()
		if !strings.Contains(out, "anomaly webhook") {
			t.Fatalf("%s: the failure was not logged", name)
		}
		if strings.Contains(out, token) || strings.Contains(out, "/services/") {
			t.Fatalf("%s: the log shows the webhook's token: %s", name, out)
		}
		if !strings.Contains(out, hook.URL) {
			t.Fatalf("%s: the log does not name the webhook's origin %s: %s", name, hook.URL, out)
		}
	}
}
