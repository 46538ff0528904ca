package storage

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// VGReport is one row of `vgs --reportformat json --units b --nosuffix`.
type VGReport struct {
	Name        string
	SizeBytes   uint64
	FreeBytes   uint64
	ExtentBytes uint64
}

// LVReport is one row of `lvs --reportformat json --units b --nosuffix`.
type LVReport struct {
	Name      string
	Path      string
	SizeBytes uint64
	Attr      string
	PoolLV    string
	// DataPercent is the thin pool's or thin volume's data usage; -1 when
	// lvm2 reports none (an inactive LV).
	DataPercent float64
	Tags        []string
}

type lvmReport struct {
	Report []struct {
		VG []map[string]string `json:"vg"`
		LV []map[string]string `json:"lv"`
	} `json:"report"`
}

// ParseVGs parses vgs JSON output.
func ParseVGs(out []byte) ([]VGReport, error) {
	var r lvmReport
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("parse vgs json: %w", err)
	}
	var vgs []VGReport
	for _, rep := range r.Report {
		for _, row := range rep.VG {
			vg := VGReport{Name: row["vg_name"]}
			var err error
			if vg.SizeBytes, err = lvmBytes(row, "vg_size"); err != nil {
				return nil, err
			}
			if vg.FreeBytes, err = lvmBytes(row, "vg_free"); err != nil {
				return nil, err
			}
			if _, ok := row["vg_extent_size"]; ok {
				if vg.ExtentBytes, err = lvmBytes(row, "vg_extent_size"); err != nil {
					return nil, err
				}
			}
			if vg.Name == "" {
				return nil, fmt.Errorf("parse vgs json: row without vg_name")
			}
			vgs = append(vgs, vg)
		}
	}
	return vgs, nil
}

// ParseLVs parses lvs JSON output.
func ParseLVs(out []byte) ([]LVReport, error) {
	var r lvmReport
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("parse lvs json: %w", err)
	}
	var lvs []LVReport
	for _, rep := range r.Report {
		for _, row := range rep.LV {
			lv, err := parseLV(row)
			if err != nil {
				return nil, err
			}
			lvs = append(lvs, lv)
		}
	}
	return lvs, nil
}

func parseLV(row map[string]string) (LVReport, error) {
	lv := LVReport{Name: row["lv_name"], Path: row["lv_path"], Attr: row["lv_attr"], PoolLV: row["pool_lv"], DataPercent: -1}
	if lv.Name == "" {
		return LVReport{}, fmt.Errorf("parse lvs json: row without lv_name")
	}
	var err error
	if lv.SizeBytes, err = lvmBytes(row, "lv_size"); err != nil {
		return LVReport{}, err
	}
	if p := row["data_percent"]; p != "" {
		if lv.DataPercent, err = strconv.ParseFloat(p, 64); err != nil || lv.DataPercent < 0 || lv.DataPercent > 100 {
			return LVReport{}, fmt.Errorf("parse lvs json: %s: data_percent %q", lv.Name, p)
		}
	}
	if t := row["lv_tags"]; t != "" {
		lv.Tags = strings.Split(t, ",")
	}
	return lv, nil
}

// lvmBytes reads a size field printed with --units b; a trailing "B" (when
// --nosuffix was not given) is accepted.
func lvmBytes(row map[string]string, key string) (uint64, error) {
	v, ok := row[key]
	if !ok {
		return 0, fmt.Errorf("parse lvm json: no %s", key)
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(v, "B"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse lvm json: %s %q is not a size in bytes (want --units b)", key, v)
	}
	return n, nil
}

// IsThinPool reports whether the LV is a thin pool (attr 't').
func (lv LVReport) IsThinPool() bool { return strings.HasPrefix(lv.Attr, "t") }

// HasTag reports whether the LV carries tag.
func (lv LVReport) HasTag(tag string) bool {
	for _, t := range lv.Tags {
		if t == tag {
			return true
		}
	}
	return false
}
