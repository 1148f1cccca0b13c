package runtime

import (
	"bytes"
	"errors"
	"fmt"
)

// Limits that checkBounds enforces before any bytes reach wazero.
const (
	// maxFunctionLocals is the most locals one function may declare (the
	// limit of wasmparser, used by Wasmtime).
	maxFunctionLocals = 50000
	// maxTableEntries caps the sum of the tables' declared minimum sizes.
	// Table memory is not covered by the memory page limit.
	maxTableEntries = 1 << 22
)

// checkBounds walks the structure of a Wasm binary and refuses any vector,
// string or section whose declared length exceeds the bytes that remain, and
// declarations that would make the host allocate far more than the module's
// size (locals, table minimums).
//
// wazero's decoder (v1.12) allocates each vector at its declared length
// before reading it, so a 14-byte module declaring 2^31 imports makes the Go
// runtime abort the whole host with "out of memory" — no recover() catches
// that. FuzzInspect found it. This check runs first on every untrusted
// module; it does not validate the module (wazero does), it only makes sure
// every allocation wazero makes is bounded by the input size.
//
// It accepts the binary format of WebAssembly 2.0 (the features wazero
// enables by default) plus the encodings wazero knows of later proposals;
// anything it cannot walk is refused.
func checkBounds(wasm []byte) error {
	r := &wasmReader{b: wasm}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) || len(wasm) < 8 {
		return errors.New("not a WebAssembly binary")
	}
	r.off = 8
	for r.off < len(r.b) {
		id, err := r.byte()
		if err != nil {
			return err
		}
		sec, err := r.sub()
		if err != nil {
			return fmt.Errorf("section %d: %w", id, err)
		}
		if err := checkSection(id, sec); err != nil {
			return fmt.Errorf("section %d: %w", id, err)
		}
	}
	return nil
}

func checkSection(id byte, r *wasmReader) error {
	switch id {
	case 0: // custom
		name, err := r.name()
		if err != nil {
			return err
		}
		if name == "name" {
			return checkNameSection(r)
		}
		return nil
	case 1: // type
		return r.each(func() error {
			form, err := r.byte()
			if err != nil {
				return err
			}
			if form != 0x60 {
				return fmt.Errorf("unsupported type form 0x%x", form)
			}
			if err := r.each(r.valType); err != nil {
				return err
			}
			return r.each(r.valType)
		})
	case 2: // import
		return r.each(func() error {
			if _, err := r.name(); err != nil {
				return err
			}
			if _, err := r.name(); err != nil {
				return err
			}
			kind, err := r.byte()
			if err != nil {
				return err
			}
			switch kind {
			case 0x00: // func
				_, err = r.u32()
			case 0x01: // table
				_, err = r.tableType()
			case 0x02: // memory
				err = r.limits()
			case 0x03: // global
				err = r.globalType()
			case 0x04: // tag
				if _, err = r.byte(); err == nil {
					_, err = r.u32()
				}
			default:
				err = fmt.Errorf("unknown import kind 0x%x", kind)
			}
			return err
		})
	case 3: // function
		return r.each(func() error { _, err := r.u32(); return err })
	case 4: // table
		var entries uint64
		return r.each(func() error {
			if len(r.b) > r.off && r.b[r.off] == 0x40 { // table with an initializer
				r.off++
				if b, err := r.byte(); err != nil || b != 0x00 {
					return errors.New("malformed table")
				}
				min, err := r.tableType()
				if err != nil {
					return err
				}
				entries += uint64(min)
				if err := r.constExpr(); err != nil {
					return err
				}
			} else {
				min, err := r.tableType()
				if err != nil {
					return err
				}
				entries += uint64(min)
			}
			if entries > maxTableEntries {
				return fmt.Errorf("tables declare over %d entries", maxTableEntries)
			}
			return nil
		})
	case 5: // memory
		return r.each(r.limits)
	case 6: // global
		return r.each(func() error {
			if err := r.globalType(); err != nil {
				return err
			}
			return r.constExpr()
		})
	case 7: // export
		return r.each(func() error {
			if _, err := r.name(); err != nil {
				return err
			}
			if _, err := r.byte(); err != nil {
				return err
			}
			_, err := r.u32()
			return err
		})
	case 8: // start
		_, err := r.u32()
		return err
	case 9: // element
		return r.each(r.elementSegment)
	case 10: // code
		return r.each(func() error {
			body, err := r.sub()
			if err != nil {
				return err
			}
			var locals uint64
			return body.each(func() error {
				n, err := body.u32()
				if err != nil {
					return err
				}
				if locals += uint64(n); locals > maxFunctionLocals {
					return fmt.Errorf("function declares over %d locals", maxFunctionLocals)
				}
				return body.valType()
			})
		})
	case 11: // data
		return r.each(func() error {
			flags, err := r.u32()
			if err != nil {
				return err
			}
			switch flags {
			case 0:
				err = r.constExpr()
			case 1:
			case 2:
				if _, err = r.u32(); err == nil {
					err = r.constExpr()
				}
			default:
				err = fmt.Errorf("unknown data segment flags %d", flags)
			}
			if err != nil {
				return err
			}
			_, err = r.sub()
			return err
		})
	case 12: // data count
		_, err := r.u32()
		return err
	case 13: // tag
		return r.each(func() error {
			if _, err := r.byte(); err != nil {
				return err
			}
			_, err := r.u32()
			return err
		})
	default:
		return fmt.Errorf("unknown section id %d", id)
	}
}

// checkNameSection walks the "name" custom section, whose maps wazero also
// allocates at their declared length.
func checkNameSection(r *wasmReader) error {
	nameMap := func(m *wasmReader) error {
		return m.each(func() error {
			if _, err := m.u32(); err != nil {
				return err
			}
			_, err := m.name()
			return err
		})
	}
	for r.off < len(r.b) {
		id, err := r.byte()
		if err != nil {
			return err
		}
		sub, err := r.sub()
		if err != nil {
			return err
		}
		switch id {
		case 0: // module name
			_, err = sub.name()
		case 1: // function names
			err = nameMap(sub)
		case 2: // local names
			err = sub.each(func() error {
				if _, err := sub.u32(); err != nil {
					return err
				}
				return nameMap(sub)
			})
		}
		if err != nil {
			return fmt.Errorf("name subsection %d: %w", id, err)
		}
	}
	return nil
}

// wasmReader reads the Wasm binary encoding from b, bounds-checked.
type wasmReader struct {
	b   []byte
	off int
}

var errTruncated = errors.New("unexpected end")

func (r *wasmReader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errTruncated
	}
	b := r.b[r.off]
	r.off++
	return b, nil
}

// u32 reads an unsigned LEB128 of at most 5 bytes.
func (r *wasmReader) u32() (uint32, error) {
	var v uint64
	for i := 0; i < 5; i++ {
		b, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if v > 0xffffffff {
				return 0, errors.New("integer overflows u32")
			}
			return uint32(v), nil
		}
	}
	return 0, errors.New("integer representation too long")
}

// skipLEB skips a LEB128 (signed or unsigned) of at most 10 bytes.
func (r *wasmReader) skipLEB() error {
	for i := 0; i < 10; i++ {
		b, err := r.byte()
		if err != nil {
			return err
		}
		if b&0x80 == 0 {
			return nil
		}
	}
	return errors.New("integer representation too long")
}

func (r *wasmReader) skip(n int) error {
	if n > len(r.b)-r.off {
		return errTruncated
	}
	r.off += n
	return nil
}

// sub reads a length-prefixed byte run and returns a reader over it.
func (r *wasmReader) sub() (*wasmReader, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		return nil, fmt.Errorf("length %d past the end", n)
	}
	s := &wasmReader{b: r.b[r.off : r.off+int(n)]}
	r.off += int(n)
	return s, nil
}

func (r *wasmReader) name() (string, error) {
	s, err := r.sub()
	if err != nil {
		return "", err
	}
	return string(s.b), nil
}

// each reads a vector count, refuses one larger than the bytes left (every
// element takes at least one byte) and calls f once per element.
func (r *wasmReader) each(f func() error) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		return fmt.Errorf("vector of %d elements in %d bytes", n, len(r.b)-r.off)
	}
	for i := uint32(0); i < n; i++ {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

func (r *wasmReader) valType() error {
	b, err := r.byte()
	if err != nil {
		return err
	}
	switch b {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x69: // i32 i64 f32 f64 v128 funcref externref exnref
		return nil
	case 0x63, 0x64: // (ref null ht), (ref ht)
		return r.skipLEB()
	default:
		return fmt.Errorf("unknown value type 0x%x", b)
	}
}

// limits reads memory or table limits (any flags combination wazero knows:
// max present, shared, 64-bit).
func (r *wasmReader) limits() error {
	_, err := r.limitsMin()
	return err
}

func (r *wasmReader) limitsMin() (uint64, error) {
	flags, err := r.byte()
	if err != nil {
		return 0, err
	}
	if flags > 0x07 {
		return 0, fmt.Errorf("unknown limits flags 0x%x", flags)
	}
	start := r.off
	if err := r.skipLEB(); err != nil {
		return 0, err
	}
	min := decodeULEB(r.b[start:r.off])
	if flags&0x01 != 0 {
		if err := r.skipLEB(); err != nil {
			return 0, err
		}
	}
	return min, nil
}

// tableType reads a reference type and limits and returns the minimum size.
func (r *wasmReader) tableType() (uint64, error) {
	if err := r.valType(); err != nil {
		return 0, err
	}
	return r.limitsMin()
}

func (r *wasmReader) globalType() error {
	if err := r.valType(); err != nil {
		return err
	}
	_, err := r.byte() // mutability
	return err
}

// constExpr skips a constant expression up to its end opcode.
func (r *wasmReader) constExpr() error {
	for {
		op, err := r.byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b: // end
			return nil
		case 0x41, 0x42, 0x23, 0xd2: // i32.const, i64.const, global.get, ref.func
			err = r.skipLEB()
		case 0x43: // f32.const
			err = r.skip(4)
		case 0x44: // f64.const
			err = r.skip(8)
		case 0xd0: // ref.null heaptype
			err = r.skipLEB()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended-const arithmetic
		case 0xfd: // SIMD prefix: only v128.const (12) is constant
			var sub uint32
			if sub, err = r.u32(); err == nil {
				if sub != 12 {
					return fmt.Errorf("opcode 0xfd %d in a constant expression", sub)
				}
				err = r.skip(16)
			}
		default:
			return fmt.Errorf("opcode 0x%x in a constant expression", op)
		}
		if err != nil {
			return err
		}
	}
}

func (r *wasmReader) elementSegment() error {
	flags, err := r.u32()
	if err != nil {
		return err
	}
	if flags > 7 {
		return fmt.Errorf("unknown element segment flags %d", flags)
	}
	if flags&0x02 != 0 && flags&0x01 == 0 { // explicit table index
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	if flags&0x01 == 0 { // active: offset expression
		if err := r.constExpr(); err != nil {
			return err
		}
	}
	exprs := flags&0x04 != 0
	if flags&0x03 != 0 { // element kind or reference type
		if exprs {
			err = r.valType()
		} else {
			_, err = r.byte()
		}
		if err != nil {
			return err
		}
	}
	if exprs {
		return r.each(r.constExpr)
	}
	return r.each(func() error { _, err := r.u32(); return err })
}

// decodeULEB decodes an unsigned LEB128 known to be well formed (at most 10
// bytes), saturating at the maximum uint64.
func decodeULEB(b []byte) uint64 {
	var v uint64
	for i, c := range b {
		if i == 9 && c > 1 {
			return ^uint64(0)
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	return v
}
