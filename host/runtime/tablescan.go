package runtime

import "fmt"

// changesTables walks the function bodies of a code section and reports
// whether any instruction can change a table at run time: table.set,
// table.grow, table.fill, table.copy or table.init. The snapshot restore
// puts memory and globals back but not tables, so such a module must take
// the fallback path (a fresh instance per call), or one call could leave
// entries for the next — another agent's — to find.
//
// It decodes every instruction with its immediates (WebAssembly 2.0:
// reference types, bulk memory, SIMD, sign extension, saturating
// conversions, multi-value; and tail calls). An instruction it does not
// know makes it answer "don't know", an error: the caller treats that like
// a table change, so nothing it cannot read takes the fast path.
func changesTables(code *wasmReader) (bool, error) {
	changes := false
	err := code.each(func() error {
		body, err := code.sub()
		if err != nil {
			return err
		}
		if err := body.each(func() error { // locals: count, type
			if _, err := body.u32(); err != nil {
				return err
			}
			return body.valType()
		}); err != nil {
			return err
		}
		for body.off < len(body.b) {
			c, err := body.instruction()
			if err != nil {
				return err
			}
			changes = changes || c
		}
		return nil
	})
	return changes, err
}

// instruction reads one instruction and reports whether it changes a
// table.
func (r *wasmReader) instruction() (changesTable bool, err error) {
	op, err := r.byte()
	if err != nil {
		return false, err
	}
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0B || op == 0x0F, // unreachable nop else end return
		op == 0x1A || op == 0x1B || op == 0xD1, // drop select ref.is_null
		op >= 0x45 && op <= 0xC4:               // numeric instructions without immediates
		return false, nil
	case op >= 0x02 && op <= 0x04: // block loop if
		return false, r.blockType()
	case op == 0x0C || op == 0x0D || op == 0x10 || op == 0x12 || // br br_if call return_call
		op >= 0x20 && op <= 0x24 || op == 0x25 || op == 0xD2: // local.* global.* table.get ref.func
		_, err := r.u32()
		return false, err
	case op == 0x0E: // br_table
		if err := r.each(func() error { _, err := r.u32(); return err }); err != nil {
			return false, err
		}
		_, err := r.u32()
		return false, err
	case op == 0x11 || op == 0x13: // call_indirect return_call_indirect: type, table
		return false, r.u32s(2)
	case op == 0x1C: // select t*
		return false, r.each(r.valType)
	case op == 0x26: // table.set
		_, err := r.u32()
		return true, err
	case op >= 0x28 && op <= 0x3E: // loads and stores
		return false, r.memArg()
	case op == 0x3F || op == 0x40: // memory.size memory.grow
		return false, r.zeroByte()
	case op == 0x41 || op == 0x42: // i32.const i64.const
		return false, r.skipLEB()
	case op == 0x43:
		return false, r.skip(4)
	case op == 0x44:
		return false, r.skip(8)
	case op == 0xD0: // ref.null: funcref, externref or a type index, each one LEB
		return false, r.skipLEB()
	case op == 0xFC:
		return r.prefixedFC()
	case op == 0xFD:
		return false, r.prefixedSIMD()
	}
	return false, fmt.Errorf("instruction 0x%02x not known to the table scan", op)
}

func (r *wasmReader) prefixedFC() (bool, error) {
	sub, err := r.u32()
	if err != nil {
		return false, err
	}
	switch {
	case sub <= 7: // saturating truncations
		return false, nil
	case sub == 8: // memory.init: data, memory
		if _, err := r.u32(); err != nil {
			return false, err
		}
		return false, r.zeroByte()
	case sub == 9 || sub == 13 || sub == 16: // data.drop elem.drop table.size
		_, err := r.u32()
		return false, err
	case sub == 10: // memory.copy
		if err := r.zeroByte(); err != nil {
			return false, err
		}
		return false, r.zeroByte()
	case sub == 11: // memory.fill
		return false, r.zeroByte()
	case sub == 12 || sub == 14: // table.init table.copy
		return true, r.u32s(2)
	case sub == 15 || sub == 17: // table.grow table.fill
		_, err := r.u32()
		return true, err
	}
	return false, fmt.Errorf("instruction 0xfc %d not known to the table scan", sub)
}

func (r *wasmReader) prefixedSIMD() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11 || sub == 92 || sub == 93: // v128 loads and stores
		return r.memArg()
	case sub == 12 || sub == 13: // v128.const i8x16.shuffle
		return r.skip(16)
	case sub >= 21 && sub <= 34: // extract and replace lane
		return r.skip(1)
	case sub >= 84 && sub <= 91: // load and store lane
		if err := r.memArg(); err != nil {
			return err
		}
		return r.skip(1)
	case sub <= 0xFF: // every other SIMD instruction has no immediate
		return nil
	}
	return fmt.Errorf("instruction 0xfd %d not known to the table scan", sub)
}

// blockType reads the type of a block, loop or if: empty, a value type,
// or a type index (a non-negative s33).
func (r *wasmReader) blockType() error {
	if r.off >= len(r.b) {
		return errTruncated
	}
	switch b := r.b[r.off]; {
	case b == 0x40:
		r.off++
		return nil
	case b == 0x7f || b == 0x7e || b == 0x7d || b == 0x7c || b == 0x7b || b == 0x70 || b == 0x6f || b == 0x63 || b == 0x64:
		return r.valType()
	case b&0x40 != 0 && b&0x80 == 0: // a negative one-byte s33: no other type
		return fmt.Errorf("unknown block type 0x%x", b)
	}
	return r.skipLEB()
}

// memArg reads an alignment and an offset. An alignment with bit 6 set
// names a memory (multi-memory), which no module on the fast path has.
func (r *wasmReader) memArg() error {
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		return fmt.Errorf("memory argument names a memory (alignment 0x%x)", align)
	}
	return r.skipLEB()
}

func (r *wasmReader) zeroByte() error {
	b, err := r.byte()
	if err == nil && b != 0 {
		err = fmt.Errorf("reserved byte 0x%x", b)
	}
	return err
}

func (r *wasmReader) u32s(n int) error {
	for range n {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	return nil
}
