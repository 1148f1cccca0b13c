package memory

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/embed"
)

// The benchmarks use the default embedder (embed.Builtin(embed.DefaultDim))
// and synthetic documents of about 40 words from a 2,000-word vocabulary.
//
//	go test ./host/memory -run '^$' -bench 'Put|Query|Reopen'      1k and 10k
//	go test ./host/memory -run '^$' -bench 'Query100k|Reopen100k'  100k (slow)
//
// Each reports p50-ns and p99-ns per operation beside ns/op.

var vocabulary = func() []string {
	syl := []string{"ka", "lo", "mi", "ren", "tas", "vo", "qu", "zel", "dra", "pin", "so", "at", "el", "or", "un", "ix"}
	r := rand.New(rand.NewPCG(1, 2))
	words := make([]string, 2000)
	for i := range words {
		var sb strings.Builder
		for range 2 + r.IntN(3) {
			sb.WriteString(syl[r.IntN(len(syl))])
		}
		words[i] = sb.String()
	}
	return words
}()

func benchText(r *rand.Rand, words int) string {
	var sb strings.Builder
	for i := range words {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(vocabulary[r.IntN(len(vocabulary))])
	}
	return sb.String()
}

func benchOpen(b *testing.B, dir string) *Store {
	b.Helper()
	return openStoreWith(b, dir, testMaster(), embed.Builtin(embed.DefaultDim))
}

// populate fills (r, agentA) in dir's store with n documents.
func populate(b *testing.B, s *Store, n int) {
	b.Helper()
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for start := 0; start < n; start += MaxDocsPerPut {
		docs := make([]abi.Document, 0, MaxDocsPerPut)
		for i := start; i < min(start+MaxDocsPerPut, n); i++ {
			docs = append(docs, abi.Document{
				ID: fmt.Sprintf("doc-%d", i), Content: benchText(r, 40),
				Metadata: map[string]string{"shard": fmt.Sprint(i % 10)},
			})
		}
		if err := s.Put(context.Background(), "r", agentA, docs, apiProv, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// percentiles runs op b.N times through b.Loop and reports p50 and p99.
func percentiles(b *testing.B, op func(i int)) {
	b.Helper()
	var d []time.Duration
	i := 0
	for b.Loop() {
		t0 := time.Now()
		op(i)
		d = append(d, time.Since(t0))
		i++
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[min(len(d)-1, len(d)*99/100)].Nanoseconds()), "p99-ns")
}

var sizes = []struct {
	name string
	n    int
}{{"1k", 1_000}, {"10k", 10_000}}

func BenchmarkPut(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			s := benchOpen(b, b.TempDir())
			populate(b, s, sz.n)
			r := rand.New(rand.NewPCG(3, 4))
			ctx := context.Background()
			percentiles(b, func(i int) {
				d := []abi.Document{{ID: fmt.Sprintf("new-%d", i), Content: benchText(r, 40)}}
				if err := s.Put(ctx, "r", agentA, d, apiProv, 0); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func BenchmarkQuery(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) { benchQuery(b, sz.n) })
	}
}

// BenchmarkQuery100k runs only when -bench names it: populating 100k
// documents takes a while and about 300 MB.
func BenchmarkQuery100k(b *testing.B) {
	if !benchNamed("100k") {
		b.Skip("run with -bench Query100k")
	}
	benchQuery(b, 100_000)
}

func benchQuery(b *testing.B, n int) {
	s := benchOpen(b, b.TempDir())
	populate(b, s, n)
	r := rand.New(rand.NewPCG(5, 6))
	ctx := context.Background()
	percentiles(b, func(int) {
		res, err := s.Query(ctx, "r", agentA, benchText(r, 6), 10, nil)
		if err != nil || len(res) != 10 {
			b.Fatalf("%d results, %v", len(res), err)
		}
	})
}

// BenchmarkReopen measures loading a store from disk (decrypt, decode,
// insert into chromem-go) and the heap it holds, reported as heap-MiB.
func BenchmarkReopen(b *testing.B) {
	b.Run("10k", func(b *testing.B) { benchReopen(b, 10_000) })
}

// BenchmarkReopen100k runs only when -bench names it.
func BenchmarkReopen100k(b *testing.B) {
	if !benchNamed("100k") {
		b.Skip("run with -bench Reopen100k")
	}
	benchReopen(b, 100_000)
}

func benchReopen(b *testing.B, n int) {
	dir := b.TempDir()
	s := benchOpen(b, dir)
	populate(b, s, n)
	s.Close()
	ctx := context.Background()
	var heap float64
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		s := benchOpen(b, dir)
		if _, err := s.Query(ctx, "r", agentA, "ka", 1, nil); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap = float64(m1.HeapAlloc-min(m0.HeapAlloc, m1.HeapAlloc)) / (1 << 20)
		s.Close()
	}
	b.ReportMetric(heap, "heap-MiB")
}

// benchNamed reports whether the -test.bench pattern names s, so that the
// 100k benchmarks stay out of "-bench ." runs.
func benchNamed(s string) bool {
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), s)
}
