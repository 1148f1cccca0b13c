package runtime

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryTracker is a wazero memory allocator that remembers, for each memory
// of one instance (the Extism kernel's and the tool's), its current size and
// its maximum. Invoke uses it to tell an out-of-memory abort from any other
// trap: a guest whose heap cannot grow usually exits or traps in its own way
// (Go exits with status 2), and the only reliable sign is a memory at or near
// its limit.
//
// The backing slices grow like wazero's default allocator (append), so the
// tracker changes nothing about how memory behaves.
type memoryTracker struct {
	mu   sync.Mutex
	mems []*trackedMemory
}

var _ experimental.MemoryAllocator = (*memoryTracker)(nil)

// Allocate implements experimental.MemoryAllocator.
func (t *memoryTracker) Allocate(capacity, maxBytes uint64) experimental.LinearMemory {
	m := &trackedMemory{buf: make([]byte, 0, capacity), max: maxBytes}
	t.mu.Lock()
	t.mems = append(t.mems, m)
	t.mu.Unlock()
	return m
}

// nearLimit reports whether any memory of the instance reached within slack
// bytes of its maximum. It looks at the peak size, so it still answers after
// the instance was closed (a WASI exit closes it at once).
func (t *memoryTracker) nearLimit(slack uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.mems {
		m.mu.Lock()
		size, maxBytes := m.peak, m.max
		m.mu.Unlock()
		if size+slack >= maxBytes {
			return true
		}
	}
	return false
}

// trackedMemory is one linear memory. Wazero calls Reallocate from the
// goroutine running the guest; the mutex makes nearLimit safe to call from
// elsewhere.
type trackedMemory struct {
	mu   sync.Mutex
	buf  []byte
	max  uint64
	peak uint64
}

// Reallocate implements experimental.LinearMemory.
func (m *trackedMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if size > m.max {
		return nil
	}
	if n := uint64(len(m.buf)); size > uint64(cap(m.buf)) {
		m.buf = append(m.buf, make([]byte, size-n)...)
	} else {
		// Grow within capacity. The bytes past len are zero: they were never
		// handed out (memories only grow).
		m.buf = m.buf[:size]
	}
	m.peak = max(m.peak, size)
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *trackedMemory) Free() {
	m.mu.Lock()
	m.buf = nil
	m.mu.Unlock()
}
