//go:build !linux

package runtime

import (
	"errors"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryImagesSupported reports whether this platform has the fresh-state
// path: not this one, every call takes the fallback path.
const memoryImagesSupported = false

var errUnsupported = errors.New("fresh-state path not supported on this platform")

type memoryImage struct{ size uint64 }

func newMemoryImage([]byte) (*memoryImage, error) { return nil, errUnsupported }
func (*memoryImage) release()                     {}

type imageAllocator struct {
	image *memoryImage
	mem   *snapMemory
}

func (*imageAllocator) Allocate(_, _ uint64) experimental.LinearMemory { panic(errUnsupported) }

type snapMemory struct{ region, buf []byte }

func (*snapMemory) reset() error          { return errUnsupported }
func (*snapMemory) grown() bool           { return true }
func (*snapMemory) startCall()            {}
func (*snapMemory) nearLimit(uint64) bool { return false }
func (*snapMemory) unmap()                {}
func (*snapMemory) forget()               {}
