// Package guestapi is the command channel between a lab test on the host and
// labguest, the small helper that is PID 1's only child in each lab VM: the
// test posts a command line (with optional stdin) and gets back its output
// and exit code. It exists because the checks of real storage (vgs, lvs, dd,
// sha256sum, kill) must run inside the guest; the agent itself is driven
// over its own gRPC API. The channel is reachable only through qemu's
// user-mode forward on 127.0.0.1 and requires the VM's token.
package guestapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"time"
)

// ExecPath is the URL path of the exec call.
const ExecPath = "/exec"

// TokenHeader carries the VM's token.
const TokenHeader = "X-Lab-Token"

// MaxTimeout bounds one command.
const MaxTimeout = 5 * time.Minute

// ExecRequest runs Args[0] with Args[1:].
type ExecRequest struct {
	Args  []string `json:"args"`
	Stdin []byte   `json:"stdin,omitempty"`
	// TimeoutMS bounds the command; 0 means one minute.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// ExecResponse is what the command produced. Error is set when it could
// not run at all (ExitCode is then -1).
type ExecResponse struct {
	Stdout   []byte `json:"stdout"`
	Stderr   []byte `json:"stderr"`
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
}

// Handler serves ExecPath for callers that present token.
func Handler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ExecPath, func(w http.ResponseWriter, r *http.Request) {
		if token == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get(TokenHeader)), []byte(token)) != 1 {
			http.Error(w, "wrong or missing "+TokenHeader, http.StatusForbidden)
			return
		}
		var req ExecRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "decode request: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Run(r.Context(), req))
	})
	return mux
}

// Run executes one request.
func Run(ctx context.Context, req ExecRequest) ExecResponse {
	if len(req.Args) == 0 {
		return ExecResponse{ExitCode: -1, Error: "no command"}
	}
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, min(timeout, MaxTimeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, req.Args[0], req.Args[1:]...)
	cmd.Stdin = bytes.NewReader(req.Stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second // background children may keep the pipes open
	err := cmd.Run()
	resp := ExecResponse{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: cmd.ProcessState.ExitCode()}
	var ee *exec.ExitError
	switch {
	case err == nil, errors.As(err, &ee) && ctx.Err() == nil:
	case ctx.Err() != nil:
		resp.Error = fmt.Sprintf("%v after %s", ctx.Err(), timeout)
	default:
		resp.Error = err.Error()
		resp.ExitCode = -1
	}
	return resp
}
