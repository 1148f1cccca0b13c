package memory

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/embed"
)

func openBounded(t *testing.T, dir string, maxDocs int) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Dir: dir, Master: testMaster(), Embed: embed.Builtin(64),
		Logger: slog.New(slog.DiscardHandler), MaxLoadedDocs: maxDocs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// isLoaded reports whether (realm, agent) is in the Store's memory.
func isLoaded(s *Store, realm, agent string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.stores[storeIDOf(realm, agent)]
	return ok
}

// loadedDocs is what trim bounds, counted afresh from the cache; it
// fails the test if the Store's running total says otherwise.
func loadedDocs(t *testing.T, s *Store) int64 {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, a := range s.stores {
		n += a.docs.Load() + 1
	}
	if got := s.loaded.Load(); got != n {
		t.Fatalf("the running total of loaded documents is %d, the cache holds %d", got, n)
	}
	return n
}

// Many agents' memories must not hold the host's RAM for ever: past
// MaxLoadedDocs the least recently used stores leave memory, and come
// back whole, from disk, on their next use.
func TestLeastRecentlyUsedStoresAreUnloaded(t *testing.T) {
	s := openBounded(t, t.TempDir(), 20)
	docsOf := func(agent string) []abi.Document {
		var out []abi.Document
		for i := range 8 {
			out = append(out, doc(fmt.Sprintf("%s-%d", agent, i), fmt.Sprintf("note %d of %s about the harbour", i, agent)))
		}
		return out
	}
	put(t, s, "r", "did:key:zA", docsOf("a")...)
	put(t, s, "r", "did:key:zB", docsOf("b")...)
	if !isLoaded(s, "r", "did:key:zA") || !isLoaded(s, "r", "did:key:zB") {
		t.Fatal("18 documents (with the stores' own count) are within 20: both stores should be loaded")
	}
	put(t, s, "r", "did:key:zC", docsOf("c")...)
	if isLoaded(s, "r", "did:key:zA") {
		t.Fatal("the least recently used store stayed loaded past the bound")
	}
	if !isLoaded(s, "r", "did:key:zB") || !isLoaded(s, "r", "did:key:zC") {
		t.Fatal("a store that fits under the bound was unloaded")
	}
	if n := loadedDocs(t, s); n > 20 {
		t.Fatalf("loaded stores count %d, bound 20", n)
	}

	// A comes back whole; B, now the least recently used, leaves.
	got := ids(query(t, s, "r", "did:key:zA", "harbour", 100, nil))
	want := []string{"a-0", "a-1", "a-2", "a-3", "a-4", "a-5", "a-6", "a-7"}
	if !slices.Equal(got, want) {
		t.Fatalf("unloaded store came back with %v, want %v", got, want)
	}
	if isLoaded(s, "r", "did:key:zB") || !isLoaded(s, "r", "did:key:zC") {
		t.Fatal("loading A again should unload B (least recently used), not C")
	}
	loadedDocs(t, s)
	// Writes after a reload go to the same file, after what is there.
	put(t, s, "r", "did:key:zB", doc("b-8", "a late note about the harbour"))
	if err := s.Delete(context.Background(), "r", "did:key:zB", []string{"b-0"}); err != nil {
		t.Fatal(err)
	}
	loadedDocs(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openBounded(t, s.dir, 20)
	got = ids(query(t, s2, "r", "did:key:zB", "harbour", 100, nil))
	want = []string{"b-1", "b-2", "b-3", "b-4", "b-5", "b-6", "b-7", "b-8"}
	if !slices.Equal(got, want) {
		t.Fatalf("after reloads and a restart B holds %v, want %v", got, want)
	}
}

// A store is unloaded only when no call holds it, and a call that finds
// its store unloaded loads it again: with a bound far below the agents'
// documents, concurrent puts, queries and deletes (two writers per agent)
// lose nothing acknowledged and see nobody else's documents.
func TestUnloadingUnderConcurrentUse(t *testing.T) {
	s := openBounded(t, t.TempDir(), 6)
	const agents, writers, rounds = 4, 2, 30
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, agents*writers)
	final := make([][]string, agents*writers)
	for w := range agents * writers {
		wg.Go(func() {
			g := w / writers
			agent := fmt.Sprintf("did:key:zAgent%d", g)
			prefix := fmt.Sprintf("g%d-", g)
			var mine []string
			for i := range rounds {
				id := fmt.Sprintf("%sw%d-%d", prefix, w, i)
				if err := s.Put(ctx, "r", agent, []abi.Document{doc(id, "shared words and "+id)}, apiProv, 0); err != nil {
					errs <- fmt.Errorf("%s put %s: %w", agent, id, err)
					return
				}
				mine = append(mine, id)
				if i%5 == 4 {
					if err := s.Delete(ctx, "r", agent, []string{mine[0]}); err != nil {
						errs <- fmt.Errorf("%s delete: %w", agent, err)
						return
					}
					mine = mine[1:]
				}
				res, err := s.Query(ctx, "r", agent, "shared words", MaxK, nil)
				if err != nil {
					errs <- fmt.Errorf("%s query: %w", agent, err)
					return
				}
				got := ids(res)
				for _, id := range got {
					if !strings.HasPrefix(id, prefix) {
						errs <- fmt.Errorf("%s sees another agent's document %s", agent, id)
						return
					}
				}
				for _, id := range mine {
					if !slices.Contains(got, id) {
						errs <- fmt.Errorf("%s round %d lost acknowledged %s (sees %v)", agent, i, id, got)
						return
					}
				}
			}
			final[w] = mine
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	loaded := 0
	for g := range agents {
		if isLoaded(s, "r", fmt.Sprintf("did:key:zAgent%d", g)) {
			loaded++
		}
	}
	if loaded > 1 {
		t.Fatalf("%d stores of over 6 documents each are loaded under a bound of 6", loaded)
	}
	loadedDocs(t, s)
	s.Close()
	s2 := openBounded(t, s.dir, 6)
	for g := range agents {
		agent := fmt.Sprintf("did:key:zAgent%d", g)
		var want []string
		for w := g * writers; w < (g+1)*writers; w++ {
			want = append(want, final[w]...)
		}
		if got := ids(query(t, s2, "r", agent, "shared words", MaxK, nil)); !slices.Equal(got, sorted(want)) {
			t.Errorf("%s after restart: %v, want %v", agent, got, sorted(want))
		}
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
