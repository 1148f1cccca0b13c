//go:build linux

package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryImagesSupported reports whether this platform has the fresh-state
// path.
const memoryImagesSupported = true

// madvHugepage is MADV_HUGEPAGE: a worker's memory is touched whole when it
// is restored, so huge pages save page faults and TLB misses.
const madvHugepage = 14

// memoryImage is a snapshot of linear memory. Each worker holds a private,
// resident copy and restores it by copying the image over the whole
// snapshot size after every call.
//
// Why a full copy and not copy-on-write or dirty-page tracking: every
// technique that finds the pages a call wrote does it through page faults
// (a private mapping of a memfd dropped with MADV_DONTNEED, soft-dirty
// bits, userfaultfd write protection read back with PAGEMAP_SCAN), and a
// page fault costs 10-40 µs on the virtual machines Airlock was measured on
// (see the package documentation), so a call that writes a hundred pages
// would pay milliseconds. Copying 3-4 MiB of resident memory costs about
// 100 µs and no fault.
type memoryImage struct {
	data []byte
	size uint64
	// zero marks the restorePage-sized pages of data that are all zero:
	// reset only checks them, and clears the ones a call wrote to.
	zero []bool
}

// restorePage is the granularity of reset.
const restorePage = 4096

// zeroPage is compared against to find pages a call left zero.
var zeroPage [restorePage]byte

func newMemoryImage(mem []byte) (*memoryImage, error) {
	if uint64(len(mem))%wasmPage != 0 {
		return nil, errors.New("memory size is not a whole number of pages")
	}
	img := &memoryImage{data: mem, size: uint64(len(mem)), zero: make([]bool, len(mem)/restorePage)}
	for i := range img.zero {
		img.zero[i] = bytes.Equal(mem[i*restorePage:(i+1)*restorePage], zeroPage[:])
	}
	return img, nil
}

// restore makes dst (of the image's size) equal to the image: each page is
// compared with the image and copied (or cleared) only if it differs.
// Comparing reads both copies but writes nothing for the pages a call did
// not change, most of them; it is faster than copying every page.
func (img *memoryImage) restore(dst []byte) {
	for i, z := range img.zero {
		d := dst[i*restorePage : (i+1)*restorePage]
		if !z {
			if src := img.data[i*restorePage : (i+1)*restorePage]; !bytes.Equal(d, src) {
				copy(d, src)
			}
			continue
		}
		if !bytes.Equal(d, zeroPage[:]) {
			clear(d)
		}
	}
}

// clearPages zeroes the pages of b that are not zero.
func clearPages(b []byte) {
	for off := 0; off < len(b); off += restorePage {
		d := b[off:min(off+restorePage, len(b))]
		if !bytes.Equal(d, zeroPage[:len(d)]) {
			clear(d)
		}
	}
}

// release drops the image; workers keep their copies.
func (img *memoryImage) release() {}

// mapping reserves maxBytes of address space (no memory is committed until
// it is touched) and copies the image at its start.
func (img *memoryImage) mapping(maxBytes uint64) ([]byte, error) {
	pageSize := uint64(os.Getpagesize())
	reserve := max(maxBytes, img.size, pageSize)
	reserve = (reserve + pageSize - 1) / pageSize * pageSize
	region, err := syscall.Mmap(-1, 0, int(reserve), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("reserving memory: %w", err)
	}
	_ = syscall.Madvise(region, madvHugepage) // advice only
	copy(region, img.data)
	return region, nil
}

// imageAllocator is the wazero memory allocator of a new worker: its one
// memory is a private copy of the image.
type imageAllocator struct {
	image *memoryImage
	mem   *snapMemory
}

var _ experimental.MemoryAllocator = (*imageAllocator)(nil)

// Allocate implements experimental.MemoryAllocator.
func (a *imageAllocator) Allocate(_, maxBytes uint64) experimental.LinearMemory {
	if a.mem != nil {
		panic(errors.New("runtime: module with more than one memory"))
	}
	region, err := a.image.mapping(maxBytes)
	if err != nil {
		panic(err)
	}
	a.mem = &snapMemory{region: region, max: maxBytes, image: a.image}
	return a.mem
}

// snapMemory is a worker's linear memory: a region reserved up to the
// memory's maximum whose first image.size bytes are restored from the image.
type snapMemory struct {
	region []byte
	image  *memoryImage

	mu   sync.Mutex
	buf  []byte // the memory as wazero sees it
	max  uint64
	peak uint64
}

// Reallocate implements experimental.LinearMemory. The memory never moves.
func (m *snapMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if size > m.max || size > uint64(len(m.region)) {
		return nil
	}
	m.buf = m.region[:size:size]
	m.peak = max(m.peak, size)
	return m.buf
}

// Free implements experimental.LinearMemory. It does nothing: wazero calls
// it when the instance closes, which may happen (engine Close, deadline)
// while guest code still runs in this memory on another goroutine. The
// worker unmaps the memory when its call is over (unmap).
func (m *snapMemory) Free() {}

// reset copies the image over the memory and zeroes what a call grew it by
// (a later growth must read zeros). Only for a memory no guest code runs
// in; the caller shrinks the instance's view of it (shrinkMemory).
func (m *snapMemory) reset() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	size := uint64(len(m.buf))
	if size < m.image.size {
		return errors.New("memory smaller than the snapshot")
	}
	m.image.restore(m.buf[:m.image.size])
	clearPages(m.buf[m.image.size:])
	m.buf = m.buf[:m.image.size:m.image.size]
	return nil
}

// grown reports whether the memory is larger than the snapshot.
func (m *snapMemory) grown() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(len(m.buf)) != m.image.size
}

// startCall resets the peak size for a new call.
func (m *snapMemory) startCall() {
	m.mu.Lock()
	m.peak = uint64(len(m.buf))
	m.mu.Unlock()
}

func (m *snapMemory) nearLimit(slack uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak+slack >= m.max
}

// unmap releases the region. Only for a memory no guest code runs in.
func (m *snapMemory) unmap() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.region != nil {
		_ = syscall.Munmap(m.region)
		m.region, m.buf = nil, nil
	}
}
