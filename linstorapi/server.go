package linstorapi

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	linstor "github.com/LINBIT/golinstor"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/piraeusctl/piraeusctl/internal/tlsfiles"
)

// Defaults of Options.
const (
	// DefaultAddr is LINSTOR's plain HTTP port.
	DefaultAddr = ":3370"
	// DefaultTLSAddr is LINSTOR's HTTPS port, used with a TLS directory.
	DefaultTLSAddr = ":3371"
	// DefaultWaitTimeout bounds how long a create or place call waits for
	// the resource to be deployed with its device path.
	DefaultWaitTimeout = 2 * time.Minute
	// FieldManager writes the API's changes to the storage objects.
	FieldManager = "linstor-api"
	// RestAPIVersion is the LINSTOR REST API version served.
	RestAPIVersion = "1.25.0"
	// maxBody bounds a request body.
	maxBody = 4 << 20
)

// Options configure the API.
type Options struct {
	// Client reads through the controller-runtime cache and writes to the API server.
	Client client.Client
	// Reader reads past the cache (after a write conflict); nil: Client.
	Reader client.Reader
	// Namespace holds the key-value store's ConfigMaps.
	Namespace string
	// WaitTimeout bounds the wait for a resource to be deployed.
	WaitTimeout time.Duration
	// PollInterval is how often the cache is looked at while waiting, on
	// top of each change Notify reports.
	PollInterval time.Duration
	// Version is reported by GET /v1/controller/version.
	Version string
	Logger  *slog.Logger
}

// Server serves LINSTOR's REST API v1 over the storage objects.
type Server struct {
	c    client.Client
	r    client.Reader
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	mu      sync.Mutex
	changed chan struct{} // closed and replaced by Notify
	// serving is set while Serve listens (the controller's readiness).
	serving atomic.Bool
}

// New builds the API over opts.Client.
func New(opts Options) *Server {
	if opts.WaitTimeout <= 0 {
		opts.WaitTimeout = DefaultWaitTimeout
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Reader == nil {
		opts.Reader = opts.Client
	}
	s := &Server{c: opts.Client, r: opts.Reader, opts: opts, log: opts.Logger.With("component", "linstor-api"), mux: http.NewServeMux(),
		changed: make(chan struct{})}
	s.routes()
	return s
}

// handler answers a call: status, body (encoded as JSON) or an error.
type handler func(r *http.Request) (int, any, error)

func (s *Server) handle(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		status, body, err := h(r)
		if err != nil {
			ae := asAPIError(err)
			if ae.status >= 500 {
				s.log.Warn("api call failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeJSON(w, ae.status, []any{ae.rc()})
			return
		}
		s.log.Debug("api call", "method", r.Method, "path", r.URL.Path, "status", status)
		writeJSON(w, status, body)
	})
}

// ServeHTTP answers unknown routes (and known paths with another method)
// as LINSTOR answers an unknown thing: 404 with an ApiCallRc.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeJSON(w, http.StatusNotFound, []any{fail(http.StatusNotFound, uint64(linstor.FailUnknownError),
			"%s %s is not served by piraeusctl's LINSTOR API (see the README's compatibility table)", r.Method, r.URL.Path).rc()})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// writeJSON answers body as JSON. A list is streamed element by element
// through a buffer, so a view of 30 000 resources never sits in memory as
// one encoded document.
func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body == nil {
		body = []any{}
	}
	rv := reflect.ValueOf(body)
	if rv.Kind() != reflect.Slice {
		_ = json.NewEncoder(w).Encode(body)
		return
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	_ = bw.WriteByte('[')
	for i := range rv.Len() {
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		if err := enc.Encode(rv.Index(i).Interface()); err != nil {
			return
		}
	}
	_, _ = bw.WriteString("]\n")
	_ = bw.Flush()
}

// decode reads a JSON body strictly: an unknown field is an error naming it.
func decode(r *http.Request, into any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) {
		return invalid(uint64(linstor.FailUnknownError), "invalid request body for %s %s: %v", r.Method, r.URL.Path, err)
	}
	return nil
}

// intParam parses a numeric path segment.
func intParam(r *http.Request, name string) (int32, error) {
	v, err := strconv.ParseInt(r.PathValue(name), 10, 32)
	if err != nil || v < 0 {
		return 0, invalid(uint64(linstor.FailInvldVlmNr), "%s %q is not a volume number", name, r.PathValue(name))
	}
	return int32(v), nil
}

// Serve serves the API on addr until ctx ends. With tlsDir (tls.crt,
// tls.key, ca.crt: upstream's apiTLS Secret layout) it serves HTTPS and
// requires a client certificate signed by ca.crt.
func (s *Server) Serve(ctx context.Context, addr, tlsDir string) error {
	srv := &http.Server{Addr: addr, Handler: s, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("linstor api: %w", err)
	}
	if tlsDir != "" {
		// The apiTLS Secret's files, read again at every handshake.
		files, err := tlsfiles.NewReloader(tlsfiles.InDir(tlsDir), s.log)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("linstor api: %w", err)
		}
		ln = tls.NewListener(ln, files.ServerConfig())
	}
	s.log.Info("serving LINSTOR API", "addr", ln.Addr().String(), "tls", tlsDir != "")
	s.serving.Store(true)
	defer s.serving.Store(false)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx) //nolint:contextcheck // ctx is done; shutdown gets its own bound
		return nil
	case err := <-errc:
		return fmt.Errorf("linstor api: %w", err)
	}
}

// Serving reports an error until Serve listens: a controller is not ready
// while its LINSTOR API is not there (its address taken, TLS files missing).
func (s *Server) Serving() error {
	if !s.serving.Load() {
		return errors.New("linstor api: not listening")
	}
	return nil
}

// listOpts are golinstor's ListOpts as query parameters.
type listOpts struct {
	offset, limit int
	nodes, pools  map[string]bool
	resources     map[string]bool
	snapshots     map[string]bool
	props         []string
}

func parseListOpts(r *http.Request) listOpts {
	q := r.URL.Query()
	set := func(key string) map[string]bool {
		var m map[string]bool
		for _, v := range q[key] {
			for _, p := range strings.Split(v, ",") {
				if p == "" {
					continue
				}
				if m == nil {
					m = map[string]bool{}
				}
				m[strings.ToLower(p)] = true
			}
		}
		return m
	}
	o := listOpts{nodes: set("nodes"), pools: set("storage_pools"), resources: set("resources"), snapshots: set("snapshots"), props: q["props"]}
	o.offset, _ = strconv.Atoi(q.Get("offset"))
	o.limit, _ = strconv.Atoi(q.Get("limit"))
	return o
}

// match reports whether name passes a filter set (nil: everything).
func match(set map[string]bool, name string) bool { return set == nil || set[strings.ToLower(name)] }

// propsMatch reports whether props have every key (or key=value) asked.
func (o listOpts) propsMatch(props map[string]string) bool {
	for _, p := range o.props {
		k, v, hasValue := strings.Cut(p, "=")
		got, ok := props[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	return true
}

// page applies offset and limit (limit 0: everything).
func page[T any](o listOpts, items []T) []T {
	if o.offset > 0 {
		if o.offset >= len(items) {
			return []T{}
		}
		items = items[o.offset:]
	}
	if o.limit > 0 && o.limit < len(items) {
		items = items[:o.limit]
	}
	if items == nil {
		return []T{}
	}
	return items
}
