package drbdsim

import (
	"bufio"
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/piraeusctl/piraeusctl/hostexec"
)

// ParseScript reads what `drbdadm --dry-run` prints: one drbdsetup or
// drbdmeta command per line, words separated by blanks, optionally quoted
// with ' or ". Blank lines are skipped; any other program is an error
// naming the line.
func ParseScript(out []byte) ([]hostexec.Cmd, error) {
	var cmds []hostexec.Cmd
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		words, err := splitWords(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("drbdadm output line %d: %w", n, err)
		}
		if len(words) == 0 {
			continue
		}
		prog := filepath.Base(words[0])
		if prog != "drbdsetup" && prog != "drbdmeta" {
			return nil, fmt.Errorf("drbdadm output line %d: %q is not a drbdsetup or drbdmeta command", n, sc.Text())
		}
		if len(words) < 2 {
			return nil, fmt.Errorf("drbdadm output line %d: %s without arguments", n, prog)
		}
		cmds = append(cmds, hostexec.Cmd{Name: prog, Args: words[1:], Mutating: true})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read drbdadm output: %w", err)
	}
	return cmds, nil
}

// splitWords splits a line into shell words: blanks separate, '...' and
// "..." quote, a backslash outside single quotes takes the next character
// as it is (hostexec.Cmd.Line quotes that way).
func splitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, escaped := false, false
	var quote rune
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped, inWord = false, true
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("unterminated quote or escape in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// option is one --key[=value] argument of drbdsetup or drbdmeta.
type option struct{ key, value string }

func (o option) String() string {
	if o.value == "" {
		return "--" + o.key
	}
	return "--" + o.key + "=" + o.value
}

// call is a drbdsetup or drbdmeta command split into its verb, positional
// arguments and options (in order).
type call struct {
	verb string
	pos  []string
	opts []option
}

// splitSetup splits drbdsetup arguments: the verb comes first.
func splitSetup(args []string) call {
	var c call
	for i, a := range args {
		if i == 0 {
			c.verb = a
			continue
		}
		if k, ok := strings.CutPrefix(a, "--"); ok && k != "" {
			key, value, _ := strings.Cut(k, "=")
			c.opts = append(c.opts, option{key, value})
			continue
		}
		c.pos = append(c.pos, a)
	}
	return c
}

func (c call) has(key string) bool {
	for _, o := range c.opts {
		if o.key == key {
			return true
		}
	}
	return false
}

// settings returns the options as a map, without the flags that steer the
// command rather than configure the object.
func (c call) settings() map[string]string {
	m := map[string]string{}
	for _, o := range c.opts {
		switch o.key {
		case "set-defaults", "_name", "force", "diskless":
			continue
		}
		m[o.key] = o.value
	}
	if len(m) == 0 {
		return nil
	}
	return m
}
