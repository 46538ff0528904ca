package drbd

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Options are the resource options of `drbdsetup show --json` that decide
// how a resource behaves when it loses peers.
type Options struct {
	// Quorum is "off", "majority", "all" or a number; empty when not set
	// (drbdsetup show omits defaults, and the default is off).
	Quorum string
	// OnNoQuorum is "io-error" or "suspend-io"; empty when not set, which
	// is DRBD's default, suspend-io: real `drbdsetup show` omits default
	// values, so a resource configured with suspend-io also reads empty.
	OnNoQuorum string
}

// HasQuorumPolicy reports whether the resource enforces quorum at all.
func (o Options) HasQuorumPolicy() bool { return o.Quorum != "" && o.Quorum != "off" }

// showJSON mirrors the part of `drbdsetup show --json` (drbd-utils 9.x) we read.
type showJSON struct {
	Resource string `json:"resource"`
	Options  struct {
		Quorum     json.RawMessage `json:"quorum"`
		OnNoQuorum string          `json:"on-no-quorum"`
	} `json:"options"`
}

// ParseShowJSON parses the output of `drbdsetup show --json` into the
// options of each resource, by name. Empty output means no resources.
func ParseShowJSON(out []byte) (map[string]Options, error) {
	res := map[string]Options{}
	if len(bytes.TrimSpace(out)) == 0 {
		return res, nil
	}
	var raw []showJSON
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("parse drbdsetup show --json: %w", err)
	}
	for i, r := range raw {
		if r.Resource == "" {
			return nil, fmt.Errorf("parse drbdsetup show --json: resource %d has no name", i)
		}
		q, err := quorumValue(r.Options.Quorum)
		if err != nil {
			return nil, fmt.Errorf("parse drbdsetup show --json: resource %s: %w", r.Resource, err)
		}
		res[r.Resource] = Options{Quorum: q, OnNoQuorum: r.Options.OnNoQuorum}
	}
	return res, nil
}

// quorumValue accepts the quorum option as a string ("majority") or, as
// some drbd-utils versions print a node count, a number.
func quorumValue(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("quorum %s: want a policy name or a number", raw)
	}
	return n.String(), nil
}
