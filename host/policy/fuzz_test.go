package policy_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/policy"
)

// FuzzParse feeds attacker-chosen documents to Parse. Whatever it accepts
// must obey its own rules, survive a round trip unchanged and compile; no
// input may panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"realm":"default","version":1}`,
		`{"realm":"default","version":7,"approval":["mail/send","notes/*"],"deny":["*"],` +
			`"dlp":{"secrets":"redact","cards":"off","iban":"flag","email":"off","phone":"block","national_id":"redact"},` +
			`"injection":"block","anomaly":{"window_s":300,"burst_factor":2.5,"min_calls":1,"new_egress_host":"alert",` +
			`"quarantine":true,"webhook":"https://hooks.example.org/airlock?x=1"},` +
			`"budget":{"calls_per_minute":1,"timeout_ms":2,"memory_mb":3,"egress_bytes_per_day":4}}`,
		`{"realm":"default","version":1,"version":2}`,
		`{"realm":"default","version":1}{}`,
		`{"REALM":"default","version":1}`,
		`{"realm":"default","version":1,"anomaly":{"webhook":"http://[::1]:80/x"}}`,
		`null`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	w := newWorld(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := policy.Parse(data)
		if err != nil {
			if d != nil {
				t.Fatal("Parse returned a document with an error")
			}
			return
		}
		a := d.Anomaly
		if !grant.ValidRealm(d.Realm) || d.Version < 1 || a.WindowS < 1 || a.WindowS > policy.MaxWindowS ||
			!(a.BurstFactor > 0) || a.MinCalls < 1 {
			t.Fatalf("Parse accepted a document that breaks its own rules: %+v", d)
		}
		for k, v := range d.DLP {
			if _, ok := policy.Default("x").DLPModes()[k]; !ok || (v != "off" && v != "flag" && v != "redact" && v != "block") {
				t.Fatalf("Parse accepted dlp %q: %q", k, v)
			}
		}
		raw, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := policy.Parse(raw)
		if err != nil {
			t.Fatalf("accepted document does not round-trip: %v\n%s", err, raw)
		}
		if !reflect.DeepEqual(normalize(d), normalize(d2)) {
			t.Fatalf("round trip changed the document:\n%+v\n%+v", d, d2)
		}
		tok, err := policy.Sign(w.op, *d)
		if err != nil {
			t.Fatalf("Sign refused an accepted document: %v", err)
		}
		if _, err := policy.Verify(tok, d.Realm, func(string, string) bool { return true }); err != nil {
			t.Fatalf("Verify refused a signed accepted document: %v", err)
		}
	})
}

// normalize makes empty and absent lists and maps compare equal.
func normalize(d *policy.Document) policy.Document {
	c := *d
	if len(c.Approval) == 0 {
		c.Approval = nil
	}
	if len(c.Deny) == 0 {
		c.Deny = nil
	}
	if len(c.DLP) == 0 {
		c.DLP = nil
	}
	return c
}
