// Package registry holds the plugin bundles installed in each realm: their
// verified manifests, compiled schemas and compiled modules.
//
// # Security
//
// A bundle becomes callable only after every check passed: strict tar and
// manifest parsing, module hash, publisher signature by a publisher trusted
// for the realm and not revoked, the import policy (no host function the
// manifest does not declare, never Extism's own http_request), every tool
// exported, every schema compiled, and the install recorded in the audit log.
// A refused bundle leaves nothing behind. Lookups are per realm: a name
// installed in another realm is indistinguishable from one never installed.
//
// # Several nodes
//
// The compiled plugins are a cache of the store's plugins table. When nodes
// share a PostgreSQL store, every install, approval and removal is announced
// on [Channel] after it committed, and every registry reloads the (realm,
// name) it names from the store — or everything, after its listening
// connection was re-established — so a plugin installed through one node is
// served by all.
package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/runtime"
	"github.com/airlock-dev/airlock/host/store"
)

// ErrNotFound is returned for a plugin or tool that is not installed in the realm.
var ErrNotFound = errors.New("registry: not found")

// Trust decides whether a publisher may install into a realm (configured
// trust and revocation together).
type Trust func(ctx context.Context, realm, publisher string) (bool, error)

// Plugin is one installed bundle, ready to serve.
type Plugin struct {
	Record   store.Plugin // Module bytes dropped after loading
	Compiled *bundle.Compiled
	Module   *runtime.Module
}

// Tool is one callable tool of an installed plugin.
type Tool struct {
	Plugin *Plugin
	Tool   *bundle.CompiledTool
}

// Channel is the PostgreSQL notification channel on which registries
// announce a change of the plugins table: the payload is "REALM/NAME" (a
// realm holds no '/').
const Channel = "airlock_plugins"

// reloadTimeout bounds one reload after a notification.
const reloadTimeout = time.Minute

// Registry is safe for concurrent use.
type Registry struct {
	db       *store.DB
	engine   *runtime.Engine
	maxBytes int64

	// reloadMu serialises reloads from notifications with each other and
	// with the initial load.
	reloadMu sync.Mutex

	mu      sync.RWMutex
	plugins map[string]map[string]*Plugin // realm → name → plugin
}

// Open loads every installed plugin from db and compiles it. On a
// PostgreSQL store it then follows the changes other nodes make (see
// [Channel]) until db closes.
func Open(ctx context.Context, db *store.DB, engine *runtime.Engine, maxBundleBytes int64) (*Registry, error) {
	r := &Registry{db: db, engine: engine, maxBytes: maxBundleBytes, plugins: map[string]map[string]*Plugin{}}
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	// Listen before loading, so that no change made in between is missed;
	// notifications wait on reloadMu until the load is done.
	if err := db.SQLDB().Listen(ctx, Channel, r.notified); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	recs, err := db.ListPlugins(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	for _, meta := range recs {
		rec, err := db.GetPlugin(ctx, meta.Realm, meta.Name)
		if err != nil {
			return nil, fmt.Errorf("registry: load %s/%s: %w", meta.Realm, meta.Name, err)
		}
		p, err := r.load(ctx, *rec)
		if err != nil {
			return nil, fmt.Errorf("registry: load %s/%s: %w", meta.Realm, meta.Name, err)
		}
		r.put(p)
	}
	return r, nil
}

// notified handles one notification on Channel.
func (r *Registry) notified(payload string) {
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if payload == "" {
		r.reloadAll(ctx)
		return
	}
	if realm, name, ok := cutTool(payload); ok {
		r.reload(ctx, realm, name)
	}
}

// announce tells the other nodes that (realm, name) changed. The change is
// already committed, so a failure to announce is not the caller's error:
// the other nodes catch up at their next reload of everything.
func (r *Registry) announce(ctx context.Context, realm, name string) {
	_ = r.db.SQLDB().Notify(ctx, Channel, realm+"/"+name)
}

// reload makes the cached (realm, name) what the store holds: compiled
// again when its manifest, module or install time changed, dropped when it
// is gone or cannot be loaded (fail closed: a node never serves a version
// the store no longer names).
func (r *Registry) reload(ctx context.Context, realm, name string) {
	rec, err := r.db.GetPlugin(ctx, realm, name)
	if err == nil {
		if cur, ok := r.Get(realm, name); ok && samePlugin(cur.Record, *rec) {
			return
		}
		var p *Plugin
		if p, err = r.load(ctx, *rec); err == nil {
			r.put(p)
			return
		}
	}
	r.drop(realm, name)
}

// reloadAll reloads every plugin of the store and drops the cached ones it
// no longer holds. When the store cannot be read, the cache is kept: the
// listener calls it again after it reconnects.
func (r *Registry) reloadAll(ctx context.Context) {
	recs, err := r.db.ListPlugins(ctx, "")
	if err != nil {
		return
	}
	keep := map[[2]string]bool{}
	for _, rec := range recs {
		keep[[2]string{rec.Realm, rec.Name}] = true
		if cur, ok := r.Get(rec.Realm, rec.Name); ok && samePlugin(cur.Record, rec) {
			continue
		}
		r.reload(ctx, rec.Realm, rec.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for realm, byName := range r.plugins {
		for name := range byName {
			if !keep[[2]string{realm, name}] {
				delete(byName, name)
			}
		}
	}
}

// samePlugin reports whether two records are the same install.
func samePlugin(a, b store.Plugin) bool {
	return a.ManifestSHA256 == b.ManifestSHA256 && a.ModuleSHA256 == b.ModuleSHA256 &&
		a.InstalledAt.UnixMicro() == b.InstalledAt.UnixMicro()
}

func (r *Registry) drop(realm, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.plugins[realm], name)
}

func (r *Registry) load(ctx context.Context, rec store.Plugin) (*Plugin, error) {
	m, err := bundle.ParseManifest(rec.Manifest)
	if err != nil {
		return nil, err
	}
	compiled, err := bundle.Compile(rec.Manifest, m)
	if err != nil {
		return nil, err
	}
	mod, err := r.engine.Load(ctx, rec.Module)
	if err != nil {
		return nil, err
	}
	rec.Module = nil
	return &Plugin{Record: rec, Compiled: compiled, Module: mod}, nil
}

func (r *Registry) put(p *Plugin) {
	r.mu.Lock()
	defer r.mu.Unlock()
	realm := r.plugins[p.Record.Realm]
	if realm == nil {
		realm = map[string]*Plugin{}
		r.plugins[p.Record.Realm] = realm
	}
	realm[p.Record.Name] = p
}

// Verified is a bundle that passed every check but is not installed yet.
type Verified struct {
	Bundle   *bundle.Bundle
	Compiled *bundle.Compiled
	Module   *runtime.Module
	Realm    string
}

// Name returns "NAME@VERSION".
func (v *Verified) Name() string {
	return v.Bundle.Manifest.Name + "@" + v.Bundle.Manifest.Version
}

// Verify runs every install check on raw bundle bytes for realm without
// changing anything. Errors wrap the bundle package sentinels.
func (r *Registry) Verify(ctx context.Context, realm string, raw []byte, trust Trust) (*Verified, error) {
	if int64(len(raw)) > r.maxBytes {
		return nil, fmt.Errorf("registry: %w: bundle larger than %d bytes", bundle.ErrTooLarge, r.maxBytes)
	}
	b, err := bundle.Read(bytes.NewReader(raw), r.maxBytes)
	if err != nil {
		return nil, err
	}
	var trustErr error
	if err := b.Verify(func(pub string) bool {
		ok, err := trust(ctx, realm, pub)
		trustErr = err
		return ok && err == nil
	}); err != nil {
		if trustErr != nil {
			return nil, fmt.Errorf("registry: publisher check: %w", trustErr)
		}
		return nil, err
	}
	info, err := r.engine.Inspect(ctx, b.Module)
	if err != nil {
		return nil, fmt.Errorf("registry: %w: module: %v", bundle.ErrMalformed, err)
	}
	imports := make([]bundle.Import, len(info.Imports))
	for i, im := range info.Imports {
		imports[i] = bundle.Import{Module: im.Module, Name: im.Name}
	}
	if err := bundle.CheckImports(b.Manifest, imports); err != nil {
		return nil, err
	}
	if err := bundle.CheckExports(b.Manifest, info.Exports); err != nil {
		return nil, err
	}
	compiled, err := bundle.Compile(b.ManifestJSON, b.Manifest)
	if err != nil {
		return nil, err
	}
	mod, err := r.engine.Load(ctx, b.Module)
	if err != nil {
		return nil, fmt.Errorf("registry: %w: module: %v", bundle.ErrMalformed, err)
	}
	return &Verified{Bundle: b, Compiled: compiled, Module: mod, Realm: realm}, nil
}

// Changes reports whether installing v would change the surface an agent
// sees of an installed plugin of the same name: any tool added, removed, or
// with another description, schema, capability list or approval flag. Such a
// re-install must be approved by an operator (no silent rug pulls).
func (r *Registry) Changes(v *Verified) bool {
	old, ok := r.Get(v.Realm, v.Bundle.Manifest.Name)
	if !ok {
		return false
	}
	return !sameSurface(old.Compiled.Manifest, v.Bundle.Manifest)
}

func sameSurface(a, b *bundle.Manifest) bool {
	if len(a.Tools) != len(b.Tools) {
		return false
	}
	byName := map[string]bundle.Tool{}
	for _, t := range a.Tools {
		byName[t.Name] = t
	}
	for _, t := range b.Tools {
		o, ok := byName[t.Name]
		if !ok || o.Description != t.Description || o.Approval != t.Approval ||
			!sameJSON(o.InputSchema, t.InputSchema) || !sameJSON(o.OutputSchema, t.OutputSchema) ||
			!sameCaps(o.Capabilities, t.Capabilities) {
			return false
		}
	}
	return true
}

func sameJSON(a, b []byte) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return false
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

func sameCaps(a, b []abi.Capability) bool {
	if len(a) != len(b) {
		return false
	}
	set := map[abi.Capability]bool{}
	for _, c := range a {
		set[c] = true
	}
	for _, c := range b {
		if !set[c] {
			return false
		}
	}
	return true
}

func record(v *Verified, installedBy string, now time.Time) store.Plugin {
	b := v.Bundle
	msum := sha256.Sum256(b.ManifestJSON)
	return store.Plugin{
		Realm:          v.Realm,
		Name:           b.Manifest.Name,
		Version:        b.Manifest.Version,
		ManifestSHA256: hex.EncodeToString(msum[:]),
		Manifest:       b.ManifestJSON,
		ManifestJWS:    b.Signature,
		ModuleSHA256:   b.Manifest.ModuleSHA256,
		Module:         b.Module,
		Publisher:      b.Manifest.Publisher,
		InstalledBy:    installedBy,
		InstalledAt:    now.UTC(),
	}
}

// Hold stores v as the pending version of its plugin; the installed version
// keeps serving until [Registry.Approve]. It returns the manifest hash an
// operator must approve.
func (r *Registry) Hold(ctx context.Context, v *Verified, installedBy string, now time.Time) (string, error) {
	rec := record(v, installedBy, now)
	if err := r.db.PutPending(ctx, rec); err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	return rec.ManifestSHA256, nil
}

// Approve promotes the pending version of name whose manifest hash is
// manifestSHA256 and makes it callable.
func (r *Registry) Approve(ctx context.Context, realm, name, manifestSHA256 string) (*Plugin, error) {
	pending, err := r.db.GetPending(ctx, realm, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("registry: %w", err)
	}
	if pending.ManifestSHA256 != manifestSHA256 {
		return nil, ErrNotFound
	}
	p, err := r.load(ctx, *pending)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if err := r.db.PromotePending(ctx, realm, name, manifestSHA256); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("registry: %w", err)
	}
	r.put(p)
	r.announce(ctx, realm, name)
	return p, nil
}

// Commit stores a verified bundle and makes it callable, replacing any
// plugin of the same name in the realm. Callers hold surface changes for
// approval first (see [Registry.Changes]).
func (r *Registry) Commit(ctx context.Context, v *Verified, installedBy string, now time.Time) (*Plugin, error) {
	rec := record(v, installedBy, now)
	if err := r.db.PutPlugin(ctx, rec); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	rec.Module = nil
	p := &Plugin{Record: rec, Compiled: v.Compiled, Module: v.Module}
	r.put(p)
	r.announce(ctx, rec.Realm, rec.Name)
	return p, nil
}

// Remove uninstalls the named plugin from realm.
func (r *Registry) Remove(ctx context.Context, realm, name string) error {
	if err := r.remove(ctx, realm, name); err != nil {
		return err
	}
	r.announce(ctx, realm, name)
	return nil
}

func (r *Registry) remove(ctx context.Context, realm, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.plugins[realm][name]; !ok {
		return ErrNotFound
	}
	if err := r.db.DeletePlugin(ctx, realm, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		return fmt.Errorf("registry: %w", err)
	}
	delete(r.plugins[realm], name)
	return nil
}

// Get returns the named plugin in realm.
func (r *Registry) Get(realm, name string) (*Plugin, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.plugins[realm][name]
	return p, ok
}

// Tool resolves a tool id ("bundle/tool") in realm.
func (r *Registry) Tool(realm, id string) (*Tool, error) {
	name, _, ok := cutTool(id)
	if !ok {
		return nil, ErrNotFound
	}
	p, ok := r.Get(realm, name)
	if !ok {
		return nil, ErrNotFound
	}
	t, ok := p.Compiled.Tools[id]
	if !ok {
		return nil, ErrNotFound
	}
	return &Tool{Plugin: p, Tool: t}, nil
}

// Known reports whether a tool id is installed in any realm (used to keep
// metric labels bounded; never for access decisions).
func (r *Registry) Known(id string) bool {
	name, _, ok := cutTool(id)
	if !ok {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, realm := range r.plugins {
		if p, ok := realm[name]; ok {
			if _, ok := p.Compiled.Tools[id]; ok {
				return true
			}
		}
	}
	return false
}

// List returns the plugins installed in realm, sorted by name.
func (r *Registry) List(realm string) []*Plugin {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Plugin, 0, len(r.plugins[realm]))
	for _, p := range r.plugins[realm] {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Record.Name < out[j].Record.Name })
	return out
}

func cutTool(id string) (bundleName, tool string, ok bool) {
	for i := 0; i < len(id); i++ {
		if id[i] == '/' {
			return id[:i], id[i+1:], i > 0 && i < len(id)-1
		}
	}
	return "", "", false
}
