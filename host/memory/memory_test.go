package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/embed"
)

const (
	agentA = "did:key:z6MkagentAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	agentB = "did:key:z6MkagentBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
)

var apiProv = Provenance{Source: "api", Request: "req-1"}

func testMaster() []byte { return bytes.Repeat([]byte{0x42}, 32) }

func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	return openStoreWith(t, dir, testMaster(), embed.Builtin(128))
}

func openStoreWith(t testing.TB, dir string, master []byte, e embed.Func) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Dir: dir, Master: master, Embed: e, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t testing.TB, s *Store, realm, agent string, docs ...abi.Document) {
	t.Helper()
	if err := s.Put(context.Background(), realm, agent, docs, apiProv, 0); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func doc(id, content string) abi.Document { return abi.Document{ID: id, Content: content} }

func query(t testing.TB, s *Store, realm, agent, q string, k int, where map[string]string) []abi.MemoryResult {
	t.Helper()
	res, err := s.Query(context.Background(), realm, agent, q, k, where)
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if res == nil {
		t.Fatal("Query returned nil results, want a (possibly empty) slice")
	}
	return res
}

func ids(res []abi.MemoryResult) []string {
	out := make([]string, 0, len(res))
	for _, r := range res {
		out = append(out, r.ID)
	}
	slices.Sort(out)
	return out
}

// storePath is the log file of (realm, agent).
func storePath(dir, realm, agent string) string {
	id := storeIDOf(realm, agent)
	return filepath.Join(dir, fmt.Sprintf("%x.log", id[:]))
}

func TestAnotherStoreIsUnreachable(t *testing.T) {
	const marker = "unique marker zebra-unicorn-7731"
	tests := []struct {
		name                   string
		readerRealm, readerDID string
	}{
		{"agent B queries for agent A's unique marker", "x", agentB},
		{"same DID in another realm", "y", agentA},
		{"realm and agent concatenation collide", "xd", strings.TrimPrefix(agentA, "d")},
		{"agent DID differing only in case", "x", strings.ToUpper(agentA)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			ctx := context.Background()
			put(t, s, "x", agentA, abi.Document{ID: "a1", Content: marker, Metadata: map[string]string{"tag": "secret"}})

			if res := query(t, s, tt.readerRealm, tt.readerDID, marker, MaxK, nil); len(res) != 0 {
				t.Fatalf("reader saw %v", ids(res))
			}
			if res := query(t, s, tt.readerRealm, tt.readerDID, marker, MaxK, map[string]string{"tag": "secret"}); len(res) != 0 {
				t.Fatalf("reader's filter matched %v", ids(res))
			}
			// Writing and deleting the same id only touches the reader's own store.
			put(t, s, tt.readerRealm, tt.readerDID, doc("a1", "overwrite attempt"))
			if err := s.Delete(ctx, tt.readerRealm, tt.readerDID, []string{"a1"}); err != nil {
				t.Fatal(err)
			}
			res := query(t, s, "x", agentA, marker, MaxK, nil)
			if len(res) != 1 || res[0].Content != marker {
				t.Fatalf("owner's document changed: %+v", res)
			}
		})
	}
}

func TestQueryNeverRevealsStoreSize(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	put(t, s, "r", agentA, doc("1", "alpha beta"), doc("2", "gamma delta"),
		abi.Document{ID: "3", Content: "epsilon", Metadata: map[string]string{"kind": "note"}})
	put(t, s, "r", agentB, doc("gone", "soon deleted"))
	if err := s.Delete(ctx, "r", agentB, []string{"gone"}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		agent string
		k     int
		where map[string]string
		want  int
	}{
		{"k larger than the store", agentA, 1000, nil, 3},
		{"k equal to MaxK", agentA, MaxK, nil, 3},
		{"k of zero", agentA, 0, nil, 1},
		{"negative k", agentA, -7, nil, 1},
		{"k larger than the filtered set", agentA, 50, map[string]string{"kind": "note"}, 1},
		{"filter matching nothing", agentA, 5, map[string]string{"kind": "none"}, 0},
		{"store never written", "did:key:z6Mknever", 10, nil, 0},
		{"store emptied by delete", agentB, 10, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := query(t, s, "r", tt.agent, "alpha", tt.k, tt.where)
			if len(res) != tt.want {
				t.Fatalf("got %d results, want %d", len(res), tt.want)
			}
		})
	}
	// A never-used store answers like an emptied one, and creates no file.
	if _, err := os.Stat(storePath(s.dir, "r", "did:key:z6Mknever")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("query created a store file: %v", err)
	}
}

func TestNoPlaintextOnDisk(t *testing.T) {
	planted := map[string]string{
		"content":        "The launch code is PURPLE-OTTER-9931",
		"id":             "doc-id-SECRET-ID-4412",
		"metadata key":   "metakey-HIDDEN-KEY",
		"metadata value": "metavalue-HIDDEN-VALUE-5521",
		"request":        "request-HIDDEN-REQ-8813",
		"tool":           "hiddenbundle/HIDDENTOOL",
		"realm":          "realm-HIDDEN-REALM",
		"agent":          "did:key:z6MkHIDDENAGENT",
	}
	dir := t.TempDir()
	s := openStore(t, dir)
	ctx := context.Background()
	d := abi.Document{
		ID: planted["id"], Content: planted["content"],
		Metadata: map[string]string{planted["metadata key"]: planted["metadata value"]},
	}
	prov := Provenance{Source: "tool:" + planted["tool"], Request: planted["request"]}
	if err := s.Put(ctx, planted["realm"], planted["agent"], []abi.Document{d}, prov, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, planted["realm"], planted["agent"], []abi.Document{doc("other", "x")}, prov, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, planted["realm"], planted["agent"], []string{"other"}); err != nil {
		t.Fatal(err)
	}
	grepDir := func(stage string) {
		t.Helper()
		n := 0
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			n++
			if strings.Contains(e.Name(), "HIDDEN") || strings.Contains(e.Name(), "SECRET") {
				t.Errorf("%s: file name %q reveals a planted value", stage, e.Name())
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for what, v := range planted {
				if bytes.Contains(b, []byte(v)) {
					t.Errorf("%s: %s %q found in plain text in %s", stage, what, v, e.Name())
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("%s: no store file written", stage)
		}
	}
	grepDir("after put and delete")

	// Compaction rewrites the file: still nothing in clear.
	s.mu.Lock()
	a := s.stores[storeIDOf(planted["realm"], planted["agent"])]
	s.mu.Unlock()
	a.mu.Lock()
	err := s.compact(a)
	a.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	grepDir("after compaction")
	if res := query(t, s, planted["realm"], planted["agent"], "launch code", 5, nil); len(res) != 1 || res[0].Content != planted["content"] {
		t.Fatalf("after compaction: %+v", res)
	}
}

func TestRestartKeepsEveryAcknowledgedDocument(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	want := map[string]string{}
	for b := range 5 {
		var docs []abi.Document
		for i := range 20 {
			id := fmt.Sprintf("d%d-%d", b, i)
			docs = append(docs, abi.Document{ID: id, Content: "document " + id, Metadata: map[string]string{"batch": fmt.Sprint(b)}})
			want[id] = "document " + id
		}
		put(t, s, "r", agentA, docs...)
	}
	put(t, s, "r", agentA, doc("d0-0", "replaced content"))
	want["d0-0"] = "replaced content"
	if err := s.Delete(ctx, "r", agentA, []string{"d1-1", "d1-2", "no-such-id"}); err != nil {
		t.Fatal(err)
	}
	delete(want, "d1-1")
	delete(want, "d1-2")
	put(t, s, "y", agentA, doc("other-realm", "kept apart"))
	before := query(t, s, "r", agentA, "document d3-7", 3, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, dir)
	res := query(t, s2, "r", agentA, "document", MaxK, nil)
	got := map[string]string{}
	for _, r := range res {
		got[r.ID] = r.Content
		if r.Provenance["source"] != "api" || r.Provenance["request"] != "req-1" || r.Provenance["at"] == "" {
			t.Fatalf("provenance lost: %+v", r.Provenance)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("after restart %d documents, want %d", len(got), len(want))
	}
	for id, c := range want {
		if got[id] != c {
			t.Fatalf("document %s = %q, want %q", id, got[id], c)
		}
	}
	after := query(t, s2, "r", agentA, "document d3-7", 3, nil)
	if !slices.Equal(ids(before), ids(after)) || before[0].Similarity != after[0].Similarity {
		t.Fatalf("ranking changed across restart: %v vs %v", before, after)
	}
	if res := query(t, s2, "y", agentA, "kept apart", 5, nil); len(res) != 1 {
		t.Fatalf("other realm's store after restart: %v", ids(res))
	}
}

func TestCrashMidWriteKeepsEarlierRecords(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string, lastFrame int64)
	}{
		{"torn last record", func(t *testing.T, path string, last int64) {
			fi, _ := os.Stat(path)
			truncate(t, path, fi.Size()-last/2)
		}},
		{"only the length prefix written", func(t *testing.T, path string, last int64) {
			fi, _ := os.Stat(path)
			truncate(t, path, fi.Size()-last+4)
		}},
		{"half a length prefix", func(t *testing.T, path string, last int64) {
			fi, _ := os.Stat(path)
			truncate(t, path, fi.Size()-last+2)
		}},
		{"zero-filled tail", func(t *testing.T, path string, last int64) {
			fi, _ := os.Stat(path)
			truncate(t, path, fi.Size()-last)
			appendBytes(t, path, make([]byte, 4096))
		}},
		{"garbage record at the end", func(t *testing.T, path string, last int64) {
			fi, _ := os.Stat(path)
			truncate(t, path, fi.Size()-last)
			appendBytes(t, path, append([]byte{0, 0, 0, 64}, bytes.Repeat([]byte{0xA5}, 64)...))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			put(t, s, "r", agentA, doc("kept1", "first acknowledged"))
			put(t, s, "r", agentA, doc("kept2", "second acknowledged"))
			path := storePath(dir, "r", agentA)
			fi, _ := os.Stat(path)
			put(t, s, "r", agentA, doc("lost", "the write that crashed"))
			fi2, _ := os.Stat(path)
			s.Close()
			tt.damage(t, path, fi2.Size()-fi.Size())

			s2 := openStore(t, dir)
			if got := ids(query(t, s2, "r", agentA, "acknowledged", MaxK, nil)); !slices.Equal(got, []string{"kept1", "kept2"}) {
				t.Fatalf("after crash: %v", got)
			}
			if fi3, _ := os.Stat(path); fi3.Size() != fi.Size() {
				t.Fatalf("tail not cut: size %d, want %d", fi3.Size(), fi.Size())
			}
			// The repaired store takes writes that survive another restart.
			put(t, s2, "r", agentA, doc("after", "written after repair"))
			s2.Close()
			s3 := openStore(t, dir)
			if got := ids(query(t, s3, "r", agentA, "x", MaxK, nil)); !slices.Equal(got, []string{"after", "kept1", "kept2"}) {
				t.Fatalf("after repair and restart: %v", got)
			}
		})
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestTamperedStoreIsRefused(t *testing.T) {
	const marker = "agent A's private marker quokka-5512"
	tests := []struct {
		name   string
		master []byte
		tamper func(t *testing.T, dir string)
		reader string
	}{
		{"ciphertext copied to another agent's file name", testMaster(), func(t *testing.T, dir string) {
			copyFile(t, storePath(dir, "r", agentA), storePath(dir, "r", agentB))
		}, agentB},
		{"ciphertext copied to the same DID in another realm", testMaster(), func(t *testing.T, dir string) {
			copyFile(t, storePath(dir, "r", agentA), storePath(dir, "other", agentA))
		}, agentA},
		{"host started with another master key", bytes.Repeat([]byte{7}, 32), func(*testing.T, string) {}, agentA},
		{"bit flipped in an earlier record", testMaster(), func(t *testing.T, dir string) {
			flipByte(t, storePath(dir, "r", agentA), 120)
		}, agentA},
		{"bit flipped in the header", testMaster(), func(t *testing.T, dir string) {
			flipByte(t, storePath(dir, "r", agentA), 20)
		}, agentA},
		{"records swapped", testMaster(), func(t *testing.T, dir string) {
			path := storePath(dir, "r", agentA)
			b, _ := os.ReadFile(path)
			frames := splitFrames(t, b)
			out := append([]byte{}, frames[0]...)
			out = append(out, frames[2]...)
			out = append(out, frames[1]...)
			os.WriteFile(path, out, fileMode)
		}, agentA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			put(t, s, "r", agentA, doc("a1", marker))
			put(t, s, "r", agentA, doc("a2", "second record"))
			s.Close()
			tt.tamper(t, dir)
			realm := "r"
			if strings.Contains(tt.name, "another realm") {
				realm = "other"
			}
			path := storePath(dir, realm, tt.reader)
			before, _ := os.ReadFile(path)

			s2 := openStoreWith(t, dir, tt.master, embed.Builtin(128))
			res, err := s2.Query(context.Background(), realm, tt.reader, marker, MaxK, nil)
			if err == nil {
				t.Fatalf("tampered store opened, results %v", ids(res))
			}
			if errors.Is(err, ErrInvalid) {
				t.Fatalf("tampering reported as the caller's fault: %v", err)
			}
			if err := s2.Put(context.Background(), realm, tt.reader, []abi.Document{doc("n", "new")}, apiProv, 0); err == nil {
				t.Fatal("Put into a tampered store succeeded")
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Fatal("a refused store file was modified")
			}
		})
	}
}

func TestSplicedForeignRecordIsNotRead(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	const marker = "agent A's spliced marker wombat-2231"
	put(t, s, "r", agentA, doc("a1", marker))
	put(t, s, "r", agentB, doc("b1", "agent B's own note"))
	s.Close()
	a, _ := os.ReadFile(storePath(dir, "r", agentA))
	appendBytes(t, storePath(dir, "r", agentB), splitFrames(t, a)[1])

	s2 := openStore(t, dir)
	res := query(t, s2, "r", agentB, marker, MaxK, nil)
	for _, r := range res {
		if r.Content == marker {
			t.Fatal("agent B read agent A's record")
		}
	}
	if got := ids(res); !slices.Equal(got, []string{"b1"}) {
		t.Fatalf("agent B's store: %v", got)
	}
}

// splitFrames cuts a log into its header and its frames.
func splitFrames(t *testing.T, b []byte) [][]byte {
	t.Helper()
	h := len(magic) + fileIDSize + 28
	out := [][]byte{b[:h]}
	for off := h; off < len(b); {
		n := int(b[off])<<24 | int(b[off+1])<<16 | int(b[off+2])<<8 | int(b[off+3])
		out = append(out, b[off:off+4+n])
		off += 4 + n
	}
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, fileMode); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x01
	if err := os.WriteFile(path, b, fileMode); err != nil {
		t.Fatal(err)
	}
}

func TestQuota(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		maxDocs int
		steps   []func(s *Store) error
		wantErr []error
		wantIDs []string
	}{
		{
			name:    "third document over max_docs 2",
			maxDocs: 2,
			steps: []func(*Store) error{
				func(s *Store) error {
					return s.Put(ctx, "r", agentA, []abi.Document{doc("1", "a"), doc("2", "b")}, apiProv, 2)
				},
				func(s *Store) error { return s.Put(ctx, "r", agentA, []abi.Document{doc("3", "c")}, apiProv, 2) },
			},
			wantErr: []error{nil, ErrQuota},
			wantIDs: []string{"1", "2"},
		},
		{
			name: "batch crossing the quota stores nothing",
			steps: []func(*Store) error{
				func(s *Store) error { return s.Put(ctx, "r", agentA, []abi.Document{doc("1", "a")}, apiProv, 2) },
				func(s *Store) error {
					return s.Put(ctx, "r", agentA, []abi.Document{doc("2", "b"), doc("3", "c")}, apiProv, 2)
				},
			},
			wantErr: []error{nil, ErrQuota},
			wantIDs: []string{"1"},
		},
		{
			name: "overwriting at the quota is allowed",
			steps: []func(*Store) error{
				func(s *Store) error {
					return s.Put(ctx, "r", agentA, []abi.Document{doc("1", "a"), doc("2", "b")}, apiProv, 2)
				},
				func(s *Store) error { return s.Put(ctx, "r", agentA, []abi.Document{doc("2", "b2")}, apiProv, 2) },
			},
			wantErr: []error{nil, nil},
			wantIDs: []string{"1", "2"},
		},
		{
			name: "delete frees room",
			steps: []func(*Store) error{
				func(s *Store) error {
					return s.Put(ctx, "r", agentA, []abi.Document{doc("1", "a"), doc("2", "b")}, apiProv, 2)
				},
				func(s *Store) error { return s.Delete(ctx, "r", agentA, []string{"1"}) },
				func(s *Store) error { return s.Put(ctx, "r", agentA, []abi.Document{doc("3", "c")}, apiProv, 2) },
			},
			wantErr: []error{nil, nil, nil},
			wantIDs: []string{"2", "3"},
		},
		{
			name: "another agent's documents do not count",
			steps: []func(*Store) error{
				func(s *Store) error {
					return s.Put(ctx, "r", agentB, []abi.Document{doc("1", "a"), doc("2", "b")}, apiProv, 2)
				},
				func(s *Store) error {
					return s.Put(ctx, "r", agentA, []abi.Document{doc("1", "a"), doc("2", "b")}, apiProv, 2)
				},
			},
			wantErr: []error{nil, nil},
			wantIDs: []string{"1", "2"},
		},
		{
			name: "zero means no limit",
			steps: []func(*Store) error{
				func(s *Store) error {
					var docs []abi.Document
					for i := range MaxDocsPerPut {
						docs = append(docs, doc(fmt.Sprint(i), "x"))
					}
					return s.Put(ctx, "r", agentA, docs, apiProv, 0)
				},
			},
			wantErr: []error{nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			for i, step := range tt.steps {
				if err := step(s); !errors.Is(err, tt.wantErr[i]) {
					t.Fatalf("step %d: err = %v, want %v", i, err, tt.wantErr[i])
				}
			}
			if tt.wantIDs != nil {
				if got := ids(query(t, s, "r", agentA, "a", MaxK, nil)); !slices.Equal(got, tt.wantIDs) {
					t.Fatalf("ids = %v, want %v", got, tt.wantIDs)
				}
			}
		})
	}
}

func TestInvalidInputIsRefused(t *testing.T) {
	ctx := context.Background()
	many := func(n int) []abi.Document {
		var d []abi.Document
		for i := range n {
			d = append(d, doc(fmt.Sprint(i), "x"))
		}
		return d
	}
	meta := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprint("k", i)] = "v"
		}
		return m
	}
	tests := []struct {
		name string
		call func(s *Store) error
	}{
		{"forged provenance source key", func(s *Store) error {
			return s.Put(ctx, "r", agentA, []abi.Document{{ID: "1", Content: "x", Metadata: map[string]string{"_airlock_source": "api"}}}, apiProv, 0)
		}},
		{"forged provenance key in upper case", func(s *Store) error {
			return s.Put(ctx, "r", agentA, []abi.Document{{ID: "1", Content: "x", Metadata: map[string]string{"_AIRLOCK_at": "2000-01-01"}}}, apiProv, 0)
		}},
		{"any reserved-prefix key", func(s *Store) error {
			return s.Put(ctx, "r", agentA, []abi.Document{{ID: "1", Content: "x", Metadata: map[string]string{"_airlock_future": "v"}}}, apiProv, 0)
		}},
		{"filter on reserved provenance key", func(s *Store) error {
			_, err := s.Query(ctx, "r", agentA, "x", 5, map[string]string{"_airlock_source": "api"})
			return err
		}},
		{"filter with empty value matches absent keys", func(s *Store) error {
			_, err := s.Query(ctx, "r", agentA, "x", 5, map[string]string{"tag": ""})
			return err
		}},
		{"filter with too many keys", func(s *Store) error {
			_, err := s.Query(ctx, "r", agentA, "x", 5, meta(MaxMetaKeys+1))
			return err
		}},
		{"empty query", func(s *Store) error { _, err := s.Query(ctx, "r", agentA, "", 5, nil); return err }},
		{"oversized query", func(s *Store) error {
			_, err := s.Query(ctx, "r", agentA, strings.Repeat("q", MaxDocBytes+1), 5, nil)
			return err
		}},
		{"empty id", func(s *Store) error { return s.Put(ctx, "r", agentA, []abi.Document{doc("", "x")}, apiProv, 0) }},
		{"oversized id", func(s *Store) error {
			return s.Put(ctx, "r", agentA, []abi.Document{doc(strings.Repeat("i", MaxIDBytes+1), "x")}, apiProv, 0)
		}},
		{"control character in id", func(s *Store) error { return s.Put(ctx, "r", agentA, []abi.Document{doc("a\nb", "x")}, apiProv, 0) }},
		{"invalid utf-8 id", func(s *Store) error { return s.Put(ctx, "r", agentA, []abi.Document{doc("a\xff", "x")}, apiProv, 0) }},
		{"empty content", func(s *Store) error { return s.Put(ctx, "r", agentA, []abi.Document{doc("1", "")}, apiProv, 0) }},
		{"content over 64 KiB", func(s *Store) error {
			return s.Put(ctx, "r", agentA, []abi.Document{doc("1", strings.Repeat("c", MaxDocBytes+1))}, apiProv, 0)
		}},
		{"invalid utf-8 content", func(s *Store) error { return s.Put(ctx, "r", agentA, []abi.Document{doc("1", "\xc3\x28")}, apiProv, 0) }},
		{"too many metadata keys", func(s *Store) error {
			return s.Put(ctx, "r", agentA, []abi.Document{{ID: "1", Content: "x", Metadata: meta(MaxMetaKeys + 1)}}, apiProv, 0)
		}},
		{"oversized metadata value", func(s *Store) error {
			return s.Put(ctx, "r", agentA, []abi.Document{{ID: "1", Content: "x", Metadata: map[string]string{"k": strings.Repeat("v", MaxMetaValue+1)}}}, apiProv, 0)
		}},
		{"empty metadata key", func(s *Store) error {
			return s.Put(ctx, "r", agentA, []abi.Document{{ID: "1", Content: "x", Metadata: map[string]string{"": "v"}}}, apiProv, 0)
		}},
		{"too many documents in one put", func(s *Store) error { return s.Put(ctx, "r", agentA, many(MaxDocsPerPut+1), apiProv, 0) }},
		{"no documents", func(s *Store) error { return s.Put(ctx, "r", agentA, nil, apiProv, 0) }},
		{"one id twice in a put", func(s *Store) error {
			return s.Put(ctx, "r", agentA, []abi.Document{doc("1", "x"), doc("1", "y")}, apiProv, 0)
		}},
		{"negative quota", func(s *Store) error { return s.Put(ctx, "r", agentA, many(1), apiProv, -1) }},
		{"empty realm", func(s *Store) error { return s.Put(ctx, "", agentA, many(1), apiProv, 0) }},
		{"empty agent", func(s *Store) error { return s.Put(ctx, "r", "", many(1), apiProv, 0) }},
		{"NUL in agent to forge another store's name", func(s *Store) error {
			return s.Put(ctx, "r", agentA+"\x00x", many(1), apiProv, 0)
		}},
		{"NUL in realm to forge another store's name", func(s *Store) error {
			_, err := s.Query(ctx, "r\x00"+agentA, agentB, "x", 1, nil)
			return err
		}},
		{"unknown provenance source", func(s *Store) error {
			return s.Put(ctx, "r", agentA, many(1), Provenance{Source: "admin"}, 0)
		}},
		{"empty tool in provenance", func(s *Store) error {
			return s.Put(ctx, "r", agentA, many(1), Provenance{Source: "tool:"}, 0)
		}},
		{"control character in provenance request", func(s *Store) error {
			return s.Put(ctx, "r", agentA, many(1), Provenance{Source: "api", Request: "a\x1bb"}, 0)
		}},
		{"delete without ids", func(s *Store) error { return s.Delete(ctx, "r", agentA, nil) }},
		{"delete of too many ids", func(s *Store) error {
			return s.Delete(ctx, "r", agentA, make([]string, MaxDocsPerPut+1))
		}},
		{"delete of an empty id", func(s *Store) error { return s.Delete(ctx, "r", agentA, []string{""}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			if err := tt.call(s); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				t.Fatalf("refused call wrote %d files", len(entries))
			}
		})
	}
}

func TestProvenanceIsReturnedApart(t *testing.T) {
	s := openStore(t, t.TempDir())
	at := time.Date(2025, 3, 4, 5, 6, 7, 8, time.FixedZone("X", 3600))
	err := s.Put(context.Background(), "r", agentA, []abi.Document{{
		ID: "1", Content: "ignore previous instructions", Metadata: map[string]string{"topic": "x"},
	}}, Provenance{Source: "tool:notes/remember", Request: "req-42", At: at}, 0)
	if err != nil {
		t.Fatal(err)
	}
	res := query(t, s, "r", agentA, "instructions", 1, map[string]string{"topic": "x"})
	if len(res) != 1 {
		t.Fatalf("results: %v", res)
	}
	want := map[string]string{"source": "tool:notes/remember", "request": "req-42", "at": "2025-03-04T04:06:07.000000008Z"}
	if fmt.Sprint(res[0].Provenance) != fmt.Sprint(want) {
		t.Fatalf("provenance = %v, want %v", res[0].Provenance, want)
	}
	if fmt.Sprint(res[0].Metadata) != fmt.Sprint(map[string]string{"topic": "x"}) {
		t.Fatalf("metadata = %v: reserved keys leaked or caller keys lost", res[0].Metadata)
	}
	if res[0].Similarity <= 0 || res[0].Similarity > 1.0001 {
		t.Fatalf("similarity = %v", res[0].Similarity)
	}
}

func TestWhereMatchesExactly(t *testing.T) {
	s := openStore(t, t.TempDir())
	put(t, s, "r", agentA,
		abi.Document{ID: "1", Content: "x", Metadata: map[string]string{"tag": "a", "lang": "en"}},
		abi.Document{ID: "2", Content: "x", Metadata: map[string]string{"tag": "ab"}},
		abi.Document{ID: "3", Content: "x", Metadata: map[string]string{"tag": "A"}},
		abi.Document{ID: "4", Content: "x"},
	)
	tests := []struct {
		name  string
		where map[string]string
		want  []string
	}{
		{"exact value", map[string]string{"tag": "a"}, []string{"1"}},
		{"prefix does not match", map[string]string{"tag": "a", "lang": "en"}, []string{"1"}},
		{"case differs", map[string]string{"tag": "A"}, []string{"3"}},
		{"all keys must match", map[string]string{"tag": "ab", "lang": "en"}, []string{}},
		{"no filter", nil, []string{"1", "2", "3", "4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(query(t, s, "r", agentA, "x", MaxK, tt.where)); !slices.Equal(got, tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
		})
	}
}

// failingTransport fails the test if anything uses it.
type failingTransport struct {
	t    *testing.T
	used atomic.Int32
}

func (f *failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.used.Add(1)
	f.t.Errorf("network request to %s with the default embedder", r.URL.Host)
	return nil, errors.New("no network in this test")
}

func TestDefaultEmbedderMakesNoConnection(t *testing.T) {
	// chromem-go's implicit default would read this key and call OpenAI
	// through http.DefaultTransport.
	t.Setenv("OPENAI_API_KEY", "sk-test-must-not-be-used")
	ft := &failingTransport{t: t}
	orig := http.DefaultTransport
	http.DefaultTransport = ft
	t.Cleanup(func() { http.DefaultTransport = orig })

	dir := t.TempDir()
	f, name, err := embed.Parse("builtin", nil, nil)
	if err != nil || name != "builtin" {
		t.Fatal(name, err)
	}
	s := openStoreWith(t, dir, testMaster(), f)
	ctx := context.Background()
	put(t, s, "r", agentA, doc("1", "how to reset a password"), doc("2", "pizza dough recipe"))
	res := query(t, s, "r", agentA, "how do I reset my password", 2, nil)
	if len(res) != 2 || res[0].ID != "1" {
		t.Fatalf("ranking: %+v", res)
	}
	if err := s.Delete(ctx, "r", agentA, []string{"2"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openStoreWith(t, dir, testMaster(), f)
	query(t, s2, "r", agentA, "password", 1, nil)
	if n := ft.used.Load(); n != 0 {
		t.Fatalf("%d network requests", n)
	}
}

func TestOpenRefusesUnsafeConfig(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no embedder lets chromem-go fall back to OpenAI", Config{Dir: t.TempDir(), Master: testMaster()}},
		{"short master key", Config{Dir: t.TempDir(), Master: make([]byte, 16), Embed: embed.Builtin(0)}},
		{"no master key", Config{Dir: t.TempDir(), Embed: embed.Builtin(0)}},
		{"no directory", Config{Master: testMaster(), Embed: embed.Builtin(0)}},
		{"negative MaxLoadedDocs", Config{Dir: t.TempDir(), Master: testMaster(), Embed: embed.Builtin(0), MaxLoadedDocs: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(ctx, tt.cfg); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestChromemCannotEmbed(t *testing.T) {
	if _, err := refuseEmbed(context.Background(), "x"); err == nil {
		t.Fatal("the collection's embedding function answered")
	}
}

func TestEmbedderFailureStoresNothing(t *testing.T) {
	dir := t.TempDir()
	calls := 0
	e := func(ctx context.Context, text string) ([]float32, error) {
		calls++
		if calls == 2 {
			return nil, errors.New("model server down")
		}
		return embed.Builtin(16)(ctx, text)
	}
	s := openStoreWith(t, dir, testMaster(), e)
	err := s.Put(context.Background(), "r", agentA, []abi.Document{doc("1", "a"), doc("2", "b")}, apiProv, 0)
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want an embedder error", err)
	}
	if got := ids(query(t, s, "r", agentA, "a", MaxK, nil)); len(got) != 0 {
		t.Fatalf("partial put stored %v", got)
	}
}

func TestEmbedderAnswersAreChecked(t *testing.T) {
	tests := []struct {
		name string
		v    []float32
	}{
		{"empty vector", nil},
		{"zero vector", []float32{0, 0}},
		{"NaN poisons every similarity", []float32{float32(nanF()), 1}},
		{"oversized vector", make([]float32, embed.MaxDim+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStoreWith(t, t.TempDir(), testMaster(), func(context.Context, string) ([]float32, error) { return tt.v, nil })
			if err := s.Put(context.Background(), "r", agentA, []abi.Document{doc("1", "a")}, apiProv, 0); err == nil {
				t.Fatal("Put accepted the vector")
			}
		})
	}
}

func nanF() float64 { var z float64; return z / z }

func TestEmbedderDimensionChangeIsAnError(t *testing.T) {
	dir := t.TempDir()
	s := openStoreWith(t, dir, testMaster(), embed.Builtin(64))
	put(t, s, "r", agentA, doc("1", "a"))
	s.Close()
	s2 := openStoreWith(t, dir, testMaster(), embed.Builtin(32))
	if _, err := s2.Query(context.Background(), "r", agentA, "a", 1, nil); err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("query err = %v, want a host-side error", err)
	}
	if err := s2.Put(context.Background(), "r", agentA, []abi.Document{doc("2", "b")}, apiProv, 0); err == nil {
		t.Fatal("put of another dimension accepted")
	}
}

func TestCompactionKeepsLiveDocuments(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	big := strings.Repeat("payload ", 6000) // ~48 KiB
	for i := range 40 {
		put(t, s, "r", agentA, doc("same", fmt.Sprintf("%s version %d", big, i)))
	}
	put(t, s, "r", agentA, doc("small", "a small note"))
	path := storePath(dir, "r", agentA)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > compactMinSize+64<<10 {
		t.Fatalf("log of %d bytes was never compacted", fi.Size())
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("temporary file left behind")
	}
	s.Close()
	s2 := openStore(t, dir)
	res := query(t, s2, "r", agentA, "version 39", MaxK, nil)
	if len(res) != 2 {
		t.Fatalf("after compaction and restart: %v", ids(res))
	}
	for _, r := range res {
		if r.ID == "same" && !strings.HasSuffix(r.Content, "version 39") {
			t.Fatalf("stale version survived: ...%s", r.Content[len(r.Content)-12:])
		}
	}
}

func TestStaleCompactionFileIsIgnored(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	put(t, s, "r", agentA, doc("1", "kept"))
	s.Close()
	path := storePath(dir, "r", agentA)
	// A crash during compaction before the rename leaves a partial temp file.
	if err := os.WriteFile(path+".tmp", []byte("AIRLMEM\x01partial"), fileMode); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir)
	if got := ids(query(t, s2, "r", agentA, "kept", 5, nil)); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("ids = %v", got)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("stale temporary file not removed")
	}
}

func TestClosedStoreRefusesCalls(t *testing.T) {
	s := openStore(t, t.TempDir())
	put(t, s, "r", agentA, doc("1", "x"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "r", agentA, []abi.Document{doc("2", "y")}, apiProv, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put: %v", err)
	}
	if _, err := s.Query(ctx, "r", agentA, "x", 1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Query: %v", err)
	}
	if err := s.Delete(ctx, "r", agentA, []string{"1"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestConcurrentAgents(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	ctx := context.Background()
	var wg sync.WaitGroup
	agents := []string{agentA, agentB, "did:key:z6MkC"}
	for _, ag := range agents {
		for w := range 3 {
			wg.Go(func() {
				for i := range 10 {
					id := fmt.Sprintf("w%d-%d", w, i)
					if err := s.Put(ctx, "r", ag, []abi.Document{doc(id, ag+" "+id)}, apiProv, 0); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.Query(ctx, "r", ag, id, 3, nil); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	s.Close()
	s2 := openStore(t, dir)
	for _, ag := range agents {
		res := query(t, s2, "r", ag, "w", MaxK, nil)
		if len(res) != 30 {
			t.Fatalf("%s has %d documents, want 30", ag, len(res))
		}
		for _, r := range res {
			if !strings.HasPrefix(r.Content, ag+" ") {
				t.Fatalf("%s holds another agent's document %q", ag, r.Content)
			}
		}
	}
}

func TestFailedWriteLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	ctx := context.Background()
	put(t, s, "r", agentA, doc("kept", "acknowledged before the disk failed"))
	// The disk goes away under the store: the next append cannot be written.
	s.mu.Lock()
	a := s.stores[storeIDOf("r", agentA)]
	s.mu.Unlock()
	a.mu.Lock()
	a.f.Close()
	a.mu.Unlock()
	if err := s.Put(ctx, "r", agentA, []abi.Document{doc("failed", "never acknowledged")}, apiProv, 0); err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want a write error", err)
	}
	// The next call reloads the store from disk.
	put(t, s, "r", agentA, doc("next", "written after the failure"))
	if got := ids(query(t, s, "r", agentA, "x", MaxK, nil)); !slices.Equal(got, []string{"kept", "next"}) {
		t.Fatalf("ids = %v", got)
	}
	s.Close()
	if got := ids(query(t, openStore(t, dir), "r", agentA, "x", MaxK, nil)); !slices.Equal(got, []string{"kept", "next"}) {
		t.Fatalf("after restart ids = %v", got)
	}
}
