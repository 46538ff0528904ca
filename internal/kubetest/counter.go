package kubetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// Counter counts the HTTP requests a rest.Config made, by method, so tests can
// prove that an operation wrote nothing.
type Counter struct {
	mu       sync.Mutex
	byMethod map[string]int
	writes   []string
	onWrite  func(n int)
}

// OnWrite calls fn with the running count after every write, e.g. to cancel
// a context half way through an operation.
func (c *Counter) OnWrite(fn func(n int)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onWrite = fn
}

// Counting returns a copy of cfg whose requests are counted by the returned
// Counter.
func Counting(cfg *rest.Config) (*rest.Config, *Counter) {
	c := &Counter{byMethod: map[string]int{}}
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return &countingTransport{next: rt, c: c}
	})
	return out, c
}

type countingTransport struct {
	next http.RoundTripper
	c    *Counter
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.c.record(req)
	return t.next.RoundTrip(req)
}

func (c *Counter) record(req *http.Request) {
	c.mu.Lock()
	c.byMethod[req.Method]++
	var hook func(int)
	n := 0
	if isMutating(req) {
		c.writes = append(c.writes, req.Method+" "+req.URL.RequestURI())
		hook, n = c.onWrite, len(c.writes)
	}
	c.mu.Unlock()
	if hook != nil {
		hook(n)
	}
}

// isMutating reports whether a request may write: any POST, PUT, PATCH or
// DELETE that is not a server-side dry run (dryRun=All in the query, or in
// the DeleteOptions body client-go sends with DELETE).
func isMutating(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	if req.URL.Query().Get("dryRun") == "All" {
		return false
	}
	return !(req.Method == http.MethodDelete && bodyHasDryRun(req))
}

func bodyHasDryRun(req *http.Request) bool {
	if req.GetBody == nil {
		return false
	}
	body, err := req.GetBody()
	if err != nil {
		return false
	}
	defer body.Close()
	var opts struct {
		DryRun []string `json:"dryRun"`
	}
	if err := json.NewDecoder(body).Decode(&opts); err != nil {
		return false
	}
	return slices.Contains(opts.DryRun, "All")
}

// Total returns the number of requests.
func (c *Counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.byMethod {
		n += v
	}
	return n
}

// Method returns the number of requests with the HTTP method m.
func (c *Counter) Method(m string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byMethod[m]
}

// Writes returns the requests that could have changed state (method and URI).
func (c *Counter) Writes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

// Reset forgets all counts.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byMethod = map[string]int{}
	c.writes = nil
}

// String summarises the counts, e.g. "12 requests (GET 10, PATCH 2), 2 writes".
func (c *Counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	methods := make([]string, 0, len(c.byMethod))
	total := 0
	for m, n := range c.byMethod {
		methods = append(methods, fmt.Sprintf("%s %d", m, n))
		total += n
	}
	sort.Strings(methods)
	return fmt.Sprintf("%d requests (%s), %d writes", total, strings.Join(methods, ", "), len(c.writes))
}
