package apply

import (
	"fmt"
	"io"
	"time"
)

// FieldManager is the server-side apply field manager of `piraeusctl apply`
// (Options.FieldManager chooses another).
const FieldManager = "piraeusctl"

// DryRun selects whether and how a run avoids writing.
type DryRun string

// Dry-run modes, as kubectl names them.
const (
	DryRunNone   DryRun = "none"   // write for real
	DryRunClient DryRun = "client" // read only, report what would be applied
	DryRunServer DryRun = "server" // send every write with dryRun=All
)

// Validate reports an unknown dry-run mode.
func (d DryRun) Validate() error {
	switch d {
	case DryRunNone, DryRunClient, DryRunServer, "":
		return nil
	}
	return fmt.Errorf("unknown dry-run mode %q: use none, client or server", string(d))
}

// Options configure Run.
type Options struct {
	// Namespace is the default for namespaced objects that name none and the
	// namespace of the ApplySet parent. With a namespace, every run records
	// its objects in the ApplySet (KEP-3659) so that a later --prune knows
	// them; empty means no ApplySet (and no prune).
	Namespace string
	// Prune deletes members of the ApplySet that are no longer in the list.
	Prune bool
	// Keep are the rules that keep an object prune would delete (the first
	// rule giving a reason decides); nil means DataSafetyRules, so that no
	// caller loses data by leaving it out.
	Keep []KeepRule
	// ApplySetName is the name of the ApplySet parent Secret (default "piraeusctl").
	ApplySetName string
	// Wait waits until CRDs, Deployments and DaemonSets are ready.
	Wait bool
	// Timeout bounds Wait (and the wait for CRDs to be established).
	Timeout time.Duration
	// DryRun avoids writing; see the DryRun constants.
	DryRun DryRun
	// ForceConflicts takes ownership of fields another manager owns.
	ForceConflicts bool
	// Concurrency is how many objects of one stage are applied at once.
	Concurrency int
	// Progress receives one line per object outcome and wait message; nil discards.
	Progress io.Writer
	// FieldManager names the writes (default FieldManager): the CLI and the
	// in-cluster operator loop apply alike under managers of their own.
	FieldManager string
}

// DefaultOptions returns the options `piraeusctl apply` uses without flags.
func DefaultOptions() Options {
	return Options{
		Namespace:    "piraeus-datastore",
		ApplySetName: "piraeusctl",
		Keep:         DataSafetyRules(),
		Timeout:      5 * time.Minute,
		DryRun:       DryRunNone,
		Concurrency:  8,
	}
}

// Validate checks the options for contradictions.
func (o Options) Validate() error {
	if err := o.DryRun.Validate(); err != nil {
		return err
	}
	if o.Prune && o.Namespace == "" {
		return fmt.Errorf("--prune needs a namespace for the ApplySet parent: set -n")
	}
	if o.Wait && o.Timeout <= 0 {
		return fmt.Errorf("--wait needs a positive --timeout")
	}
	return nil
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.ApplySetName == "" {
		o.ApplySetName = d.ApplySetName
	}
	if o.Keep == nil {
		o.Keep = d.Keep
	}
	if o.Timeout <= 0 {
		o.Timeout = d.Timeout
	}
	if o.DryRun == "" {
		o.DryRun = DryRunNone
	}
	if o.Concurrency <= 0 {
		o.Concurrency = d.Concurrency
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.FieldManager == "" {
		o.FieldManager = FieldManager
	}
	return o
}

func (o Options) dryRunning() bool { return o.DryRun == DryRunClient || o.DryRun == DryRunServer }
