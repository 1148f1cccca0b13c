package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// globalExportPrefix names the exports that exportMutableGlobals adds: one
// per mutable global the module defines, suffixed with its index.
const globalExportPrefix = "__airlock_global_"

// Wasm value types of globals the fresh-state path can save and restore.
const (
	valI32 = 0x7f
	valI64 = 0x7e
	valF32 = 0x7d
	valF64 = 0x7c
)

// stateLayout is what the fresh-state path needs to know about a module's
// state, found while rewriting it.
type stateLayout struct {
	// globals are the indices of the defined mutable globals, each exported
	// as globalExportPrefix + index.
	globals []uint32
	// fastPathProblem is why the module cannot take the fresh-state path
	// ("" when it can): state the snapshot would not cover. The code
	// section's part is found later, by problem.
	fastPathProblem string

	// code is the code section's contents, scanned for table changes
	// (changesTables) on the first call of problem: a 3.5 MB Go module
	// takes ~17 ms, which a restart should not pay for every plugin.
	code     []byte
	scanOnce sync.Once
	scanned  string // the code's problem, "" if none
}

// problem returns why the module cannot take the fresh-state path, ""
// when it can.
func (l *stateLayout) problem() string {
	if l.fastPathProblem != "" {
		return l.fastPathProblem
	}
	l.scanOnce.Do(func() {
		if l.code == nil {
			return
		}
		switch changes, err := changesTables(&wasmReader{b: l.code}); {
		case err != nil:
			l.scanned = "has code the table scan cannot read: " + err.Error()
		case changes:
			l.scanned = "changes a table at run time (table.set, table.grow, table.fill, table.copy or table.init)"
		}
	})
	return l.scanned
}

// globalExportName is the export under which global idx is reachable.
func globalExportName(idx uint32) string {
	return globalExportPrefix + strconv.FormatUint(uint64(idx), 10)
}

// errRewrite wraps every error of exportMutableGlobals.
var errRewrite = errors.New("cannot rewrite module")

// exportMutableGlobals returns wasm with every mutable global it defines
// exported (as globalExportPrefix + index), so the host can read and reset
// it, and the module's state layout. The code, memory and every other
// section are kept byte for byte; only the export section is replaced (or
// created in its place in the section order). It is idempotent: exports it
// added before are recognised, and a module that already exports every
// mutable global under these names is returned unchanged.
//
// wasm is untrusted: anything that does not parse is an error, never a
// panic. It does not validate the module (wazero does); an export name of
// the reserved form that points anywhere but the global it names is
// refused.
func exportMutableGlobals(wasm []byte) (out []byte, layout *stateLayout, err error) {
	if err := checkBounds(wasm); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errRewrite, err)
	}
	type section struct {
		id         byte
		start, end int // the whole section: id, size and contents
		body       []byte
	}
	var sections []section
	r := &wasmReader{b: wasm, off: 8}
	for r.off < len(r.b) {
		start := r.off
		id, err := r.byte()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errRewrite, err)
		}
		body, err := r.sub()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errRewrite, err)
		}
		sections = append(sections, section{id: id, start: start, end: r.off, body: body.b})
	}

	layout = &stateLayout{}
	problem := func(p string) {
		if layout.fastPathProblem == "" {
			layout.fastPathProblem = p
		}
	}
	var importedGlobals uint32
	type exportEntry struct {
		name string
		kind byte
		idx  uint32
	}
	var exports []exportEntry
	exportIdx := -1
	memories := 0
	for i, s := range sections {
		sr := &wasmReader{b: s.body}
		var err error
		switch s.id {
		case 2: // import
			err = sr.each(func() error {
				if _, err := sr.name(); err != nil {
					return err
				}
				if _, err := sr.name(); err != nil {
					return err
				}
				kind, err := sr.byte()
				if err != nil {
					return err
				}
				switch kind {
				case 0x00:
					_, err = sr.u32()
				case 0x01:
					problem("imports a table")
					_, err = sr.tableType()
				case 0x02:
					problem("imports a memory")
					err = sr.limits()
				case 0x03:
					problem("imports a global")
					importedGlobals++
					err = sr.globalType()
				case 0x04:
					problem("imports a tag")
					if _, err = sr.byte(); err == nil {
						_, err = sr.u32()
					}
				default:
					err = fmt.Errorf("unknown import kind 0x%x", kind)
				}
				return err
			})
		case 5: // memory
			err = sr.each(func() error {
				memories++
				if len(sr.b) > sr.off && sr.b[sr.off]&0x06 != 0 {
					problem("has a shared or 64-bit memory")
				}
				return sr.limits()
			})
		case 6: // global
			idx := importedGlobals
			err = sr.each(func() error {
				t, err := sr.byte()
				if err != nil {
					return err
				}
				if t == 0x63 || t == 0x64 {
					if err := sr.skipLEB(); err != nil {
						return err
					}
				}
				mut, err := sr.byte()
				if err != nil {
					return err
				}
				if mut > 1 {
					return fmt.Errorf("bad global mutability 0x%x", mut)
				}
				if mut == 1 {
					switch t {
					case valI32, valI64, valF32, valF64:
					default:
						problem("has a mutable global of a reference or vector type")
					}
					layout.globals = append(layout.globals, idx)
				}
				idx++
				return sr.constExpr()
			})
		case 7: // export
			exportIdx = i
			err = sr.each(func() error {
				name, err := sr.name()
				if err != nil {
					return err
				}
				kind, err := sr.byte()
				if err != nil {
					return err
				}
				idx, err := sr.u32()
				if err != nil {
					return err
				}
				exports = append(exports, exportEntry{name: name, kind: kind, idx: idx})
				return nil
			})
		case 9: // element
			err = sr.each(func() error {
				if len(sr.b) > sr.off && sr.b[sr.off]&0x03 == 0x01 {
					problem("has a passive element segment")
				}
				return sr.elementSegment()
			})
		case 10: // code: scanned when first needed (stateLayout.problem)
			layout.code = sr.b
		case 11: // data
			err = sr.each(func() error {
				flags, err := sr.u32()
				if err != nil {
					return err
				}
				switch flags {
				case 0:
					err = sr.constExpr()
				case 1:
					problem("has a passive data segment")
				case 2:
					if _, err = sr.u32(); err == nil {
						err = sr.constExpr()
					}
				default:
					err = fmt.Errorf("unknown data segment flags %d", flags)
				}
				if err != nil {
					return err
				}
				_, err = sr.sub()
				return err
			})
		}
		parsed := s.id == 2 || s.id == 5 || s.id == 6 || s.id == 7 || s.id == 9 || s.id == 11
		if err == nil && parsed && sr.off != len(sr.b) {
			err = errors.New("trailing bytes")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: section %d: %w", errRewrite, s.id, err)
		}
	}
	if memories != 1 {
		problem("does not define exactly one memory")
	}

	// Exports of the reserved form must be the ones this function adds.
	have := map[uint32]bool{}
	for _, x := range exports {
		if !strings.HasPrefix(x.name, globalExportPrefix) {
			continue
		}
		idx, err := strconv.ParseUint(strings.TrimPrefix(x.name, globalExportPrefix), 10, 32)
		if err != nil || x.kind != 0x03 || uint32(idx) != x.idx || globalExportName(x.idx) != x.name {
			return nil, nil, fmt.Errorf("%w: export %q uses the reserved prefix", errRewrite, x.name)
		}
		have[x.idx] = true
	}
	var add []uint32
	for _, g := range layout.globals {
		if !have[g] {
			add = append(add, g)
		}
	}
	// Every reserved export must name a mutable global this module defines.
	mutable := map[uint32]bool{}
	for _, g := range layout.globals {
		mutable[g] = true
	}
	for idx := range have {
		if !mutable[idx] {
			return nil, nil, fmt.Errorf("%w: reserved export of global %d, not a defined mutable global", errRewrite, idx)
		}
	}
	if len(add) == 0 {
		return wasm, layout, nil
	}

	// The new export section: the old entries, then ours.
	var body []byte
	body = appendULEB(body, uint64(len(exports)+len(add)))
	if exportIdx >= 0 {
		old := &wasmReader{b: sections[exportIdx].body}
		if _, err := old.u32(); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errRewrite, err)
		}
		body = append(body, old.b[old.off:]...)
	}
	for _, g := range add {
		name := globalExportName(g)
		body = appendULEB(body, uint64(len(name)))
		body = append(body, name...)
		body = append(body, 0x03)
		body = appendULEB(body, uint64(g))
	}
	sec := append([]byte{7}, appendULEB(nil, uint64(len(body)))...)
	sec = append(sec, body...)

	var buf bytes.Buffer
	buf.Grow(len(wasm) + len(sec))
	if exportIdx >= 0 {
		s := sections[exportIdx]
		buf.Write(wasm[:s.start])
		buf.Write(sec)
		buf.Write(wasm[s.end:])
		return buf.Bytes(), layout, nil
	}
	// No export section: insert one before the first section that must come
	// after it (custom sections stay where they are).
	at := len(wasm)
	for _, s := range sections {
		if s.id != 0 && sectionRank(s.id) > sectionRank(7) {
			at = s.start
			break
		}
	}
	buf.Write(wasm[:at])
	buf.Write(sec)
	buf.Write(wasm[at:])
	return buf.Bytes(), layout, nil
}

// sectionRank is the position of a known section id in the order the
// binary format requires.
func sectionRank(id byte) int {
	order := []byte{1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11}
	for i, x := range order {
		if x == id {
			return i
		}
	}
	return len(order)
}

func appendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}
