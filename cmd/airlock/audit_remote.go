package main

// `airlock audit verify --host URL`: the client side of the Merkle audit log
// (DESIGN §7, issue 4). It remembers the last checkpoint it verified in a
// local state file and, on every run, checks that the host's new signed
// checkpoint extends it. A host that rolls its log back or shows this
// client a different history (a fork) is caught here, without any key and
// without trusting the host for anything but its pinned DID.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/internal/node"
	"github.com/airlock-dev/airlock/sdk/client"
)

var (
	errRolledBack = errors.New("audit log rolled back")
	errForked     = errors.New("audit log forked")
)

// auditState is the state file: the host it is pinned to and the last
// checkpoint verified from it.
type auditState struct {
	HostDID string `json:"host_did"`
	Size    int64  `json:"size"`
	Root    []byte `json:"root"` // standard base64
}

// remoteVerify is one run of `audit verify --host`.
type remoteVerify struct {
	host    string // base URL
	hostDID string // pinned DID ("" = state file, then /v1/host)
	state   string // state file ("" = ~/.airlock/audit-<DID suffix>.json)
	http    *http.Client
	out     io.Writer
}

func (v *remoteVerify) run(ctx context.Context) error {
	if v.http == nil {
		v.http = &http.Client{Timeout: 60 * time.Second}
	}
	var prev *auditState
	if v.state != "" {
		st, err := loadAuditState(v.state)
		if err != nil {
			return err
		}
		prev = st
	}
	switch {
	case prev != nil && v.hostDID != "" && prev.HostDID != v.hostDID:
		return fmt.Errorf("state file %s is pinned to host %s, --host-did says %s", v.state, prev.HostDID, v.hostDID)
	case prev != nil:
		v.hostDID = prev.HostDID
	case v.hostDID == "":
		c, err := client.New(v.host, nil, client.Options{HTTP: v.http})
		if err != nil {
			return err
		}
		info, err := c.Host(ctx)
		if err != nil {
			return err
		}
		v.hostDID = info.DID
		fmt.Fprintf(v.out, "pinning host %s (first use; pass --host-did to pin it yourself)\n", v.hostDID)
	}
	pub, err := hostPublicKey(v.hostDID)
	if err != nil {
		return err
	}
	if v.state == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("state file: %w (pass --state FILE)", err)
		}
		v.state = filepath.Join(home, ".airlock", "audit-"+didSuffix(v.hostDID)+".json")
		if prev, err = loadAuditState(v.state); err != nil {
			return err
		}
		if prev != nil && prev.HostDID != v.hostDID {
			return fmt.Errorf("state file %s is pinned to host %s, not %s", v.state, prev.HostDID, v.hostDID)
		}
	}

	note, err := v.get(ctx, "/v1/audit/checkpoint")
	if err != nil {
		return err
	}
	size, root, err := audit.OpenCheckpoint(note, node.AuditOrigin(v.hostDID), pub)
	if err != nil {
		return fmt.Errorf("checkpoint from %s is not signed by host %s: %w", v.host, v.hostDID, err)
	}
	if prev != nil {
		if err := v.extends(ctx, prev, size, root); err != nil {
			switch {
			case errors.Is(err, errRolledBack):
				fmt.Fprintf(v.out, "ROLLED BACK: %v\n", err)
			case errors.Is(err, errForked):
				fmt.Fprintf(v.out, "FORKED: %v\n", err)
			}
			return err
		}
	}
	if err := saveAuditState(v.state, &auditState{HostDID: v.hostDID, Size: size, Root: root}); err != nil {
		return err
	}
	if prev == nil {
		fmt.Fprintf(v.out, "ok: checkpoint of %d entries signed by %s; remembered in %s\n", size, v.hostDID, v.state)
	} else {
		fmt.Fprintf(v.out, "ok: checkpoint of %d entries signed by %s extends the one of %d entries seen before\n", size, v.hostDID, prev.Size)
	}
	return nil
}

// extends checks that the tree (size, root) extends the remembered one.
func (v *remoteVerify) extends(ctx context.Context, prev *auditState, size int64, root []byte) error {
	switch {
	case size < prev.Size:
		return fmt.Errorf("%w: the host's signed checkpoint covers %d entries, but a checkpoint of %d entries was verified before (state %s)",
			errRolledBack, size, prev.Size, v.state)
	case size == prev.Size:
		if !bytes.Equal(root, prev.Root) {
			return fmt.Errorf("%w: the host signed two different trees of %d entries (state %s)", errForked, size, v.state)
		}
		return nil
	case prev.Size == 0:
		return nil // the empty tree is a prefix of every tree
	}
	q := url.Values{"from": {fmt.Sprint(prev.Size)}, "to": {fmt.Sprint(size)}}
	body, err := v.get(ctx, "/v1/audit/proof/consistency?"+q.Encode())
	if err != nil {
		return err
	}
	p, err := parseConsistencyAnswer(body, prev.Size, size)
	if err != nil {
		return err
	}
	if err := audit.VerifyConsistency(prev.Size, size, prev.Root, root, p); err != nil {
		return fmt.Errorf("%w: the tree of %d entries verified before is not a prefix of the host's tree of %d entries: %v (state %s)",
			errForked, prev.Size, size, err, v.state)
	}
	return nil
}

// consistencyAnswer is GET /v1/audit/proof/consistency.
type consistencyAnswer struct {
	From  int64    `json:"from"`
	To    int64    `json:"to"`
	Proof [][]byte `json:"proof"`
}

// parseConsistencyAnswer decodes the host's answer strictly and checks it
// is about the sizes asked for. Whether the proof holds is for
// audit.VerifyConsistency to say.
func parseConsistencyAnswer(body []byte, from, to int64) ([][]byte, error) {
	var a consistencyAnswer
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("consistency proof: malformed answer: %w", err)
	}
	if dec.More() {
		return nil, errors.New("consistency proof: trailing data")
	}
	if a.From != from || a.To != to {
		return nil, fmt.Errorf("consistency proof: answer is about %d→%d, asked %d→%d", a.From, a.To, from, to)
	}
	return a.Proof, nil
}

// get fetches target. Nothing here needs a receipt: checkpoints are signed
// notes and proofs are checked against them.
func (v *remoteVerify) get(ctx context.Context, target string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(v.host, "/")+target, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, client.MaxResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %s", target, resp.StatusCode, bytes.TrimSpace(body))
	}
	return body, nil
}

func hostPublicKey(did string) (ed25519.PublicKey, error) {
	pub, err := identity.DecodeDID(did)
	if err != nil {
		return nil, err
	}
	ed, ok := pub.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("host DID must be an Ed25519 did:key")
	}
	return ed, nil
}

// didSuffix is the last 16 characters of the DID's key, enough to tell
// hosts apart in file names.
func didSuffix(did string) string {
	id := strings.TrimPrefix(did, "did:key:")
	if len(id) > 16 {
		id = id[len(id)-16:]
	}
	return id
}

// loadAuditState reads the state file; a missing file is no state (nil).
func loadAuditState(path string) (*auditState, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	var st auditState
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if st.HostDID == "" || st.Size < 0 || len(st.Root) != 32 {
		return nil, fmt.Errorf("state file %s: want host_did, size and a 32-byte root", path)
	}
	return &st, nil
}

// saveAuditState writes the state file (0600, its directory 0700) through
// a rename, so a crash leaves the old state or the new one.
func saveAuditState(path string, st *auditState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".audit-state-*")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}
