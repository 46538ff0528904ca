package drbd

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Version is the version of the kernel's DRBD module.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Is84 reports a DRBD 8.x module (the in-tree driver of Linux): two nodes
// per resource, no node-id, quorum, diskless clients or --json.
func (v Version) Is84() bool { return v.Major == 8 }

// ParseProcDRBD reads the version from /proc/drbd, whose first line is
// like "version: 8.4.11 (api:1/proto:86-101)" or "version: 9.2.12 (api:2/proto:86-122)".
func ParseProcDRBD(data []byte) (Version, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "version:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		return parseDotted(f[0])
	}
	return Version{}, fmt.Errorf("/proc/drbd: no \"version:\" line in %q", firstLine(data))
}

// ParseKernelVersionCode reads DRBD_KERNEL_VERSION_CODE=0x08040b from the
// output of `drbdadm --version`.
func ParseKernelVersionCode(out []byte) (Version, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		code, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "DRBD_KERNEL_VERSION_CODE=")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimPrefix(code, "0x"), 16, 32)
		if err != nil || n == 0 || n > 0xffffff {
			return Version{}, fmt.Errorf("drbdadm --version: DRBD_KERNEL_VERSION_CODE %q is not a version", code)
		}
		return Version{Major: int(n >> 16), Minor: int(n >> 8 & 0xff), Patch: int(n & 0xff)}, nil
	}
	return Version{}, fmt.Errorf("drbdadm --version: no DRBD_KERNEL_VERSION_CODE (is the drbd module loaded?)")
}

func parseDotted(s string) (Version, error) {
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("DRBD version %q: want major.minor[.patch]", s)
	}
	var nums [3]int
	for i, p := range parts {
		// 9.2.0-rc.1 and similar: only the leading digits count.
		end := strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' })
		if end == 0 {
			return Version{}, fmt.Errorf("DRBD version %q: part %q is not a number", s, p)
		}
		if end > 0 {
			p = p[:end]
		}
		n, err := strconv.Atoi(p)
		if err != nil || n > 255 {
			return Version{}, fmt.Errorf("DRBD version %q: part %q is not a number", s, p)
		}
		nums[i] = n
	}
	return Version{Major: nums[0], Minor: nums[1], Patch: nums[2]}, nil
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if len(line) > 80 {
		line = line[:80]
	}
	return string(line)
}
