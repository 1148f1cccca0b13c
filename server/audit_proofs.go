package server

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/intent"
)

// Merkle proofs of the audit log (DESIGN §4, §7). Like the checkpoint, they
// need no signature: they reveal only hashes, never an entry, and a verifier
// checks them against a host-signed checkpoint, so an unauthenticated
// auditor or witness can hold the host to its history.

// inclusionAnswer is GET /v1/audit/proof/inclusion.
type inclusionAnswer struct {
	Index    int64    `json:"index"`
	Size     int64    `json:"size"`
	LeafHash []byte   `json:"leaf_hash"` // standard base64 (encoding/json)
	Proof    [][]byte `json:"proof"`
}

// consistencyAnswer is GET /v1/audit/proof/consistency.
type consistencyAnswer struct {
	From  int64    `json:"from"`
	To    int64    `json:"to"`
	Proof [][]byte `json:"proof"`
}

func (s *Server) getInclusionProof(c echo.Context) error {
	q, err := proofParams(c.QueryParams(), "index", "size")
	if err != nil {
		return err
	}
	index, size := q[0], q[1]
	ctx := c.Request().Context()
	p, err := s.d.Audit.InclusionProof(ctx, index, size)
	if err != nil {
		return proofError(err)
	}
	leaf, err := s.d.Audit.LeafHash(ctx, index)
	if err != nil {
		return proofError(err)
	}
	return writeJSON(c, http.StatusOK, inclusionAnswer{Index: index, Size: size, LeafHash: leaf, Proof: p})
}

func (s *Server) getConsistencyProof(c echo.Context) error {
	q, err := proofParams(c.QueryParams(), "from", "to")
	if err != nil {
		return err
	}
	from, to := q[0], q[1]
	p, err := s.d.Audit.ConsistencyProof(c.Request().Context(), from, to)
	if err != nil {
		return proofError(err)
	}
	return writeJSON(c, http.StatusOK, consistencyAnswer{From: from, To: to, Proof: p})
}

// proofParams reads the named query parameters as canonical non-negative
// decimal integers: each exactly once, no sign, no leading zeros, no other
// parameter.
func proofParams(q url.Values, names ...string) ([]int64, error) {
	if len(q) != len(names) {
		return nil, errors.Join(errBadRequest, errors.New("want exactly the query parameters "+strings.Join(names, " and ")))
	}
	out := make([]int64, len(names))
	for i, name := range names {
		vs := q[name]
		if len(vs) != 1 {
			return nil, errors.Join(errBadRequest, errors.New(name+" must be given once"))
		}
		n, err := strconv.ParseInt(vs[0], 10, 64)
		if err != nil || n < 0 || strconv.FormatInt(n, 10) != vs[0] {
			return nil, errors.Join(errBadRequest, errors.New(name+" must be a non-negative decimal integer"))
		}
		out[i] = n
	}
	return out, nil
}

// proofError maps a proof failure: a range the log does not have is the
// caller's mistake (400); anything else means the host cannot answer.
func proofError(err error) error {
	if errors.Is(err, audit.ErrRange) {
		return errors.Join(errBadRequest, err)
	}
	return intent.ErrUnavailable
}
