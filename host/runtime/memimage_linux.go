//go:build linux

package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryImagesSupported reports whether this platform has the fresh-state
// path.
const memoryImagesSupported = true

// madvHugepage is MADV_HUGEPAGE, advised for the anonymous parts of a
// worker's memory (a copy of the image, which an untracked restore touches
// whole, and the reservation memory grows into): huge pages save page
// faults and TLB misses.
const madvHugepage = 14

// memoryImage is a snapshot of linear memory, kept in a sealed memfd that
// every worker maps privately (copy-on-write) at the start of its memory.
//
// Finding what a call wrote. A worker's page that the guest never wrote is
// still the memfd's page in the page cache; the first write to it makes
// the kernel copy it into a private anonymous page. /proc/self/pagemap
// tells the two apart (bit 61: file page), so a restore reads one 8-byte
// entry per page and compares with the image only the private pages, the
// ones some call of this worker wrote, instead of the whole memory. A page
// stays private once written (it is restored by copying, not dropped), so a
// worker pays the copy-on-write fault (10-40 µs on the virtual machines
// Airlock was measured on) once per page it ever writes, not once per call.
// The pages no call writes — most of a Go module's data: type information,
// function tables, strings — are never compared and are shared by all
// workers.
//
// Where memfd sealing or /proc/self/pagemap is unavailable, a worker holds
// a private copy of the image and a restore compares every page (tracked
// false): correct, and about 50 µs for a 3 MiB Go module.
type memoryImage struct {
	data []byte
	size uint64
	// zero marks the restorePage-sized pages of data that are all zero:
	// reset only checks them, and clears the ones a call wrote to.
	zero []bool
	// fd is the sealed memfd holding data, or -1; mu guards it (a pool
	// closing releases it while a last worker may still be made).
	mu sync.Mutex
	fd int
}

// restorePage is the granularity of reset: the kernel's page size, which
// the tracked restore requires (pageSizeOK).
const restorePage = 4096

// zeroPage is compared against to find pages a call left zero.
var zeroPage [restorePage]byte

func newMemoryImage(mem []byte) (*memoryImage, error) {
	if uint64(len(mem))%wasmPage != 0 {
		return nil, errors.New("memory size is not a whole number of pages")
	}
	img := &memoryImage{data: mem, size: uint64(len(mem)), zero: make([]bool, len(mem)/restorePage), fd: -1}
	for i := range img.zero {
		img.zero[i] = bytes.Equal(mem[i*restorePage:(i+1)*restorePage], zeroPage[:])
	}
	if pageSizeOK && pagemap() != nil {
		img.fd = sealedMemfd(mem) // -1 on failure: untracked workers
	}
	return img, nil
}

// pageSizeOK: the tracked restore reads one pagemap entry per restorePage.
var pageSizeOK = os.Getpagesize() == restorePage

// pagemap is /proc/self/pagemap, opened once, or nil where it cannot be
// read.
var pagemap = sync.OnceValue(func() *os.File {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return nil
	}
	var b [8]byte
	if _, err := f.ReadAt(b[:], int64(uintptr(unsafe.Pointer(&zeroPage[0]))/restorePage*8)); err != nil {
		_ = f.Close()
		return nil
	}
	return f
})

// sealedMemfd returns a memfd holding data, sealed against any change, or
// -1.
func sealedMemfd(data []byte) int {
	fd, err := unix.MemfdCreate("airlock-snapshot", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1
	}
	for off := 0; off < len(data); {
		n, err := unix.Pwrite(fd, data[off:], int64(off))
		if err != nil || n <= 0 {
			_ = unix.Close(fd)
			return -1
		}
		off += n
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS,
		unix.F_SEAL_WRITE|unix.F_SEAL_GROW|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		_ = unix.Close(fd)
		return -1
	}
	return fd
}

// restorePageAt makes page i of dst equal to the image's page i, writing
// only when it differs.
func (img *memoryImage) restorePageAt(dst []byte, i int) {
	d := dst[i*restorePage : (i+1)*restorePage]
	if !img.zero[i] {
		if src := img.data[i*restorePage : (i+1)*restorePage]; !bytes.Equal(d, src) {
			copy(d, src)
		}
		return
	}
	if !bytes.Equal(d, zeroPage[:]) {
		clear(d)
	}
}

// restore makes dst (of the image's size) equal to the image: each page is
// compared with the image and copied (or cleared) only if it differs.
// Comparing reads both copies but writes nothing for the pages a call did
// not change, most of them; it is faster than copying every page.
func (img *memoryImage) restore(dst []byte) {
	for i := range img.zero {
		img.restorePageAt(dst, i)
	}
}

// Bits of a /proc/self/pagemap entry (Documentation/admin-guide/mm/pagemap.rst).
const (
	pmPresent = 1 << 63
	pmSwap    = 1 << 62
	pmFile    = 1 << 61
)

// memfdPage reports whether the page of pagemap entry e is the memfd's own
// (see restoreTracked).
func memfdPage(e uint64) bool {
	return (e&pmPresent != 0 && e&pmFile != 0) || e&(pmPresent|pmSwap) == 0
}

// restoreTracked does what restore does, for a dst mapped over the memfd:
// only the pages that are not the memfd's own are compared. entries is a
// buffer of 8 bytes per page. It reports false, having changed nothing,
// when pagemap cannot be read; the caller then restores every page.
//
// A page is the memfd's, and so equal to the image, when it is present as
// a file page, or neither present nor swapped (the next access reads the
// memfd). Anything else — a private copy, present or swapped out, or a
// page being migrated — is compared.
func (img *memoryImage) restoreTracked(dst, entries []byte) bool {
	f := pagemap()
	n := len(img.zero)
	if f == nil || len(dst) != n*restorePage || len(entries) < 8*n {
		return false
	}
	base := uintptr(unsafe.Pointer(&dst[0]))
	if base%restorePage != 0 {
		return false
	}
	if _, err := f.ReadAt(entries[:8*n], int64(base/restorePage*8)); err != nil {
		return false
	}
	for i := range n {
		if !memfdPage(binary.LittleEndian.Uint64(entries[8*i:])) {
			img.restorePageAt(dst, i)
		}
	}
	return true
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

// release closes the memfd; the workers' mappings keep its pages, and
// workers made afterwards hold a copy.
func (img *memoryImage) release() {
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.fd >= 0 {
		_ = unix.Close(img.fd)
		img.fd = -1
	}
}

// mapping reserves maxBytes of address space (no memory is committed until
// it is touched) with the image at its start: a private mapping of the
// memfd (tracked), or a copy.
func (img *memoryImage) mapping(maxBytes uint64) (region []byte, tracked bool, err error) {
	pageSize := uint64(os.Getpagesize())
	reserve := max(maxBytes, img.size, pageSize)
	reserve = (reserve + pageSize - 1) / pageSize * pageSize
	region, err = unix.Mmap(-1, 0, int(reserve), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, false, fmt.Errorf("reserving memory: %w", err)
	}
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.fd >= 0 && img.size > 0 {
		_, err := unix.MmapPtr(img.fd, 0, unsafe.Pointer(&region[0]), uintptr(img.size),
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
		if err == nil {
			if tail := region[img.size:]; len(tail) > 0 {
				_ = unix.Madvise(tail, madvHugepage) // advice only
			}
			return region, true, nil
		}
		// A failed MAP_FIXED may have unmapped part of the reservation:
		// make a new one and hold a copy instead.
		_ = unix.Munmap(region)
		region, err = unix.Mmap(-1, 0, int(reserve), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			return nil, false, fmt.Errorf("reserving memory: %w", err)
		}
	}
	_ = unix.Madvise(region, madvHugepage) // advice only
	copy(region, img.data)
	return region, false, nil
}

// imageAllocator is the wazero memory allocator of a new worker: its one
// memory starts with a private (copy-on-write) mapping of the image, or a
// copy of it.
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
	region, tracked, err := a.image.mapping(maxBytes)
	if err != nil {
		panic(err)
	}
	a.mem = &snapMemory{region: region, max: maxBytes, image: a.image, tracked: tracked}
	if tracked {
		a.mem.entries = make([]byte, 8*len(a.image.zero))
	}
	return a.mem
}

// snapMemory is a worker's linear memory: a region reserved up to the
// memory's maximum whose first image.size bytes are restored from the image.
type snapMemory struct {
	region []byte
	image  *memoryImage
	// tracked: the region starts with a private mapping of the image's
	// memfd, restored with restoreTracked; entries is its pagemap buffer.
	tracked bool
	entries []byte

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
	if !m.tracked || !m.image.restoreTracked(m.buf[:m.image.size], m.entries) {
		m.image.restore(m.buf[:m.image.size])
	}
	clearPages(m.buf[m.image.size:])
	m.buf = m.buf[:m.image.size:m.image.size]
	return nil
}

// forget drops every private copy of the image's pages, so the memory is
// the memfd's pages again: wazero writes the module's data segments into a
// new instance's memory, which copies every page they cover.
func (m *snapMemory) forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tracked && m.region != nil {
		if err := unix.Madvise(m.region[:m.image.size], unix.MADV_DONTNEED); err != nil {
			m.tracked = false // restore compares every page instead
		}
	}
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
		_ = unix.Munmap(m.region)
		m.region, m.buf = nil, nil
	}
}
