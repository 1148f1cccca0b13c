package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// infoCacheDir is where, under Config.CacheDir, the engine remembers what
// it learnt from a module it compiled once: its minimum memory and the
// exports a Call may name. A module found there is loaded without the
// interpreter's inspection and without compiling it up front (its native
// code is in the compilation cache next to it, and the first call loads
// it), so a restart with many installed tools is quick. The directory is
// as trusted as the compilation cache itself: only the host writes it.
const infoCacheDir = "airlock-modules-v1"

// moduleInfo is one entry of the info cache, named by the module's SHA-256.
type moduleInfo struct {
	MinPages uint32          `json:"min_pages"`
	Exports  map[string]bool `json:"exports"`
}

func (e *Engine) infoPath(sha string) string {
	if e.cfg.CacheDir == "" {
		return ""
	}
	return filepath.Join(e.cfg.CacheDir, infoCacheDir, sha+".json")
}

// cachedInfo returns the remembered facts of module sha, if any.
func (e *Engine) cachedInfo(sha string) (*moduleInfo, bool) {
	p := e.infoPath(sha)
	if p == "" {
		return nil, false
	}
	b, err := os.ReadFile(p)
	if err != nil || len(b) > 1<<20 {
		return nil, false
	}
	var mi moduleInfo
	if json.Unmarshal(b, &mi) != nil || mi.Exports == nil || mi.MinPages > e.cfg.MaxMemoryPages {
		return nil, false
	}
	return &mi, true
}

// rememberInfo records the facts of module sha after it compiled. Failing
// to record them only costs time at the next start.
func (e *Engine) rememberInfo(sha string, mi moduleInfo) {
	p := e.infoPath(sha)
	if p == "" {
		return
	}
	b, err := json.Marshal(mi)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".info-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if werr != nil || serr != nil || cerr != nil || os.Rename(tmp.Name(), p) != nil {
		os.Remove(tmp.Name())
	}
}
