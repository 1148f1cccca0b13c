package memory

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/philippgille/chromem-go"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/embed"
)

// Errors returned by this package, always wrapped as "memory: …". Test with
// errors.Is. Any other error is the host's fault (disk, embedder), not the
// caller's.
var (
	// ErrQuota: the Put would take the store over its max_docs.
	ErrQuota = errors.New("quota exceeded")
	// ErrInvalid: an id, content, metadata key or value, query, k filter,
	// provenance, realm or agent is out of bounds, or names a reserved key.
	ErrInvalid = errors.New("invalid argument")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store closed")
)

// Limits on what a caller may store and ask.
const (
	MaxDocBytes    = 64 << 10 // content and query text, in bytes
	MaxDocsPerPut  = 100      // documents per Put, ids per Delete
	MaxK           = 100      // results per Query
	MaxIDBytes     = 128      // document id
	MaxMetaKeys    = 16       // metadata keys per document, keys per where
	MaxMetaKey     = 128      // metadata key, in bytes
	MaxMetaValue   = 1 << 10  // metadata value, in bytes
	maxNameBytes   = 1 << 10  // realm and agent
	maxProvenance  = 256      // provenance source and request
	compactMinSize = 1 << 20  // logs smaller than this are never compacted

	// DefaultMaxLoadedDocs is Config.MaxLoadedDocs when it is 0: about
	// 560 MiB of loaded stores with the built-in embedder's 512
	// dimensions (~2.8 KiB a document).
	DefaultMaxLoadedDocs = 200_000
)

// ReservedPrefix starts the metadata keys that hold provenance. Callers can
// neither set nor filter on them.
const ReservedPrefix = "_airlock_"

const (
	keySource  = ReservedPrefix + "source"
	keyRequest = ReservedPrefix + "request"
	keyAt      = ReservedPrefix + "at"
)

// Provenance says who wrote a document: Source is "api" (the memory
// endpoints) or "tool:<bundle>/<tool>" (a host function call), Request the
// id of the request that carried it, At when (zero means now).
type Provenance struct {
	Source  string
	Request string
	At      time.Time
}

// Config configures a Store.
type Config struct {
	// Dir holds the store files (DATA/memory); created 0700 if missing.
	Dir string
	// Master is the 32-byte host master key the store keys derive from.
	Master []byte
	// Embed turns documents and queries into vectors. Required: there is
	// no implicit default.
	Embed embed.Func
	// Logger receives load, repair and compaction events; never content.
	// Nil discards.
	Logger *slog.Logger
	// MaxLoadedDocs bounds the documents of all loaded stores together
	// (each store counts one more): past it, the least recently used
	// stores are unloaded (their files
	// stay; the next use loads them again). A store in use is never
	// unloaded, so one store larger than the bound stays. 0 means
	// DefaultMaxLoadedDocs.
	MaxLoadedDocs int
}

// Store holds the memory of every (realm, agent), each loaded on first use.
// It is safe for concurrent use.
type Store struct {
	dir    string
	master []byte
	embed  embed.Func
	log    *slog.Logger

	maxLoaded int64        // Config.MaxLoadedDocs
	loaded    atomic.Int64 // Σ (docs + 1) over the stores in stores, against maxLoaded
	clock     atomic.Int64 // ticks once per use of a store: agentStore.lastUse

	mu     sync.Mutex
	closed bool
	stores map[storeID]*agentStore
}

// storeID names one (realm, agent) store: SHA-256 over both, with a label
// and a separator no realm or agent can hold.
type storeID [sha256.Size]byte

func storeIDOf(realm, agent string) storeID {
	return sha256.Sum256([]byte(keyInfo(realm, agent)))
}

// keyInfo is the HKDF info of a store's key, and what its id hashes.
func keyInfo(realm, agent string) string {
	return "airlock/memory/v1\x00" + realm + "\x00" + agent
}

// Open prepares a Store over cfg.Dir. Stores are read from disk lazily, on
// their first use.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("memory: %w: Config.Dir is empty", ErrInvalid)
	}
	if len(cfg.Master) != 32 {
		return nil, fmt.Errorf("memory: %w: master key is %d bytes, want 32", ErrInvalid, len(cfg.Master))
	}
	if cfg.Embed == nil {
		return nil, fmt.Errorf("memory: %w: Config.Embed is nil (there is no implicit embedder)", ErrInvalid)
	}
	maxLoaded := cfg.MaxLoadedDocs
	switch {
	case maxLoaded < 0:
		return nil, fmt.Errorf("memory: %w: Config.MaxLoadedDocs is negative", ErrInvalid)
	case maxLoaded == 0:
		maxLoaded = DefaultMaxLoadedDocs
	}
	if err := os.MkdirAll(cfg.Dir, dirMode); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{
		dir:       cfg.Dir,
		master:    slices.Clone(cfg.Master),
		embed:     cfg.Embed,
		log:       logger,
		maxLoaded: int64(maxLoaded),
		stores:    make(map[storeID]*agentStore),
	}, nil
}

// Close closes every store file. Calls after Close fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	all := slices.Collect(maps.Values(s.stores))
	s.stores = nil
	s.mu.Unlock()

	var errs []error
	for _, a := range all {
		a.once.Do(func() {}) // wait for a load in flight; skip one not begun
		a.mu.Lock()
		a.closed = true
		if a.f != nil {
			if err := a.f.Close(); err != nil {
				errs = append(errs, err)
			}
			a.f = nil
		}
		a.mu.Unlock()
	}
	clear(s.master)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	return nil
}

// Put stores docs in the agent's memory, replacing documents with the same
// id, with prov recorded beside each. maxDocs is the grant's
// caps.memory.max_docs (0: no limit); a Put that would take the store over
// it fails with ErrQuota and stores nothing. Put returns once the documents
// are durable.
func (s *Store) Put(ctx context.Context, realm, agent string, docs []abi.Document, prov Provenance, maxDocs int) error {
	if err := checkOwner(realm, agent); err != nil {
		return err
	}
	if len(docs) == 0 || len(docs) > MaxDocsPerPut {
		return fmt.Errorf("memory: %w: %d documents, want 1..%d", ErrInvalid, len(docs), MaxDocsPerPut)
	}
	if maxDocs < 0 {
		return fmt.Errorf("memory: %w: negative quota", ErrInvalid)
	}
	provMeta, err := checkProvenance(prov)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(docs))
	for i := range docs {
		d := &docs[i]
		if err := checkID(d.ID); err != nil {
			return err
		}
		if seen[d.ID] {
			return fmt.Errorf("memory: %w: document %d repeats an id", ErrInvalid, i)
		}
		seen[d.ID] = true
		if err := checkText("content", d.Content); err != nil {
			return err
		}
		if err := checkMetadata(d.Metadata); err != nil {
			return err
		}
	}

	// Embed before taking the store's lock: a remote embedder may be slow.
	stored := make([]storedDoc, len(docs))
	for i := range docs {
		v, err := s.vector(ctx, docs[i].Content)
		if err != nil {
			return err
		}
		if i > 0 && len(v) != len(stored[0].Embedding) {
			return fmt.Errorf("memory: embedder returned vectors of dimensions %d and %d", len(stored[0].Embedding), len(v))
		}
		meta := make(map[string]string, len(docs[i].Metadata)+len(provMeta))
		maps.Copy(meta, docs[i].Metadata)
		maps.Copy(meta, provMeta)
		stored[i] = storedDoc{ID: docs[i].ID, Content: docs[i].Content, Metadata: meta, Embedding: v}
	}

	a, err := s.lock(realm, agent)
	if err != nil {
		return err
	}
	// Unloading others waits for their locks: never while holding one.
	defer s.trim(a)
	defer a.mu.Unlock()
	if a.dim != 0 && a.dim != len(stored[0].Embedding) {
		return errDimension(len(stored[0].Embedding), a.dim)
	}
	added := 0
	for i := range stored {
		if _, ok := a.sizes[stored[i].ID]; !ok {
			added++
		}
	}
	if maxDocs > 0 && added > 0 && len(a.sizes)+added > maxDocs {
		return fmt.Errorf("memory: %w: max_docs is %d", ErrQuota, maxDocs)
	}
	if err := s.append(a, encodePut(stored)); err != nil {
		return err
	}
	for i := range stored {
		if err := a.apply(ctx, &stored[i]); err != nil {
			// The record is durable; memory and disk disagree until the
			// store is reloaded.
			s.drop(a)
			return fmt.Errorf("memory: %w", err)
		}
	}
	s.maybeCompact(a)
	return nil
}

// Query returns up to k documents of the agent's memory nearest to query,
// most similar first. k is clamped to 1..MaxK and to the number of documents
// the store holds; where keeps only documents whose metadata holds every
// key with exactly that value.
func (s *Store) Query(ctx context.Context, realm, agent, query string, k int, where map[string]string) ([]abi.MemoryResult, error) {
	if err := checkOwner(realm, agent); err != nil {
		return nil, err
	}
	if err := checkText("query", query); err != nil {
		return nil, err
	}
	if err := checkWhere(where); err != nil {
		return nil, err
	}
	k = min(max(k, 1), MaxK)
	v, err := s.vector(ctx, query)
	if err != nil {
		return nil, err
	}

	a, err := s.rlock(realm, agent)
	if err != nil {
		return nil, err
	}
	defer a.mu.RUnlock()
	results := []abi.MemoryResult{}
	n := a.col.Count()
	if n == 0 {
		return results, nil
	}
	if a.dim != len(v) {
		return nil, errDimension(len(v), a.dim)
	}
	// chromem-go refuses a k over the document count; that refusal would
	// tell the caller the store's size.
	hits, err := a.col.QueryEmbedding(ctx, v, min(k, n), where, nil)
	if err != nil {
		return nil, fmt.Errorf("memory: query: %w", err)
	}
	for _, h := range hits {
		r := abi.MemoryResult{
			ID:         h.ID,
			Content:    h.Content,
			Similarity: h.Similarity,
			Provenance: map[string]string{
				"source":  h.Metadata[keySource],
				"request": h.Metadata[keyRequest],
				"at":      h.Metadata[keyAt],
			},
		}
		for key, val := range h.Metadata {
			if strings.HasPrefix(key, ReservedPrefix) {
				continue
			}
			if r.Metadata == nil {
				r.Metadata = make(map[string]string, len(h.Metadata))
			}
			r.Metadata[key] = val
		}
		results = append(results, r)
	}
	return results, nil
}

// Delete removes the documents with these ids from the agent's memory. Ids
// that do not exist are ignored. Delete returns once the removal is durable.
func (s *Store) Delete(ctx context.Context, realm, agent string, ids []string) error {
	if err := checkOwner(realm, agent); err != nil {
		return err
	}
	if len(ids) == 0 || len(ids) > MaxDocsPerPut {
		return fmt.Errorf("memory: %w: %d ids, want 1..%d", ErrInvalid, len(ids), MaxDocsPerPut)
	}
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	a, err := s.lock(realm, agent)
	if err != nil {
		return err
	}
	defer a.mu.Unlock()
	var present []string
	for _, id := range ids {
		if _, ok := a.sizes[id]; ok && !slices.Contains(present, id) {
			present = append(present, id)
		}
	}
	if len(present) == 0 {
		return nil
	}
	if err := s.append(a, encodeDelete(present)); err != nil {
		return err
	}
	a.remove(ctx, present)
	s.maybeCompact(a)
	return nil
}

// vector embeds text with the configured embedder and checks the answer.
func (s *Store) vector(ctx context.Context, text string) ([]float32, error) {
	v, err := s.embed(ctx, text)
	if err != nil {
		return nil, fmt.Errorf("memory: embed: %w", err)
	}
	v, err = unitVector(v)
	if err != nil {
		return nil, fmt.Errorf("memory: embed: %w", err)
	}
	return v, nil
}

// unitVector returns a normalised copy of v, refusing vectors chromem-go
// could not rank by (empty, oversized, non-finite, zero).
func unitVector(v []float32) ([]float32, error) {
	if len(v) == 0 || len(v) > embed.MaxDim {
		return nil, fmt.Errorf("vector dimension %d outside 1..%d", len(v), embed.MaxDim)
	}
	var sum float64
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, errors.New("vector holds a non-finite value")
		}
		sum += float64(x) * float64(x)
	}
	if sum == 0 || math.IsInf(sum, 0) {
		return nil, errors.New("vector has no usable length")
	}
	n := math.Sqrt(sum)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) / n)
	}
	return out, nil
}

func errDimension(got, want int) error {
	return fmt.Errorf("memory: embedder gives %d dimensions, the store holds %d (embedder changed?)", got, want)
}

// checkOwner validates the realm and agent that name a store.
func checkOwner(realm, agent string) error {
	for _, f := range []struct{ what, v string }{{"realm", realm}, {"agent", agent}} {
		if f.v == "" || len(f.v) > maxNameBytes || !printable(f.v) {
			return fmt.Errorf("memory: %w: %s must be 1..%d printable bytes", ErrInvalid, f.what, maxNameBytes)
		}
	}
	return nil
}

func checkID(id string) error {
	if id == "" || len(id) > MaxIDBytes || !printable(id) {
		return fmt.Errorf("memory: %w: id must be 1..%d printable bytes", ErrInvalid, MaxIDBytes)
	}
	return nil
}

func checkText(what, s string) error {
	if s == "" || len(s) > MaxDocBytes || !utf8.ValidString(s) {
		return fmt.Errorf("memory: %w: %s must be 1..%d bytes of UTF-8", ErrInvalid, what, MaxDocBytes)
	}
	return nil
}

func checkKey(k string) error {
	if k == "" || len(k) > MaxMetaKey || !printable(k) {
		return fmt.Errorf("memory: %w: metadata key must be 1..%d printable bytes", ErrInvalid, MaxMetaKey)
	}
	if strings.HasPrefix(strings.ToLower(k), ReservedPrefix) {
		return fmt.Errorf("memory: %w: metadata key prefix %q is reserved", ErrInvalid, ReservedPrefix)
	}
	return nil
}

func checkMetadata(m map[string]string) error {
	if len(m) > MaxMetaKeys {
		return fmt.Errorf("memory: %w: %d metadata keys, at most %d", ErrInvalid, len(m), MaxMetaKeys)
	}
	for k, v := range m {
		if err := checkKey(k); err != nil {
			return err
		}
		if len(v) > MaxMetaValue || !utf8.ValidString(v) {
			return fmt.Errorf("memory: %w: metadata value must be at most %d bytes of UTF-8", ErrInvalid, MaxMetaValue)
		}
	}
	return nil
}

// checkWhere validates a query filter. Empty values are refused: chromem-go
// would match them against documents that lack the key altogether.
func checkWhere(where map[string]string) error {
	if len(where) > MaxMetaKeys {
		return fmt.Errorf("memory: %w: %d where keys, at most %d", ErrInvalid, len(where), MaxMetaKeys)
	}
	for k, v := range where {
		if err := checkKey(k); err != nil {
			return err
		}
		if v == "" || len(v) > MaxMetaValue || !utf8.ValidString(v) {
			return fmt.Errorf("memory: %w: where value must be 1..%d bytes of UTF-8", ErrInvalid, MaxMetaValue)
		}
	}
	return nil
}

// checkProvenance validates prov and returns it as reserved metadata.
func checkProvenance(p Provenance) (map[string]string, error) {
	ok := p.Source == "api"
	if tool, isTool := strings.CutPrefix(p.Source, "tool:"); isTool {
		ok = tool != "" && len(tool) <= maxProvenance && printable(tool)
	}
	if !ok {
		return nil, fmt.Errorf("memory: %w: provenance source must be \"api\" or \"tool:<bundle>/<tool>\"", ErrInvalid)
	}
	if len(p.Request) > maxProvenance || !printable(p.Request) {
		return nil, fmt.Errorf("memory: %w: provenance request must be at most %d printable bytes", ErrInvalid, maxProvenance)
	}
	at := p.At
	if at.IsZero() {
		at = time.Now()
	}
	return map[string]string{
		keySource:  p.Source,
		keyRequest: p.Request,
		keyAt:      at.UTC().Format(time.RFC3339Nano),
	}, nil
}

// printable reports whether s is valid UTF-8 of printable characters
// (spaces allowed, no control or format characters).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// agentStore is one (realm, agent) store: its chromem-go collection and its
// log file.
type agentStore struct {
	id   storeID
	path string

	once    sync.Once // loads the store
	loadErr error

	lastUse atomic.Int64 // Store.clock at the last use
	loaded  atomic.Bool  // the load succeeded
	docs    atomic.Int64 // len(sizes), for Store.trim
	// tally is Store.loaded while a is in the Store's cache, nil once it
	// left: set under the Store's mu, and cleared only while a.mu is held
	// or no call can be using a.
	tally *atomic.Int64

	mu      sync.RWMutex
	closed  bool
	broken  bool // a failed append: this value is dropped, the next use reloads
	evicted bool // unloaded by Store.trim: the next use loads a new value
	col     *chromem.Collection
	dim     int            // embedding dimension, 0 while empty
	sizes   map[string]int // live document id → encoded size
	live    int64          // sum of sizes
	seal    *sealer
	f       *os.File // nil until the first write creates the file
	seq     uint64   // next record number
	size    int64    // bytes in the file
}

// refuseEmbed is the collection's embedding function. Every vector is
// computed by Store.vector; if chromem-go ever tried to embed on its own it
// would get this error instead of its implicit OpenAI default.
func refuseEmbed(context.Context, string) ([]float32, error) {
	return nil, errors.New("memory: chromem-go may not embed; vectors come from Config.Embed")
}

func (a *agentStore) usable() error {
	switch {
	case a.closed:
		return fmt.Errorf("memory: %w", ErrClosed)
	case a.broken:
		return errors.New("memory: store unavailable after a failed write; retry")
	}
	return nil
}

// apply adds or replaces one document in the collection. Holds a.mu.
func (a *agentStore) apply(ctx context.Context, d *storedDoc) error {
	err := a.col.AddDocument(ctx, chromem.Document{
		ID: d.ID, Content: d.Content, Metadata: d.Metadata, Embedding: d.Embedding,
	})
	if err != nil {
		return err
	}
	n := encodedSize(d)
	a.live += int64(n - a.sizes[d.ID])
	a.sizes[d.ID] = n
	a.count()
	a.dim = len(d.Embedding)
	return nil
}

// count records len(sizes) in docs, and the change in the Store's total
// while a is cached. Holds a.mu, or runs in the load.
func (a *agentStore) count() {
	n := int64(len(a.sizes))
	if old := a.docs.Swap(n); a.tally != nil {
		a.tally.Add(n - old)
	}
}

// remove deletes ids from the collection. Holds a.mu.
func (a *agentStore) remove(ctx context.Context, ids []string) {
	_ = a.col.Delete(ctx, nil, nil, ids...) // in-memory only: cannot fail with ids given
	for _, id := range ids {
		a.live -= int64(a.sizes[id])
		delete(a.sizes, id)
	}
	a.count()
	if len(a.sizes) == 0 {
		a.dim = 0
	}
}

// store returns the loaded store of (realm, agent).
func (s *Store) store(realm, agent string) (*agentStore, error) {
	id := storeIDOf(realm, agent)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("memory: %w", ErrClosed)
	}
	a, ok := s.stores[id]
	if !ok {
		a = &agentStore{id: id, path: filepath.Join(s.dir, hex.EncodeToString(id[:])+".log"), tally: &s.loaded}
		s.stores[id] = a
		s.loaded.Add(1) // an empty store costs too
	}
	s.mu.Unlock()
	a.lastUse.Store(s.clock.Add(1))

	loaded := false
	a.once.Do(func() {
		a.loadErr = s.load(a, realm, agent)
		loaded = a.loadErr == nil
		a.loaded.Store(loaded)
	})
	if a.loadErr != nil {
		s.evict(a)
		return nil, a.loadErr
	}
	if loaded {
		s.trim(a)
	}
	return a, nil
}

// lock returns the usable store of (realm, agent), locked for writing.
func (s *Store) lock(realm, agent string) (*agentStore, error) {
	return s.acquire(realm, agent, (*sync.RWMutex).Lock, (*sync.RWMutex).Unlock)
}

// rlock returns the usable store of (realm, agent), locked for reading.
func (s *Store) rlock(realm, agent string) (*agentStore, error) {
	return s.acquire(realm, agent, (*sync.RWMutex).RLock, (*sync.RWMutex).RUnlock)
}

// acquire returns the usable store of (realm, agent) with lock taken on
// its mutex, loading the store again when it was unloaded meanwhile.
func (s *Store) acquire(realm, agent string, lock, unlock func(*sync.RWMutex)) (*agentStore, error) {
	for {
		a, err := s.store(realm, agent)
		if err != nil {
			return nil, err
		}
		lock(&a.mu)
		if a.evicted {
			unlock(&a.mu)
			continue // unloaded meanwhile: load it again
		}
		if err := a.usable(); err != nil {
			unlock(&a.mu)
			return nil, err
		}
		return a, nil
	}
}

// trim unloads the least recently used stores other than keep while the
// loaded stores hold more than maxLoaded documents (each store counting
// one more, so that empty ones are bounded too). The caller must hold no
// store's lock.
func (s *Store) trim(keep *agentStore) {
	for s.loaded.Load() > s.maxLoaded {
		var victim *agentStore
		s.mu.Lock()
		for _, a := range s.stores {
			if a != keep && a.loaded.Load() &&
				(victim == nil || a.lastUse.Load() < victim.lastUse.Load()) {
				victim = a
			}
		}
		s.mu.Unlock()
		if victim == nil {
			return
		}
		s.unload(victim)
	}
}

// unload takes a out of memory once no call uses it: it leaves the cache
// (before a new value can be loaded, so that two never share the file),
// its file is closed, and the calls that were waiting for it load the
// store again.
func (s *Store) unload(a *agentStore) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s.evict(a)
	if a.evicted || a.closed {
		return
	}
	a.evicted = true
	if a.f != nil {
		_ = a.f.Close()
		a.f = nil
	}
	docs := a.docs.Load()
	a.col, a.sizes = nil, nil
	s.log.Debug("memory store unloaded", "store", a.name(), "docs", docs)
}

// evict drops a from the cache so that the next use reloads it from disk.
func (s *Store) evict(a *agentStore) {
	s.mu.Lock()
	if s.stores[a.id] == a {
		delete(s.stores, a.id)
		s.loaded.Add(-(a.docs.Load() + 1))
		a.tally = nil
	}
	s.mu.Unlock()
}

// drop retires a after a failed write or compaction: calls already holding
// it fail, and the next use reloads the store from disk, which holds every
// acknowledged record (a torn tail is cut at load). Holds a.mu.
func (s *Store) drop(a *agentStore) {
	a.broken = true
	if a.f != nil {
		_ = a.f.Close()
		a.f = nil
	}
	s.evict(a)
}

// load reads a's log, if any, into a fresh collection.
func (s *Store) load(a *agentStore, realm, agent string) error {
	key, err := hkdf.Key(sha256.New, s.master, nil, keyInfo(realm, agent), 32)
	if err != nil {
		return fmt.Errorf("memory: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	col, err := chromem.NewDB().CreateCollection("memory", nil, refuseEmbed)
	if err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	a.col, a.sizes, a.seal = col, make(map[string]int), &sealer{aead: aead, store: a.id}
	_ = os.Remove(a.path + ".tmp") // a compaction cut short by a crash

	f, err := os.OpenFile(a.path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a store that was never written: created on first Put
	}
	if err != nil {
		return fmt.Errorf("memory: open store: %w", err)
	}
	docs := make(map[string]*storedDoc)
	res, err := scanLog(f, aead, a.id, func(r record) error {
		for i := range r.Docs {
			docs[r.Docs[i].ID] = &r.Docs[i]
		}
		for _, id := range r.IDs {
			delete(docs, id)
		}
		return nil
	})
	if err != nil {
		f.Close()
		s.log.Error("memory store refused", "store", a.name(), "err", err)
		return fmt.Errorf("memory: %w", err)
	}
	if res.end < res.size {
		// A crash mid-append left a torn or unauthentic tail: cut it.
		if err := f.Truncate(res.end); err != nil {
			f.Close()
			return fmt.Errorf("memory: repair store: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("memory: repair store: %w", err)
		}
		s.log.Warn("memory store tail cut after an interrupted write", "store", a.name(),
			"kept_records", res.records, "dropped_bytes", res.size-res.end)
	}
	ctx := context.Background()
	for _, id := range slices.Sorted(maps.Keys(docs)) {
		if err := a.apply(ctx, docs[id]); err != nil {
			f.Close()
			return fmt.Errorf("memory: load store: %w", err)
		}
	}
	a.f, a.seq, a.size = f, uint64(res.records), res.end
	a.seal.fileID = res.fileID
	s.log.Debug("memory store loaded", "store", a.name(), "docs", len(docs), "records", res.records)
	return nil
}

// name is the store's file name prefix, safe to log.
func (a *agentStore) name() string { return hex.EncodeToString(a.id[:8]) }

// append seals plain as the next record, writes it and fsyncs. The file is
// created (atomically, with its header) on the first write. On failure the
// store is dropped: the next use reloads it from disk, cutting a torn tail.
// Holds a.mu.
func (s *Store) append(a *agentStore, plain []byte) error {
	if a.f == nil {
		fid, err := newFileID()
		if err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		a.seal.fileID = fid
		f, size, err := writeAtomic(a.path, a.seal, func(func([]byte) error) error { return nil })
		if err != nil {
			s.drop(a)
			return fmt.Errorf("memory: create store: %w", err)
		}
		a.f, a.seq, a.size = f, 0, size
	}
	frame, err := a.seal.frame(a.seq, plain)
	if err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	if _, err := a.f.WriteAt(frame, a.size); err != nil {
		s.drop(a)
		return fmt.Errorf("memory: write: %w", err)
	}
	if err := a.f.Sync(); err != nil {
		s.drop(a)
		return fmt.Errorf("memory: sync: %w", err)
	}
	a.seq++
	a.size += int64(len(frame))
	return nil
}

// maybeCompact rewrites a's log with only its live documents when dead
// records make up most of a log over compactMinSize. Whether a failed
// compaction renamed its file or not, the log on disk is complete (old or
// new), so the store is dropped and reloaded on next use. Holds a.mu.
func (s *Store) maybeCompact(a *agentStore) {
	overhead := int64(len(a.sizes))*64 + int64(a.seal.headerSize())
	if a.size < compactMinSize || a.size <= 2*(a.live+overhead) {
		return
	}
	if err := s.compact(a); err != nil {
		s.log.Warn("memory store compaction failed; reloading from disk", "store", a.name(), "err", err)
		s.drop(a)
	}
}

// compact writes a's live documents to a new log that replaces the old one
// atomically. Holds a.mu.
func (s *Store) compact(a *agentStore) error {
	fid, err := newFileID()
	if err != nil {
		return err
	}
	next := &sealer{aead: a.seal.aead, store: a.id, fileID: fid}
	ctx := context.Background()
	var seq uint64
	batchMax := maxFrame / 4
	f, size, err := writeAtomic(a.path, next, func(write func([]byte) error) error {
		var batch []storedDoc
		bytes := 0
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			frame, err := next.frame(seq, encodePut(batch))
			if err != nil {
				return err
			}
			seq++
			batch, bytes = batch[:0], 0
			return write(frame)
		}
		for _, id := range slices.Sorted(maps.Keys(a.sizes)) {
			d, err := a.col.GetByID(ctx, id)
			if err != nil {
				return err
			}
			batch = append(batch, storedDoc{ID: d.ID, Content: d.Content, Metadata: d.Metadata, Embedding: d.Embedding})
			bytes += a.sizes[id]
			if len(batch) == MaxDocsPerPut || bytes >= batchMax {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
	if err != nil {
		return err
	}
	old := a.f
	a.f, a.seal, a.seq, a.size = f, next, seq, size
	if err := old.Close(); err != nil {
		s.log.Warn("memory store: closing the old log failed", "store", a.name(), "err", err)
	}
	s.log.Info("memory store compacted", "store", a.name(), "docs", len(a.sizes), "bytes", size)
	return nil
}
