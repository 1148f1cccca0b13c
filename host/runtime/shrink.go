package runtime

import (
	"reflect"

	"github.com/tetratelabs/wazero/api"
)

// shrinkMemory sets the size of mem, a memory that grew during a call, back
// to pages, so a restored worker is indistinguishable from a new one
// (memory.size included) without instantiating it again.
//
// wazero has no public way to shrink a memory. Its memory type (internal to
// wazero, pinned by go.mod) keeps the size in the exported fields Buffer
// and Cap; shrinkMemory sets them one page below the target through
// reflection and then grows the memory by one page through the public API,
// which makes the compiled code reload the memory's base and length. The
// bytes past the snapshot must already be zero (snapMemory.reset). If the
// type does not look as expected, it returns false and the worker is
// discarded instead.
func shrinkMemory(mem api.Memory, pages uint32) bool {
	if pages == 0 {
		return false
	}
	v := reflect.ValueOf(mem)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return false
	}
	s := v.Elem()
	buf, capField := s.FieldByName("Buffer"), s.FieldByName("Cap")
	if !buf.IsValid() || !capField.IsValid() || !buf.CanSet() || !capField.CanSet() ||
		buf.Type() != reflect.TypeOf([]byte(nil)) || capField.Kind() != reflect.Uint32 {
		return false
	}
	b := buf.Bytes()
	below := uint64(pages-1) * wasmPage
	if uint64(len(b)) < below {
		return false
	}
	buf.SetBytes(b[:below:below])
	capField.SetUint(uint64(pages - 1))
	if _, ok := mem.Grow(1); !ok {
		return false
	}
	return uint64(mem.Size()) == uint64(pages)*wasmPage
}
