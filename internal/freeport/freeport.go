// Package freeport hands out loopback TCP ports for processes that are told
// a port number and bind it later (the local datastore's components, the
// lab's port forwards).
//
// Asking the kernel for port 0 and closing the listener is not enough: the
// kernel hands the same ephemeral port out again (two picks of one run
// collided that way), and ephemeral ports are also the source ports of
// outgoing connections. A Picker therefore chooses at random below the
// kernel's ephemeral range, never hands out one port twice, and checks that
// nothing listens on it.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// ephemeralRangeFile holds the kernel's ephemeral port range ("low high").
const ephemeralRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// lowest is the lowest port handed out (below it sit well-known services).
const lowest = 10000

// attempts bounds the search for a free port.
const attempts = 200

// Picker hands out distinct free loopback ports. Its zero value is not
// usable; make one with New. It is safe for concurrent use.
type Picker struct {
	mu        sync.Mutex
	low, high int // candidates: [low, high]
	given     map[int]bool
}

// New returns a Picker over the ports between 10000 and the start of the
// kernel's ephemeral range (or above its end when that range starts low).
func New() (*Picker, error) {
	low, high, err := ephemeralRange(ephemeralRangeFile)
	if err != nil {
		return nil, err
	}
	switch {
	case low-1 >= lowest+1000:
		return newPicker(lowest, low-1), nil
	case high+1 <= 65535-1000:
		return newPicker(high+1, 65535), nil
	}
	return nil, fmt.Errorf("%s: ephemeral range %d-%d leaves no ports to hand out", ephemeralRangeFile, low, high)
}

func newPicker(low, high int) *Picker {
	return &Picker{low: low, high: high, given: map[int]bool{}}
}

// Pick returns a port no one listens on 127.0.0.1 now and this Picker
// never returned before.
func (p *Picker) Pick() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range attempts {
		port := p.low + rand.IntN(p.high-p.low+1)
		if p.given[port] || !free(port) {
			continue
		}
		p.given[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free loopback port in %d-%d after %d attempts", p.low, p.high, attempts)
}

// free reports whether 127.0.0.1:port can be bound now.
func free(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	return l.Close() == nil
}

// ephemeralRange reads the kernel's ephemeral port range from path.
func ephemeralRange(path string) (low, high int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("ephemeral port range: %w", err)
	}
	return parseRange(path, string(data))
}

// parseRange parses "low high" as the kernel writes it.
func parseRange(path, s string) (low, high int, err error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("%s: want two port numbers \"low high\", got %q", path, s)
	}
	low, errLow := strconv.Atoi(f[0])
	high, errHigh := strconv.Atoi(f[1])
	if err := errors.Join(errLow, errHigh); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	if low < 1 || high > 65535 || low > high {
		return 0, 0, fmt.Errorf("%s: range %d-%d is not 1 <= low <= high <= 65535", path, low, high)
	}
	return low, high, nil
}
