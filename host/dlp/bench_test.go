package dlp

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkApply measures a 1 MiB JSON tool output (DESIGN §9's body
// limit) of many short strings with some findings.
func BenchmarkApply(b *testing.B) {
	var items []map[string]any
	size := 0
	for i := 0; size < 1<<20; i++ {
		it := map[string]any{
			"id":    i,
			"title": fmt.Sprintf("Item %d of the catalogue, shipped 2024-01-%02d", i, i%28+1),
			"owner": fmt.Sprintf("user%d@example.com", i),
			"tags":  []string{"alpha", "beta", "gamma"},
		}
		if i%100 == 0 {
			it["card"] = "4111 1111 1111 1111"
		}
		raw, _ := json.Marshal(it)
		size += len(raw)
		items = append(items, it)
	}
	in, _ := json.Marshal(items)
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for b.Loop() {
		Apply(in, nil)
	}
}

// BenchmarkApplyProse measures 20 KB of JSON prose with no finding: the
// common case, where the detectors' prefilters decide.
func BenchmarkApplyProse(b *testing.B) {
	para := `{"title":"Quarterly report","body":"Revenue grew in the third quarter as new customers signed up; the team will show the updated numbers at the next meeting and print the summary for the board.","id":12345}`
	in := []byte("[" + strings.Repeat(para+",", 100) + para + "]")
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		Apply(in, nil)
	}
}
