package drbdsim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/piraeusctl/piraeusctl/hostexec"
)

// admArgs is a drbdadm command line taken apart.
type admArgs struct {
	conf   string
	verb   string
	target string
	dryRun bool
}

// admOptionsWithValue are drbdadm's own options that take the next word.
var admOptionsWithValue = []string{"-c", "--config-file", "-t", "--config-to-test", "-s", "--drbdsetup", "-m", "--drbdmeta"}

// parseAdm reads drbdadm's options (before the verb and any "--"), the
// verb and its first argument; later options belong to drbdsetup.
func parseAdm(args []string) admArgs {
	var a admArgs
	ownOptions := true
	for i := 0; i < len(args); i++ {
		w := args[i]
		if w == "--" {
			ownOptions = false
			continue
		}
		if strings.HasPrefix(w, "-") && len(w) > 1 {
			if !ownOptions || a.verb != "" {
				continue
			}
			name, value, hasValue := strings.Cut(w, "=")
			if slices.Contains(admOptionsWithValue, name) && !hasValue && i+1 < len(args) {
				value = args[i+1]
				i++
			}
			switch name {
			case "-c", "--config-file":
				a.conf = value
			case "-d", "--dry-run":
				a.dryRun = true
			}
			continue
		}
		if a.verb == "" {
			a.verb = w
		} else if a.target == "" {
			a.target = w
		}
	}
	return a
}

// configOnly reports drbdadm verbs that only read the configuration: they
// run as they are, for real.
func configOnly(verb string) bool {
	return verb == "" || verb == "dump" || verb == "dump-xml" || verb == "help" || verb == "hidden-commands" ||
		strings.HasPrefix(verb, "sh-")
}

// replay runs the real drbdadm with args as the agent's command would run
// (same host name), telling it the kernel is DRBD Version. A failure keeps
// drbdadm's exit code and message but names the original command.
//
// drbdadm's answer depends only on its arguments, the host name and the
// resource file (the kernel it would query is not there), so an identical
// invocation with an unchanged file reuses the earlier answer: a steady
// state of many resources then costs no drbdadm processes.
func (s *Sim) replay(ctx context.Context, orig hostexec.Cmd, args []string) (hostexec.Result, error) {
	key := s.replayKey(orig.Hostname, args)
	if r, ok := s.replays.get(key); ok {
		return r.result(orig)
	}
	c := hostexec.Cmd{Name: "env", Args: append([]string{"DRBD_DRIVER_VERSION_OVERRIDE=" + s.cfg.Version, "drbdadm"}, args...),
		Hostname: orig.Hostname, Timeout: orig.Timeout}
	res, err := s.cfg.Drbdadm.Run(ctx, c)
	r := replayed{stdout: res.Stdout, stderr: res.Stderr}
	var ee *hostexec.ExitError
	switch {
	case errors.As(err, &ee):
		r.exit, r.stderr = ee.ExitCode, []byte(ee.Stderr)
	case err != nil:
		return res, fmt.Errorf("drbdsim: run the real drbdadm: %w", err)
	}
	s.replays.put(key, r)
	return r.result(orig)
}

// replayKey identifies an invocation by host name, arguments and the
// content of its resource file; "" when there is no file to read.
func (s *Sim) replayKey(host string, args []string) string {
	conf := parseAdm(args).conf
	if conf == "" {
		return ""
	}
	data, err := os.ReadFile(conf)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return host + "\x00" + strings.Join(args, "\x00") + "\x00" + hex.EncodeToString(sum[:])
}

// replayed is one answer of the real drbdadm.
type replayed struct {
	stdout, stderr []byte
	exit           int
}

func (r replayed) result(orig hostexec.Cmd) (hostexec.Result, error) {
	res := hostexec.Result{Stdout: r.stdout, Stderr: r.stderr, ExitCode: r.exit}
	if r.exit != 0 {
		return res, &hostexec.ExitError{Cmd: orig, ExitCode: r.exit, Stderr: string(r.stderr)}
	}
	return res, nil
}

// replayCache keeps drbdadm's answers, at most maxReplays of them.
type replayCache struct {
	mu sync.Mutex
	m  map[string]replayed
}

const maxReplays = 4096

func (c *replayCache) get(key string) (replayed, bool) {
	if key == "" {
		return replayed{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[key]
	return r, ok
}

func (c *replayCache) put(key string, r replayed) {
	if key == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxReplays {
		c.m = map[string]replayed{}
	}
	c.m[key] = r
}

// fromReplay turns a replay's result into the command's outcome.
func fromReplay(res hostexec.Result, err error) (outcome, error) {
	var ee *hostexec.ExitError
	if errors.As(err, &ee) {
		return outcome{stdout: string(res.Stdout), fail: &failure{exit: ee.ExitCode, stderr: ee.Stderr}}, nil
	}
	if err != nil {
		return outcome{}, err
	}
	return outcome{stdout: string(res.Stdout), stderr: string(res.Stderr)}, nil
}

// drbdadm runs a drbdadm command: first through the real drbdadm in
// dry-run mode, then what it printed against the simulated kernel.
func (s *Sim) drbdadm(ctx context.Context, cmd hostexec.Cmd, e *Entry) (outcome, error) {
	a := parseAdm(cmd.Args)
	if configOnly(a.verb) {
		return fromReplay(s.replay(ctx, cmd, cmd.Args))
	}
	args := cmd.Args
	if !a.dryRun {
		args = append([]string{"--dry-run"}, args...)
	}
	dry, err := s.replay(ctx, cmd, args)
	if err != nil {
		return fromReplay(dry, err)
	}
	e.DryRun = string(dry.Stdout)
	script, err := ParseScript(dry.Stdout)
	if err != nil {
		return failed(localFailure("drbdsim: %v", err)), nil
	}
	if a.verb == "adjust" {
		if script, err = s.planAdjust(script); err != nil {
			return outcome{}, err
		}
		if a.dryRun {
			return outcome{stdout: scriptText(script)}, nil
		}
	}
	if a.dryRun {
		return outcome{stdout: string(dry.Stdout), stderr: string(dry.Stderr)}, nil
	}
	return s.runScript(ctx, script, s.admContext(ctx, cmd, a), e)
}

// runScript runs kernel commands in order and stops at the first failure,
// reporting it as drbdadm does.
func (s *Sim) runScript(ctx context.Context, script []hostexec.Cmd, adm *admContext, e *Entry) (outcome, error) {
	var out outcome
	for _, k := range script {
		e.Kernel = append(e.Kernel, k)
		var o outcome
		var err error
		if k.Name == "drbdmeta" {
			o, err = s.meta(ctx, k.Args, adm)
		} else {
			o, err = s.setup(ctx, k.Args)
		}
		if err != nil {
			return outcome{}, err
		}
		out.stdout += o.stdout
		out.stderr += o.stderr
		if o.fail != nil {
			out.fail = &failure{exit: o.fail.exit,
				stderr: o.fail.stderr + fmt.Sprintf("Command '%s' terminated with exit code %d\n", k.Line(), o.fail.exit)}
			return out, nil
		}
	}
	return out, nil
}

// admContext names the resource (and volume) a drbdadm command is about,
// for the drbdmeta lines it runs.
func (s *Sim) admContext(ctx context.Context, cmd hostexec.Cmd, a admArgs) *admContext {
	res, volStr, hasVol := strings.Cut(a.target, "/")
	res, _, _ = strings.Cut(res, ":")
	if res == "all" {
		res = ""
	}
	vol := -1
	if n, err := strconv.Atoi(volStr); hasVol && err == nil {
		vol = n
	}
	return &admContext{res: res, vol: vol, volOf: func(minor int) (int, error) {
		up := []string{"--dry-run", "-c", a.conf, "up", res}
		out, err := s.replay(ctx, cmd, up)
		if err != nil {
			return 0, fmt.Errorf("drbdsim: map minor %d to a volume: %w", minor, err)
		}
		script, err := ParseScript(out.Stdout)
		if err != nil {
			return 0, err
		}
		for _, k := range script {
			if c := splitSetup(k.Args); c.verb == "new-minor" && len(c.pos) == 3 && c.pos[1] == strconv.Itoa(minor) {
				return strconv.Atoi(c.pos[2])
			}
		}
		return 0, fmt.Errorf("drbdsim: minor %d is not in resource %s", minor, res)
	}}
}

func scriptText(script []hostexec.Cmd) string {
	var b strings.Builder
	for _, k := range script {
		b.WriteString(k.Line() + "\n")
	}
	return b.String()
}
