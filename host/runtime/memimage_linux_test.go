//go:build linux

package runtime

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"testing"
	"unsafe"
)

// testImage is an image of pages pages: random bytes, with every third
// page zero.
func testImage(t *testing.T, pages int) *memoryImage {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, pages*restorePage)
	for i := range pages {
		if i%3 != 0 {
			for j := i * restorePage; j < (i+1)*restorePage; j++ {
				data[j] = byte(r.Uint32())
			}
		}
	}
	img, err := newMemoryImage(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(img.release)
	return img
}

// testMemory maps img as a worker's memory of up to maxBytes.
func testMemory(t *testing.T, img *memoryImage, maxBytes uint64) *snapMemory {
	t.Helper()
	a := &imageAllocator{image: img}
	m := a.Allocate(img.size, maxBytes).(*snapMemory)
	t.Cleanup(m.unmap)
	if m.Reallocate(img.size) == nil {
		t.Fatal("cannot size the memory to the image")
	}
	return m
}

// requireTracked skips (fails in CI) where the tracked restore is not
// available, so the tests below never pass without testing it.
func requireTracked(t *testing.T, img *memoryImage) {
	t.Helper()
	if img.fd < 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("no sealed memfd or /proc/self/pagemap: the tracked restore is not tested")
		}
		t.Skip("no sealed memfd or /proc/self/pagemap on this machine")
	}
}

// TestTrackedRestore writes random bytes at random places of a worker's
// memory — pages never written before, pages written by earlier rounds,
// zero pages, and memory grown past the image — and checks after every
// reset that the memory is the image again, byte for byte, and its grown
// part zero.
func TestTrackedRestore(t *testing.T) {
	const pages = 64 * 4 // 1 MiB: four Wasm pages
	img := testImage(t, pages)
	requireTracked(t, img)
	m := testMemory(t, img, 4*img.size)
	if !m.tracked {
		t.Fatal("worker memory is not a mapping of the image's memfd")
	}
	m.forget()
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 300 {
		grow := uint64(0)
		if round%4 == 0 {
			grow = uint64(1+r.IntN(3)) * wasmPage
		}
		buf := m.Reallocate(img.size + grow)
		if buf == nil {
			t.Fatal("cannot grow the memory")
		}
		for range 1 + r.IntN(20) {
			off := r.IntN(len(buf))
			n := min(1+r.IntN(3*restorePage), len(buf)-off)
			for j := off; j < off+n; j++ {
				buf[j] = byte(r.Uint32()) | 1 // never zero: always a change on a zero page
			}
		}
		if err := m.reset(); err != nil {
			t.Fatal(err)
		}
		if !m.tracked {
			t.Fatal("the tracked restore fell back to comparing every page")
		}
		if !bytes.Equal(m.buf, img.data) {
			t.Fatalf("round %d: memory differs from the image after reset", round)
		}
		if tail := m.region[img.size : img.size+grow]; !bytes.Equal(tail, make([]byte, len(tail))) {
			t.Fatalf("round %d: grown memory not cleared", round)
		}
	}
}

// TestTrackedRestoreSeesOnlyWrittenPages checks the property the tracked
// restore relies on: in a fresh worker every page of the image is the
// memfd's, and a write makes exactly the written page private.
func TestTrackedRestoreSeesOnlyWrittenPages(t *testing.T) {
	img := testImage(t, 64)
	requireTracked(t, img)
	m := testMemory(t, img, img.size)
	m.forget()
	private := func() []int {
		t.Helper()
		entries := make([]byte, 8*len(img.zero))
		base := uintptr(unsafe.Pointer(&m.buf[0]))
		if _, err := pagemap().ReadAt(entries, int64(base/restorePage*8)); err != nil {
			t.Fatal(err)
		}
		var out []int
		for i := range img.zero {
			if !memfdPage(binary.LittleEndian.Uint64(entries[8*i:])) {
				out = append(out, i)
			}
		}
		return out
	}
	// Read every page: reading never makes a private copy.
	sum := 0
	for i := 0; i < len(m.buf); i += restorePage {
		sum += int(m.buf[i])
	}
	if got := private(); len(got) != 0 {
		t.Fatalf("pages %v are private after reads only (sum %d)", got, sum)
	}
	m.buf[5*restorePage+7] ^= 0xff
	m.buf[40*restorePage] ^= 0xff
	if got := private(); len(got) != 2 || got[0] != 5 || got[1] != 40 {
		t.Fatalf("private pages %v after writing pages 5 and 40", got)
	}
	if err := m.reset(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.buf, img.data) {
		t.Fatal("memory differs from the image after reset")
	}
}

// TestUntrackedRestore checks the fallback: a memory holding a copy of the
// image, restored by comparing every page.
func TestUntrackedRestore(t *testing.T) {
	img := testImage(t, 64)
	img.release() // no memfd: workers get a copy
	m := testMemory(t, img, img.size)
	if m.tracked {
		t.Fatal("memory tracked without a memfd")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		for range 5 {
			m.buf[r.IntN(len(m.buf))] ^= 0x5a
		}
		if err := m.reset(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.buf, img.data) {
			t.Fatal("memory differs from the image after reset")
		}
	}
}
