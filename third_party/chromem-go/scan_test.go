package chromem

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"
)

// Airlock patch tests: the scan order always holds exactly the collection's
// documents, and queries through it rank as an exhaustive search does.

func TestScanOrderFollowsChanges(t *testing.T) {
	ctx := context.Background()
	c, err := NewDB().CreateCollection("t", nil, func(context.Context, string) ([]float32, error) {
		return nil, fmt.Errorf("no embedder")
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	vec := func() []float32 {
		v := make([]float32, 37)
		for i := range v {
			v[i] = r.Float32() - 0.5
		}
		return v
	}
	add := func(id string) {
		if err := c.AddDocument(ctx, Document{ID: id, Embedding: vec(), Content: id}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string) {
		t.Helper()
		c.documentsLock.RLock()
		defer c.documentsLock.RUnlock()
		var got []string
		for _, d := range c.scanOrder() {
			got = append(got, d.ID)
			if c.documents[d.ID] != d {
				t.Fatalf("%s: scan holds a stale document %s", step, d.ID)
			}
		}
		slices.Sort(got)
		var want []string
		for id := range c.documents {
			want = append(want, id)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: scan order holds %v, collection %v", step, got, want)
		}
	}
	for i := 0; i < 50; i++ {
		add(fmt.Sprint("d", i))
	}
	check("built")
	add("d50")
	check("after a new document")
	add("d7")
	check("after a replacement")
	if err := c.Delete(ctx, nil, nil, "d3", "d50"); err != nil {
		t.Fatal(err)
	}
	check("after a deletion")
	add("d3")
	check("after re-adding")

	// Queries rank as an exhaustive search over the documents does.
	q := vec()
	res, err := c.QueryEmbedding(ctx, q, 5, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	qn := normalizeVector(q)
	type sim struct {
		id string
		s  float64
	}
	var all []sim
	for id, d := range c.documents {
		var s float64
		for i := range qn {
			s += float64(qn[i]) * float64(d.Embedding[i])
		}
		all = append(all, sim{id, s})
	}
	slices.SortFunc(all, func(a, b sim) int { return -cmpFloat(a.s, b.s) })
	for i, h := range res {
		if h.ID != all[i].id || math.Abs(float64(h.Similarity)-all[i].s) > 1e-5 {
			t.Fatalf("hit %d: %s %.6f, want %s %.6f", i, h.ID, h.Similarity, all[i].id, all[i].s)
		}
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestDotProductMatchesTheSum(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, n := range []int{0, 1, 7, 8, 9, 16, 33, 512, 1023} {
		a, b := make([]float32, n), make([]float32, n)
		var want float64
		for i := range a {
			a[i], b[i] = r.Float32()-0.5, r.Float32()-0.5
			want += float64(a[i]) * float64(b[i])
		}
		got, err := dotProduct(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(float64(got)-want) > 1e-4 {
			t.Fatalf("n=%d: %v, want %v", n, got, want)
		}
	}
	if _, err := dotProduct(make([]float32, 3), make([]float32, 4)); err == nil {
		t.Fatal("vectors of different lengths accepted")
	}
}
