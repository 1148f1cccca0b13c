//go:build wasip1

package tool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/extism/go-pdk"
)

// Handle runs fn as a tool export: it decodes the Extism input as JSON into
// In (unknown fields and trailing data are refused), calls fn, and writes Out
// as the JSON output. On any error it sets the Extism error to the error's
// text and returns 1; on success it returns 0.
func Handle[In, Out any](fn func(In) (Out, error)) int32 {
	var in In
	if err := decodeStrict(pdk.Input(), &in); err != nil {
		pdk.SetError(fmt.Errorf("invalid input: %w", err))
		return 1
	}
	out, err := fn(in)
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	b, err := json.Marshal(out)
	if err != nil {
		pdk.SetError(fmt.Errorf("encoding output: %w", err))
		return 1
	}
	pdk.Output(b)
	return 0
}

// Warm fills, during the module's initialisation, the caches that
// encoding/json builds the first time it meets In and Out, so that each call
// does not build them again. Declare it next to the export:
//
//	var _ = tool.Warm[input, output]()
//
// Airlock runs every call from a snapshot of the module taken right after
// its initialisation (DESIGN §3: no state survives a call), so work a call
// does to fill a cache is lost and redone by the next call; work done while
// initialising is in the snapshot. Warm reads no input and calls no host
// function: the snapshot holds no caller's data. It decodes an empty object
// into a zero In and encodes a zero Out, both discarded; it always returns
// true.
func Warm[In, Out any]() bool {
	var in In
	_ = decodeStrict([]byte(`{}`), &in)
	var out Out
	_, _ = json.Marshal(out)
	return true
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown fields
// and anything after the value.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after JSON value")
	}
	return nil
}
